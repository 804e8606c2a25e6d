"""docs/HTTP.md's "Live toasts" and "The agent page" examples run as written, against a ``helpdesk-rr serve``.

As the doc says: one ``bash`` with ``set -euo pipefail``, the set-up block first, ``HELPDESK`` the service's base
URL, ``REDIS_URL`` its Redis. (When every section of docs/HTTP.md has its examples, one test can run them all in
order; until then this one runs these two sections.)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.support.cli import COMMAND

DOC = Path(__file__).resolve().parent.parent / "docs" / "HTTP.md"
FENCE = re.compile(r"^```sh\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
SECTIONS = ("## Live toasts", "## The agent page")


def section(text: str, heading: str) -> str:
    return text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]


def blocks() -> str:
    text = DOC.read_text(encoding="utf-8")
    setup = FENCE.findall(text.split("\n## ", 1)[0])
    mine = [block for heading in SECTIONS for block in FENCE.findall(section(text, heading))]
    assert setup and len(mine) >= 4
    return "\n".join(setup + mine)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_toasts_and_agent_page_examples_run(real_redis: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "REDIS_URL": redis_url, "HELPDESK": f"http://127.0.0.1:{port}"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    serve = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        script = tmp_path / "examples.sh"
        script.write_text("set -euo pipefail\n" + blocks(), encoding="utf-8")
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, env=env)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(15)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "event: ready" in out
    assert "200 text/html; charset=utf-8" in out
    assert '"user_id":"ana"' in out and '"status":"online","changed":true' in out
    assert "\n401\n" in out and "this agent link is not valid" in out
