"""Run the app under uvicorn: ``helpdesk-rr serve`` and the tests' live server share this.

uvicorn's own logging is turned off (its access log would print query strings, where agent links carry
their token); worker/http/request_log.py writes one structlog line per request instead.
"""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def uvicorn_server(app: FastAPI, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> uvicorn.Server:
    """A configured server (not started). ``timeout_graceful_shutdown`` bounds how long open event
    streams hold a shutdown."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=3,
        lifespan="on",
    )
    return uvicorn.Server(config)


def bound_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free one), so a caller knows the port before the server runs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
