"""docs/HTTP.md's examples run as written: every ```sh block, in order, in one ``bash`` with ``set -euo
pipefail``, against a ``helpdesk-rr serve`` started here (``HELPDESK`` its base URL, which is also its
``HELPDESK_RR_PUBLIC_URL``) on the session's Redis, with the venv's ``helpdesk-rr`` on PATH."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue

from producers.queue import QUEUE_NAME, SERIALIZER
from tests.support.cli import COMMAND
from tests.support.http import free_port

DOC = Path(__file__).resolve().parent.parent / "docs" / "HTTP.md"
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


def sh_blocks() -> list[str]:
    return [body for language, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if language == "sh"]



@pytest.fixture
def served(real_redis: redis.Redis, redis_url: str) -> Iterator[dict[str, str]]:
    base = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "REDIS_URL": redis_url, "HELPDESK_RR_PUBLIC_URL": base, "HELPDESK_RR_REDIS_RETRIES": "0"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [*COMMAND, "--log-json", "serve", "--port", base.rsplit(":", 1)[1]]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line.startswith("serving "), line
    try:
        yield {**env, "HELPDESK": base}
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_the_http_examples_run_as_written(served: dict[str, str], real_redis: redis.Redis) -> None:
    script = "set -euo pipefail\n" + "\n".join(sh_blocks())
    done = subprocess.run(["bash", "-c", script], env=served, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    webchat = [line for line in lines if '"ticket_id":"webchat-' in line]
    assert len(webchat) == 2 and webchat[0] == webchat[1], lines  # the widget's retry: the same job
    assert '{"error":"X-Helpdesk-Signature does not match this body"} 401' in lines
    assert any('"ticket_id":"twilio-' in line for line in lines), lines
    assert any('"ticket_id":"mailgun-' in line for line in lines), lines
    assert "1158201444" in lines
    assert any(line.startswith("[") and line.count('"ticket_id":"meta-') == 2 for line in lines), lines
    assert Queue(QUEUE_NAME, connection=real_redis, serializer=SERIALIZER).count == 5
