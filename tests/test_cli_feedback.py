"""The CLI tells a person what is going on (issue 14, "Views and feedback" items 3, 4, 6 and 7).

A worker says when it starts (where, how, how many) and why it stops; a command whose job needs a
worker says when none is running; commands print their one line and no log lines unless ``--verbose``;
``embedded url`` prints the embedded server's URL; ``bulk-assign`` says when there is nothing to do and
prints its result as a sentence (``--json`` for the raw result).
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue

from producers.queue import QUEUE_NAME
from tests.support.cli import COMMAND, ok, refused, run
from worker.api import Helpdesk, HelpdeskError, NothingToAssign
from worker.cli.ops import started_line
from worker.cli.teams import bulk_summary
from worker.ops.embedded import stop_embedded_server
from worker.runtime.topology import Topology

NO_WORKER = "no worker is running for queue helpdesk-rr; start one with `helpdesk-rr worker`"


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    return redis_url


def set_up_team(url: str, *online: str) -> None:
    """acme: manager max, agents ana and ben on team billing, round robin on, ``online`` Online."""
    ok(url, "user", "acme", "max", "--role", "manager")
    for agent in ("ana", "ben"):
        ok(url, "user", "acme", agent, "--role", "agent")
    ok(url, "team", "acme", "billing", "ana", "ben", "--actor", "max")
    for agent in online:
        ok(url, "status", "acme", agent, "online")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_worker(url: str, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, "--log-json", "--redis-url", url, "worker", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


# --- item 3: the worker's start and stop lines ----------------------------------------------------


def test_a_burst_worker_prints_where_it_works_and_that_it_drained_the_queue(url: str) -> None:
    set_up_team(url)
    ok(url, "ticket", "acme", "T1", "--channel", "email")
    result = run(url, "worker", "--burst")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"worker started: queue helpdesk-rr at {url}, simple (SimpleWorker), 1 process, --burst",
        "worker stopped: queue drained (--burst)",
    ]


def test_worker_processes_print_one_start_line_and_one_stop_line_for_all(url: str) -> None:
    result = run(url, "worker", "--burst", "--processes", "2", "--worker-class", "fork", separate_process=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"worker started: queue helpdesk-rr at {url}, fork (forking Worker), 2 processes, --burst",
        "worker stopped: 2 processes, queue drained (--burst)",
    ]


def test_a_worker_stopped_by_a_signal_says_so_and_workers_alive_sees_it_come_and_go(
    real_redis: redis.Redis, url: str
) -> None:
    helpdesk = Helpdesk.for_client(real_redis)
    assert helpdesk.workers_alive("acme") == 0
    worker = start_worker(url)
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().startswith("worker started: queue helpdesk-rr at ")
        wait_until(lambda: helpdesk.workers_alive("acme") == 1, "the worker to register")
        time.sleep(0.5)  # RQ installs its signal handlers just after registering
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0
    assert out.splitlines() == ["worker stopped: signal SIGTERM"]
    assert helpdesk.workers_alive("acme") == 0


def test_a_worker_that_stops_on_an_error_says_why(
    real_redis: redis.Redis, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.runtime.runner import HelpdeskQueue

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    ok(url, "user", "acme", "olga", "--role", "owner")  # a ticket of an account nobody set up is refused
    ok(url, "ticket", "acme", "T1", "--channel", "email")
    monkeypatch.setattr(HelpdeskQueue, "lmove", classmethod(broken))
    result = run(url, "worker", "--burst")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "worker stopped: error: RuntimeError: boom"


def test_the_start_line_names_shards_and_state_with_credentials_redacted() -> None:
    queues = ("redis://:pw@a:1/0", "redis://:pw@b:2/0")
    topology = Topology("redis+cluster://u:pw@c:7000", queues)
    assert started_line(topology, None, "simple", 4, False) == (
        "worker started: queue helpdesk-rr on 2 shards (redis://***@a:1/0, redis://***@b:2/0), "
        "state at redis+cluster://***@c:7000, simple (SimpleWorker), 4 processes"
    )
    assert started_line(topology, 1, "fork", 1, True) == (
        "worker started: queue helpdesk-rr shard 1 of 2 at redis://***@b:2/0, "
        "state at redis+cluster://***@c:7000, fork (forking Worker), 1 process, --burst"
    )


# --- item 3: "no worker is running" ---------------------------------------------------------------


def test_bulk_assign_wait_says_at_once_that_no_worker_runs_and_keeps_waiting(url: str) -> None:
    set_up_team(url, "ana")
    waiting = subprocess.Popen(
        [*COMMAND, "--redis-url", url, "bulk-assign", "acme", "x1", "--team", "billing", "--actor", "ana", "--wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stderr is not None
        assert waiting.stderr.readline().strip() == NO_WORKER
        time.sleep(0.5)
        assert waiting.poll() is None  # still waiting for the job
        ok(url, "worker", "--burst")
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 0, err
    job_id, summary = out.splitlines()
    assert len(job_id) > 10 and summary == "0 assigned to 0 agents, 0 toasts; 1 unknown (never seen)"


def test_bulk_assign_wait_says_nothing_about_workers_when_one_runs(real_redis: redis.Redis, url: str) -> None:
    set_up_team(url, "ana")
    worker = start_worker(url)
    try:
        wait_until(lambda: Helpdesk.for_client(real_redis).workers_alive("acme") == 1, "the worker to register")
        result = run(url, "bulk-assign", "acme", "x1", "--team", "billing", "--actor", "ana", "--wait")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    assert NO_WORKER not in result.stderr


def ticket_on_a_terminal(url: str) -> str:
    """``helpdesk-rr ticket`` with its stderr on a pseudo-terminal; returns what it wrote there."""
    ok(url, "user", "acme", "olga", "--role", "owner")  # a ticket of an account nobody set up is refused
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run(
            [*COMMAND, "--redis-url", url, "ticket", "acme", "T1", "--channel", "email"],
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=60,
        )
        assert process.returncode == 0 and process.stdout.startswith("enqueued acme/T1 (email)")
        chunks = []
        while select.select([controller], [], [], 0.2)[0]:
            chunks.append(os.read(controller, 4096))
        return b"".join(chunks).decode()
    finally:
        os.close(terminal)
        os.close(controller)


def test_ticket_on_a_terminal_says_when_no_worker_is_running(url: str) -> None:
    assert ticket_on_a_terminal(url).strip() == NO_WORKER


def test_ticket_says_nothing_about_workers_off_a_terminal(url: str) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")  # a ticket of an account nobody set up is refused
    result = run(url, "ticket", "acme", "T1", "--channel", "email")
    assert result.returncode == 0 and result.stderr == ""


def test_ticket_on_a_terminal_says_nothing_when_a_worker_runs(real_redis: redis.Redis, url: str) -> None:
    worker = start_worker(url)
    try:
        wait_until(lambda: Helpdesk.for_client(real_redis).workers_alive("acme") == 1, "the worker to register")
        assert NO_WORKER not in ticket_on_a_terminal(url)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


# --- item 4: quiet commands -----------------------------------------------------------------------


def test_a_command_prints_its_line_and_no_log_line_unless_verbose(url: str) -> None:
    quiet = run(url, "user", "acme", "ana", "--role", "agent")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "ana created in acme as agent\n", "")
    loud = run(url, "--verbose", "user", "acme", "ben", "--role", "agent")
    assert loud.stdout == "ben created in acme as agent\n"
    assert '"event": "user.saved"' in loud.stderr


def test_bulk_assign_and_ticket_are_quiet_too(url: str) -> None:
    set_up_team(url)
    for args in [
        ("ticket", "acme", "T1", "--channel", "email"),
        ("bulk-assign", "acme", "T1", "--team", "billing", "--actor", "ana"),
    ]:
        result = run(url, *args)
        assert result.returncode == 0 and len(result.stdout.splitlines()) == 1 and result.stderr == "", args


def test_the_worker_keeps_its_decision_log_lines_without_verbose(url: str) -> None:
    set_up_team(url)
    ok(url, "ticket", "acme", "T1", "--channel", "email")
    result = run(url, "worker", "--burst")
    assert '"event": "ticket.decided"' in result.stderr and '"ticket_id": "T1"' in result.stderr


# --- item 6: embedded url -------------------------------------------------------------------------


@pytest.fixture
def state_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="rr-url-"))
    yield directory
    stop_embedded_server(directory)
    shutil.rmtree(directory, ignore_errors=True)


def test_embedded_url_starts_the_server_and_prints_its_url(state_dir: Path, redis_url: str) -> None:
    env = {"HELPDESK_RR_STATE_DIR": str(state_dir)}
    printed = ok(None, "embedded", "url", env=env).strip()
    assert printed.startswith("unix://") and printed.endswith("/redis.sock")
    assert redis.Redis.from_url(printed).ping()
    assert ok(None, "embedded", "url", env=env).strip() == printed  # the same server, not a second one
    # the embedded server's, even where REDIS_URL points elsewhere
    assert ok(None, "embedded", "url", env={**env, "REDIS_URL": redis_url}).strip() == printed


# --- item 7: bulk-assign with nothing to do, and its result as a sentence -------------------------


def test_bulk_assign_unassigned_with_nothing_waiting_says_so_and_enqueues_nothing(
    real_redis: redis.Redis, url: str
) -> None:
    set_up_team(url, "ana")
    result = run(url, "bulk-assign", "acme", "--team", "billing", "--unassigned", "--actor", "ana", "--wait")
    assert (result.returncode, result.stdout) == (0, "no unassigned tickets in acme; nothing to assign\n")
    assert Queue(QUEUE_NAME, connection=real_redis).count == 0
    refusal = refused(url, "bulk-assign", "acme", "--team", "nope", "--unassigned", "--actor", "ana")
    assert refusal == "error: unknown team nope in acme"  # a refusal still comes first


def test_the_api_raises_nothing_to_assign_a_typed_error(real_redis: redis.Redis, url: str) -> None:
    set_up_team(url)
    with pytest.raises(NothingToAssign, match="no unassigned tickets in acme; nothing to assign") as raised:
        Helpdesk.for_client(real_redis).bulk_assign("acme", "billing", "max", unassigned=True)
    assert isinstance(raised.value, HelpdeskError)
    assert Queue(QUEUE_NAME, connection=real_redis).count == 0


def test_bulk_assign_wait_prints_a_sentence_and_json_on_request(url: str) -> None:
    set_up_team(url, "ana", "ben")  # round robin off: the tickets wait
    for n in range(6):
        ok(url, "ticket", "acme", f"T{n}", "--channel", "email")
    ok(url, "worker", "--burst")
    worker = start_worker(url)
    try:
        result = run(url, "bulk-assign", "acme", "--team", "billing", "--unassigned", "--actor", "max", "--wait")
        again = run(url, "bulk-assign", "acme", "T0", "--team", "billing", "--actor", "max", "--wait", "--json")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert result.stdout.splitlines()[1] == "6 assigned to 2 agents, 2 toasts"
    raw = again.stdout.splitlines()[1]
    assert raw.startswith("{") and '"assigned": 1' in raw and '"agents": 1' in raw


def test_the_bulk_summary_names_what_else_happened_only_when_it_did() -> None:
    assert bulk_summary({"assigned": 1, "agents": 1, "toasts": 1, "unknown": 0}) == "1 assigned to 1 agent, 1 toast"
    result = {"assigned": 0, "agents": 0, "toasts": 0, "unassigned": 3, "unknown": 2, "already_done": 1}
    assert bulk_summary(result) == (
        "0 assigned to 0 agents, 0 toasts; 3 left unassigned (no team member online); 2 unknown (never seen); "
        "1 skipped (already handled by this job)"
    )
