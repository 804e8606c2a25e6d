"""The Python examples in the docs run as written, against the test Redis, so they cannot drift.

Every ```python block of more than one line in docs/API.md, docs/PRODUCERS.md and docs/CONSUMERS.md
is a whole program: it runs here in its own interpreter with ``REDIS_URL`` pointing at the test
server, as an integrator would run it (``REDIS_URL=$(helpdesk-rr embedded url) python example.py``).
A one-line block is a signpost (``from worker.api import Helpdesk``); a block that truly cannot run
says so in its fence (```python title="fragment"```). Programs run to completion and exit 0, except
the toast service, which runs until SIGTERM like the service it shows.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import Queue

from producers.queue import QUEUE_NAME
from worker.api import Helpdesk, utc_now

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOCUMENTS = ("API.md", "PRODUCERS.md", "CONSUMERS.md")
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


def fenced_blocks(document: str) -> list[tuple[str, str, str]]:
    """(language, rest of the fence line, body) of every fenced block of a doc."""
    return FENCE.findall((DOCS / document).read_text(encoding="utf-8"))


def python_blocks(document: str) -> list[str]:
    """The ```python blocks of a doc that are whole programs (a lone line is a signpost)."""
    return [
        body
        for language, rest, body in fenced_blocks(document)
        if language == "python" and "fragment" not in rest and len(body.strip().splitlines()) > 1
    ]


def run_example(
    code: str, redis_url: str, tmp_path: Path, name: str = "example.py"
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / name
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)


def test_every_python_block_is_a_program_a_signpost_or_marked_as_a_fragment() -> None:
    """A block in another fence (```py, ```Python) would be skipped silently: none is allowed."""
    for document in DOCUMENTS:
        for language, _rest, _body in fenced_blocks(document):
            assert language == "python" or language.lower() not in {"python", "py", "python3", "pycon"}, language
    assert [len(python_blocks(document)) for document in DOCUMENTS] == [1, 2, 1]


def test_the_api_example_runs_as_written(real_redis: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    (example,) = python_blocks("API.md")
    result = run_example(example, redis_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "refused: ana is an agent; only owner, admin or manager may turn round robin on or off" in result.stdout
    assert "ana online 1" in result.stdout
    assert "no unassigned tickets in acme; nothing to assign" in result.stdout
    assert "workers serving acme: 0" in result.stdout
    assert "refused: auto-assign is on: without an account capacity the first agent Online" in result.stdout
    assert "ben load 0 capacity 1 (own)" in result.stdout
    assert real_redis.exists(*real_redis.keys("*:a:acme:users"))


def test_the_producer_examples_run_as_written_and_print_what_the_doc_shows(
    real_redis: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    signpost, example = python_blocks("PRODUCERS.md")
    assert run_example(signpost, redis_url, tmp_path, "imports.py").returncode == 0
    result = run_example(example, redis_url, tmp_path)
    assert result.returncode == 0, result.stderr
    documented = next(
        body for language, _rest, body in fenced_blocks("PRODUCERS.md") if body.startswith("enqueued job")
    )
    shown = documented.splitlines()
    printed = result.stdout.splitlines()
    assert printed[0].startswith("enqueued job ")
    assert printed[1:4] == shown[1:4]  # the event JSON, "3 jobs in one round trip", "3 validation errors …"
    assert Queue(QUEUE_NAME, connection=real_redis).count == 5  # T5001, T5002 and the batch of 3


def make_a_toast(client: redis.Redis) -> None:
    """Through the control API: two tickets wait, then a bulk job gives them to ana (one toast)."""
    helpdesk = Helpdesk.for_client(client)
    for user, role in [("max", "manager"), ("ana", "agent")]:
        helpdesk.save_user("acme", user, role)
    helpdesk.set_team("acme", "billing", ["ana"], "max")
    helpdesk.set_status("acme", "ana", "online")
    for ticket in ("T1", "T2"):
        helpdesk.submit_ticket({"account_id": "acme", "ticket_id": ticket, "channel": "email", "created_at": utc_now()})
    helpdesk.drain()  # round robin is off: both wait
    helpdesk.bulk_assign("acme", "billing", "max", unassigned=True)
    helpdesk.drain()


def read_line_containing(process: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if text in line:
            return line.strip()
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no line with {text!r}; stderr: {process.stderr.read() if process.stderr else ''}")


def test_the_toast_service_runs_as_written_shows_a_toast_and_stops_on_sigterm(
    real_redis: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    (example,) = python_blocks("CONSUMERS.md")
    script = tmp_path / "toasts.py"
    script.write_text(example, encoding="utf-8")
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    service = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        read_line_containing(service, "toast service: waiting")
        make_a_toast(real_redis)
        assert (
            read_line_containing(service, "toast for")
            == "toast for ana in acme: 2 tickets from team billing ['T1', 'T2']"
        )
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=30)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    assert service.returncode == 0, err
    assert out.strip().splitlines()[-1] == "toast service: stopped"


def test_a_broken_example_fails(redis_url: str, real_redis: redis.Redis, tmp_path: Path) -> None:
    """The runner really runs the block: an example calling a method that does not exist fails."""
    broken = "from worker.api import Helpdesk\nHelpdesk.from_env().no_such_verb('acme')\n"
    result = run_example(broken, redis_url, tmp_path)
    assert result.returncode != 0 and "AttributeError" in result.stderr


def test_a_fragment_is_not_run_and_a_one_liner_is_a_signpost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "DOC.md"
    doc.write_text(
        '```python title="fragment"\nhandle(event)\nmore(event)\n```\n'
        "```python\nfrom worker.api import Helpdesk\n```\n"
        "```python\nimport os\nprint(os.sep)\n```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "DOCS", tmp_path)
    assert python_blocks("DOC.md") == ["import os\nprint(os.sep)\n"]
