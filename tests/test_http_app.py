"""The HTTP edge's frame (worker/http): body limit, refusal answers, health, and ``helpdesk-rr serve``.

Everything over a real socket (uvicorn in a thread, tests/support/http.py) against the session's real Redis.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator

import httpx
import pytest
import redis
from fastapi import FastAPI, Request

from tests.support.cli import COMMAND
from tests.support.http import LiveServer, live_server
from worker.api import Helpdesk
from worker.config import Settings
from worker.errors import Forbidden, InvalidInput, Unavailable, UnknownAccount
from worker.http import create_app
from worker.http.limits import MAX_BODY_BYTES


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(real_redis: redis.Redis, redis_url: str) -> Iterator[LiveServer]:
    with live_server(Helpdesk.from_url(redis_url)) as live:
        yield live


def test_health_answers_when_redis_is_reachable(server: LiveServer) -> None:
    with server.client() as http:
        answer = http.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"ok": True}


def test_health_is_503_with_retry_after_when_redis_is_unreachable() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    with live_server(Helpdesk.from_url(url, Settings(redis_url=url, redis_retries=0))) as live, live.client() as http:
        answer = http.get("/healthz")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"].startswith("cannot reach Redis at redis://127.0.0.1:")


def test_unknown_route_is_a_json_404(server: LiveServer) -> None:
    with server.client() as http:
        answer = http.get("/no/such/route")
    assert answer.status_code == 404
    assert answer.json() == {"error": "Not Found"}


def _with_test_routes(helpdesk: Helpdesk) -> FastAPI:
    app = create_app(helpdesk)

    @app.post("/test/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/test/raise/{kind}")
    async def raise_(kind: str) -> None:
        errors: dict[str, Exception] = {
            "forbidden": Forbidden("ana may not do that"),
            "invalid": InvalidInput("status: must be Online or Offline"),
            "unknown": UnknownAccount("unknown account 'nope'"),
            "unavailable": Unavailable("cannot reach Redis at redis://x"),
            "bug": RuntimeError("secret internals /etc/passwd"),
        }
        raise errors[kind]

    return app


@pytest.fixture
def frame(real_redis: redis.Redis, redis_url: str) -> Iterator[httpx.Client]:
    helpdesk = Helpdesk.from_url(redis_url)
    with live_server(helpdesk, app=_with_test_routes(helpdesk)) as live, live.client() as http:
        yield http


def test_a_body_at_the_limit_is_read(frame: httpx.Client) -> None:
    answer = frame.post("/test/echo", content=b"x" * MAX_BODY_BYTES)
    assert answer.status_code == 200
    assert answer.json() == {"bytes": MAX_BODY_BYTES}


def test_a_declared_body_over_the_limit_is_413(frame: httpx.Client) -> None:
    answer = frame.post("/test/echo", content=b"x" * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 413
    assert answer.json() == {"error": "the request body is over 256 KiB: refused, nothing was done"}


def test_a_chunked_body_over_the_limit_is_413(frame: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 8192

    answer = frame.post("/test/echo", content=chunks())
    assert answer.status_code == 413
    assert "over 256 KiB" in answer.json()["error"]


@pytest.mark.parametrize(
    ("kind", "status", "error"),
    [
        ("forbidden", 403, "ana may not do that"),
        ("invalid", 422, "status: must be Online or Offline"),
        ("unknown", 404, "unknown account 'nope'"),
        ("unavailable", 503, "cannot reach Redis at redis://x"),
    ],
)
def test_refusals_become_their_status_with_the_same_words(
    frame: httpx.Client, kind: str, status: int, error: str
) -> None:
    answer = frame.get(f"/test/raise/{kind}")
    assert answer.status_code == status
    assert answer.json() == {"error": error}


def test_an_unexpected_error_is_a_fixed_500_without_a_traceback(frame: httpx.Client) -> None:
    answer = frame.get("/test/raise/bug")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error: the request was not completed (see the server's log)"}
    assert "passwd" not in answer.text
    assert "Traceback" not in answer.text


def _serve(redis_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "REDIS_URL": redis_url, "HELPDESK_RR_REDIS_RETRIES": "0"}
    return subprocess.Popen(
        [*COMMAND, "--log-json", "serve", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_listens_logs_one_json_line_per_request_and_stops_on_sigterm(
    real_redis: redis.Redis, redis_url: str
) -> None:
    process = _serve(redis_url)
    assert process.stderr is not None
    line = process.stderr.readline()
    match = re.search(r"serving (http://127\.0\.0\.1:\d+) \(Ctrl-C to stop\)", line)
    assert match, line
    try:
        answer = httpx.get(match.group(1) + "/healthz?token=never-logged", timeout=10)
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _out, rest = process.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (its documented behaviour since 0.29),
    # so a supervisor sees "terminated by SIGTERM" as it would for any well-behaved server.
    assert process.returncode in (0, -signal.SIGTERM)
    requests = [json.loads(text) for text in rest.splitlines() if '"http.request"' in text]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [("GET", "/healthz", 200)]
    assert "never-logged" not in rest


def test_serve_refuses_in_one_line_when_redis_is_unreachable() -> None:
    process = _serve(f"redis://127.0.0.1:{closed_port()}/0")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert out == ""
    assert err.strip().startswith("error: cannot reach Redis at redis://127.0.0.1:")
    assert len(err.strip().splitlines()) == 1
