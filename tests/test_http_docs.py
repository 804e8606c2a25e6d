"""docs/HTTP.md's examples run as written (issue 17): every ```sh block, in order, in one ``bash`` with
``set -euo pipefail``, against a ``helpdesk-rr serve`` started here on the session's Redis.

``HELPDESK`` is the service's base URL and ``REDIS_URL`` its Redis, as the document says; ``helpdesk-rr`` on
``PATH`` is this environment's. A ``curl -fsS`` that gets a 4xx or 5xx stops the script, so an example that
drifts from the routes fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.cli import COMMAND

DOC = Path(__file__).resolve().parent.parent / "docs" / "HTTP.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def sh_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


@pytest.fixture
def service(real_redis: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "serve.log"
    env = {**os.environ, "REDIS_URL": redis_url}
    with log.open("w") as sink:
        process = subprocess.Popen([*COMMAND, "serve", "--port", "0"], env=env, stdout=sink, stderr=sink, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (match := re.search(r"serving (http://\S+) ", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(20)


def run_blocks(blocks: list[str], base_url: str, redis_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + "\n".join(blocks)
    bin_dir = str(Path(sys.executable).parent)  # this environment's helpdesk-rr first
    env = {**os.environ, "HELPDESK": base_url, "REDIS_URL": redis_url, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_shell_example_runs_as_written(service: str, redis_url: str, tmp_path: Path) -> None:
    blocks = sh_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 5 and "api-key acme create" in blocks[0]
    done = run_blocks(blocks, service, redis_url, tmp_path)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert '"changed":true' in done.stdout
    assert "403" in done.stdout and "ana is an agent" in done.stdout
    assert '"status":"finished"' in done.stdout


def test_a_broken_example_fails(service: str, redis_url: str, tmp_path: Path) -> None:
    """A route that moved makes ``curl -fsS`` fail, and with it the run (the test above can fail)."""
    broken = 'curl -fsS "$HELPDESK/v1/accounts/acme/no-such-route"\necho after'
    done = run_blocks([broken], service, redis_url, tmp_path)
    assert done.returncode != 0 and "after" not in done.stdout
