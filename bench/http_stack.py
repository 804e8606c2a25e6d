"""The HTTP benches' deployment: ``S`` server processes, ``W`` worker processes, one account, and the
trivial route that is their baseline.

Each server process is this module run as ``python -m bench.http_stack --redis-url URL --port P``: exactly
what ``helpdesk-rr serve`` does (worker/cli/serve.py: ``Helpdesk`` from the URL, ping, structlog at INFO,
``bound_socket``, ``uvicorn_server(create_app(helpdesk))``) plus **one extra route**, ``POST /bench/trivial``,
that reads the body and answers 202 with a small JSON body. So the baseline runs through the same app, the
same middleware (request log, body limit, problem handlers), the same uvicorn configuration (httptools,
uvloop) and the same processes as the webhook routes, which are measured against the same servers in the
same run. Servers' and workers' output goes to /dev/null, as ``run_quietly`` does for the other benches
(the one log line per request is still formatted and written: a deployment pays for it too).

Workers are ``helpdesk-rr --redis-url URL worker --processes W`` (SimpleWorker, the default).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
from fastapi import Request
from fastapi.responses import JSONResponse
from rq import Worker

from bench.common import helpdesk_rr_command, run_quietly, worker_env
from schemas.common import AgentStatus, Role

TRIVIAL_PATH = "/bench/trivial"
ACCOUNT = "bench-http"
OWNER = "owner-1"
AGENTS = 5
WEBCHAT_SECRET = "bench-webchat-secret-0123456789"  # noqa: S105 - a throwaway account's test secret
TWILIO_TOKEN = "bench-twilio-auth-token-0123456789"  # noqa: S105
PUBLIC_URL = "http://bench.invalid"
"""``HELPDESK_RR_PUBLIC_URL`` of the servers: the URL Twilio would have signed (docs/HTTP.md)."""


def serve(url: str, host: str, port: int) -> None:
    """``helpdesk-rr serve`` with the bench's trivial route added (the module docstring)."""
    from worker.api import Helpdesk
    from worker.http import create_app
    from worker.http.server import bound_socket, uvicorn_server
    from worker.logging import configure_logging

    helpdesk = Helpdesk.from_env(redis_url=url)  # as serve's context: HELPDESK_RR_PUBLIC_URL is read
    helpdesk.ping()
    configure_logging(level="INFO")
    sock = bound_socket(host, port)
    print(sock.getsockname()[1], flush=True)  # the port (0 asks for any free one): the bench reads it
    app = create_app(helpdesk)

    @app.post(TRIVIAL_PATH, status_code=202, include_in_schema=False)
    async def trivial(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"accepted": len(body)}, status_code=202)

    uvicorn_server(app, host, port).run(sockets=[sock])


def announced_port(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """The port a bench server bound (it prints it first): no race with other programs for a free port."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        raise RuntimeError(f"a bench server did not start (exit status {process.poll()})")
    return int(line)


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bench server on port {port} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the bench server on port {port} did not start")


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, then SIGKILL after 30 s; then the same for any process they had started that is still
    running (``worker --processes N``'s children must not outlive the bench, e.g. when it fails)."""
    below = {pid: _cmdline(pid) for process in processes for pid in descendants(process.pid)[1:]}
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + 10
        while any(line and _cmdline(pid) == line for pid, line in below.items()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid, line in below.items():
            if line and _cmdline(pid) == line:  # still that process, not a new one given the same pid
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@dataclass(frozen=True)
class Stack:
    ports: list[int]
    workers: int
    pids: list[int]
    """The server processes' pids (for their CPU time)."""
    worker_pid: int | None
    """``helpdesk-rr worker``'s pid (its worker processes are its children), None without workers."""

    @property
    def base_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]


@contextlib.contextmanager
def running_stack(url: str, servers: int, workers: int, pycache: Path) -> Iterator[Stack]:
    """``servers`` bench server processes (each its own port: the load generator spreads connections over
    them as a load balancer would) and, if ``workers``, one ``helpdesk-rr worker --processes W``."""
    env = worker_env(pycache)
    env["HELPDESK_RR_PUBLIC_URL"] = PUBLIC_URL
    started: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    try:
        for _ in range(servers):
            command = [sys.executable, "-m", "bench.http_stack", "--redis-url", url, "--port", "0"]
            started.append(
                subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
                )
            )
        for process in started:
            ports.append(announced_port(process))
            wait_listening(ports[-1], process)
        if workers:
            command = helpdesk_rr_command() + ["--redis-url", url, "--log-json", "worker", "--processes", str(workers)]
            process = run_quietly(command, env)
            started.append(process)
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + 60
            while Worker.count(connection=client) < workers:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bench workers did not start")
                time.sleep(0.05)
            client.close()
        worker_pid = started[-1].pid if workers else None
        yield Stack(ports, workers, [p.pid for p in started[: len(ports)]], worker_pid)
    finally:
        stop(started)


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used so far (/proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that has exited counts no more
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def descendants(pid: int | None) -> list[int]:
    """``pid`` and every process below it (/proc/<pid>/task/*/children), e.g. ``worker --processes N``'s."""
    if pid is None:
        return []
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in children.read_text().split()]
    return found


def redis_cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def setup_account(url: str, account: str = ACCOUNT, agents: int = AGENTS) -> None:
    """An account that assigns every ticket: ``agents`` Online agents, round robin on, no office hours
    (webchat always open), and its webhook secrets set through the control API."""
    from worker.api import Helpdesk

    helpdesk = Helpdesk.from_url(url)
    helpdesk.save_user(account, OWNER, Role.OWNER)
    for i in range(1, agents + 1):
        helpdesk.save_user(account, f"agent-{i}", Role.AGENT)
        helpdesk.set_status(account, f"agent-{i}", AgentStatus.ONLINE, f"agent-{i}")
    helpdesk.set_round_robin(account, True, OWNER)
    set_secrets = getattr(helpdesk, "set_webhook_secret", None)
    if set_secrets is not None:  # the webhook routes' secret storage (issue 17 part 1)
        set_secrets(account, "webchat", WEBCHAT_SECRET, OWNER)
        set_secrets(account, "twilio", TWILIO_TOKEN, OWNER)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_stack", description="one bench HTTP server")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.redis_url, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
