"""docs/HTTP.md's ```sh examples run as written, in order, in one bash, against a real ``helpdesk-rr serve``.

The doc promises this at its top: ``HELPDESK`` is the service's base URL, ``REDIS_URL`` its Redis, and the
first block sets the account up (users, ``KEY``). A worker runs alongside, so examples that create tickets
see them decided. ``set -euo pipefail`` and ``curl -fsS`` make any refused request fail the test, with the
block that failed named.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.workers import start_worker, stop_worker

DOC = Path(__file__).resolve().parent.parent / "docs" / "HTTP.md"
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
SERVING = re.compile(r"serving (http://127\.0\.0\.1:\d+) ")


def sh_blocks() -> list[str]:
    return [body for language, _rest, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if language == "sh"]


@pytest.fixture
def service(real_redis: redis.Redis, redis_url: str) -> Iterator[str]:
    env = {**os.environ, "REDIS_URL": redis_url}
    bin_dir = str(Path(sys.executable).parent)
    server = subprocess.Popen(
        [str(Path(bin_dir) / "helpdesk-rr"), "serve", "--port", "0", "--log-level", "warning"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = start_worker(redis_url)
    try:
        assert server.stderr is not None
        match = SERVING.search(server.stderr.readline())
        assert match, "helpdesk-rr serve did not say where it listens"
        yield match.group(1)
    finally:
        stop_worker(worker)
        server.terminate()
        server.wait(20)


def test_the_doc_has_its_setup_block_first() -> None:
    blocks = sh_blocks()
    assert blocks, "docs/HTTP.md has no ```sh examples"
    assert 'KEY=$(helpdesk-rr api-key acme create --label "docs examples")' in blocks[0]


def test_every_sh_example_runs_as_written(service: str, redis_url: str, tmp_path: Path) -> None:
    blocks = sh_blocks()
    script = ["set -euo pipefail"]
    for number, body in enumerate(blocks, start=1):
        script.append(f"echo '--- block {number}' >&2")
        script.append(body)
    (tmp_path / "examples.sh").write_text("\n".join(script) + "\n", encoding="utf-8")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "REDIS_URL": redis_url, "HELPDESK": service, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(tmp_path / "examples.sh")], capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path
    )
    failed_in = [line for line in result.stderr.splitlines() if line.startswith("--- block")][-1:]
    assert result.returncode == 0, f"{failed_in}: {result.stderr[-3000:]}\n{result.stdout[-2000:]}"
