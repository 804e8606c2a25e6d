"""docs/HTTP.md's examples run as written (issue 17): every ```sh block, in order, in one ``bash`` with
``set -euo pipefail``, against a ``helpdesk-rr serve`` started here on the session's Redis.

``HELPDESK`` is the service's base URL (also its ``HELPDESK_RR_PUBLIC_URL``: Twilio signs the URL it called)
and ``REDIS_URL`` its Redis, as the document says; ``helpdesk-rr`` on ``PATH`` is this environment's. A
``curl -fsS`` that gets a 4xx or 5xx stops the script, so an example that drifts from the routes fails here.
"""

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

from tests.support.cli import COMMAND
from tests.support.http import free_port

DOC = Path(__file__).resolve().parent.parent / "docs" / "HTTP.md"
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


def sh_blocks() -> list[str]:
    return [body for language, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if language == "sh"]



@pytest.fixture
def served(real_redis: redis.Redis, redis_url: str) -> Iterator[dict[str, str]]:
    """``serve`` on a port chosen first, so ``HELPDESK_RR_PUBLIC_URL`` can name it; the environment the
    examples run in."""
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


def run_blocks(blocks: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + "\n".join(blocks)
    return subprocess.run(["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_shell_example_runs_as_written(served: dict[str, str], tmp_path: Path) -> None:
    blocks = sh_blocks()
    assert len(blocks) >= 5 and "api-key acme create" in blocks[0]
    done = run_blocks(blocks, served, tmp_path)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    # the control API
    assert '"changed":true' in done.stdout
    assert "403" in done.stdout and "ana is an agent" in done.stdout
    assert '"status":"finished"' in done.stdout
    # webhooks in
    webchat = [line for line in lines if '"ticket_id":"webchat-' in line]
    assert len(webchat) == 2 and webchat[0] == webchat[1], lines  # the widget's retry: the same job
    assert '{"error":"X-Helpdesk-Signature does not match this body"} 401' in lines
    assert any('"ticket_id":"twilio-' in line for line in lines), lines
    assert any('"ticket_id":"mailgun-' in line for line in lines), lines
    assert "1158201444" in lines
    assert any(line.startswith("[") and line.count('"ticket_id":"meta-') == 2 for line in lines), lines
    # live toasts and the agent page
    assert "event: ready" in done.stdout
    assert "200 text/html; charset=utf-8" in done.stdout
    assert '"user_id":"ana"' in done.stdout and '"status":"online","changed":' in done.stdout  # ana is Online already
    assert "\n401\n" in done.stdout and "this agent link is not valid" in done.stdout


def test_a_broken_example_fails(served: dict[str, str], tmp_path: Path) -> None:
    """A route that moved makes ``curl -fsS`` fail, and with it the run (the test above can fail)."""
    broken = 'curl -fsS "$HELPDESK/v1/accounts/acme/no-such-route"\necho after'
    done = run_blocks([broken], served, tmp_path)
    assert done.returncode != 0 and "after" not in done.stdout
