"""A live HTTP server for tests: the real app under uvicorn, on a free port, in a thread.

Routes are exercised over a real socket with a real HTTP client (``httpx``), against the real Redis the
test session started, so event streams, body limits and connection handling are what production sees.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from worker.api import Helpdesk
from worker.core.engine import utc_now
from worker.http import create_app
from worker.http.app import Clock
from worker.http.server import bound_socket, uvicorn_server


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    helpdesk: Helpdesk

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)


@contextmanager
def live_server(helpdesk: Helpdesk, now: Clock = utc_now, app: FastAPI | None = None) -> Iterator[LiveServer]:
    """Serve ``create_app(helpdesk, now)`` (or ``app``, built over ``helpdesk`` with routes a test added) until
    the block ends."""
    sock = bound_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn_server(app or create_app(helpdesk, now), "127.0.0.1", port)
    server.config.timeout_graceful_shutdown = 1
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test HTTP server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", helpdesk)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def free_port() -> int:
    """A TCP port nothing listens on now (to serve on, or to point a client at a closed one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
