"""End to end: the ``helpdesk-rr`` CLI as operators and scripts use it.

Most calls run the CLI in-process (click's CliRunner: the same code, ~0.5 s less per call than a new
interpreter); the day-in-the-life test, the worker processes, ``--follow``, the embedded server and
the demo drive it as a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from schemas.events import parse_event
from schemas.views import UnassignedTicket
from tests.support.cli import COMMAND, ok, refused, run
from worker.ops.embedded import stop_embedded_server


def ok_sub(url: str, *args: str) -> str:
    """``ok`` in a real ``helpdesk-rr`` subprocess."""
    return ok(url, *args, separate_process=True)


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    return redis_url


def set_up_account(url: str) -> None:
    ok(url, "user", "acme", "olivia", "--role", "owner")
    ok(url, "user", "acme", "ana", "--role", "agent")
    ok(url, "user", "acme", "ben", "--role", "agent")
    ok(url, "user", "acme", "vic", "--role", "viewer")
    ok(url, "round-robin", "acme", "on", "--actor", "olivia")


def test_a_day_through_the_cli(url: str) -> None:
    set_up_account(url)
    ok(
        url,
        "office-hours",
        "acme",
        "--timezone",
        "Europe/Berlin",
        "--hours",
        "mon-fri 09:00-17:00",
        "--closed",
        "2026-12-25",
        "--actor",
        "olivia",
    )
    assert "ana is online" in ok_sub(url, "status", "acme", "ana", "online")
    ok_sub(url, "status", "acme", "ben", "online", "--actor", "olivia")
    ok_sub(url, "ticket", "acme", "e1", "--channel", "email", "--created-at", "2026-11-22T03:00:00+01:00")
    ok(
        url,
        "ticket",
        "acme",
        "w1",
        "--channel",
        "webchat",
        "--created-at",
        "2026-11-22T03:00:00+01:00",
        "--subject",
        "Where is my order?",
    )
    ok_sub(url, "ticket", "acme", "s1", "--channel", "sms")
    ok_sub(url, "worker", "--burst")

    rows = [
        UnassignedTicket.model_validate_json(line) for line in ok_sub(url, "unassigned", "acme", "--json").splitlines()
    ]
    assert [(r.ticket_id, r.reason.value, r.available_at.isoformat() if r.available_at else None) for r in rows] == [
        ("w1", "after_hours", "2026-11-23T08:00:00+00:00")
    ]
    assert "after_hours" in ok_sub(url, "unassigned", "acme")

    events = [parse_event(line) for line in ok_sub(url, "events", "acme", "--json").splitlines()]
    assigned = [(e.ticket_id, e.agent_id) for e in events if e.type == "ticket.assigned"]
    assert assigned == [("e1", "ana"), ("s1", "ben")]
    assert "ticket.assigned    e1 (email) -> ana" in ok_sub(url, "events", "acme")


def test_refused_actions_exit_1_with_one_line(url: str) -> None:
    set_up_account(url)
    assert "only owner, admin or manager" in refused(url, "round-robin", "acme", "off", "--actor", "ana")
    assert "viewer" in refused(url, "status", "acme", "vic", "online")
    assert "unknown user ghost" in refused(url, "status", "acme", "ghost", "online")
    assert "only owner, admin or manager" in refused(url, "status", "acme", "ben", "online", "--actor", "ana")
    assert "created_at" in refused(
        url, "ticket", "acme", "t1", "--channel", "email", "--created-at", "2026-01-01T10:00"
    )
    assert "created_at" in refused(
        url, "ticket", "acme", "t1", "--channel", "email", "--created-at", "2999-01-01T10:00Z"
    )
    assert "ticket_id" in refused(url, "ticket", "acme", "bad:id", "--channel", "email")
    assert "Nowhere/Atlantis" in refused(
        url, "office-hours", "acme", "--timezone", "Nowhere/Atlantis", "--hours", "mon 09:00-17:00", "--actor", "olivia"
    )
    assert "funday" in refused(
        url, "office-hours", "acme", "--timezone", "UTC", "--hours", "funday 09:00-17:00", "--actor", "olivia"
    )
    assert "account" in refused(url, "unassigned", "ac{me}")
    for line in (refused(url, "status", "acme", "ghost", "online"),):
        assert len(line.splitlines()) == 1 and line.startswith("error: ")
    assert ok(url, "events", "acme", "--json").count("ticket.") == 0  # nothing refused was enqueued or decided


def test_usage_errors_exit_2(url: str) -> None:
    assert "fax" in refused(url, "ticket", "acme", "t1", "--channel", "fax", code=2)
    assert "--actor" in refused(url, "round-robin", "acme", "on", code=2)


def test_unreachable_redis_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_RR_REDIS_RETRIES", "1")  # the retry budget is tested in test_restart.py
    message = refused("redis://127.0.0.1:9/0", "unassigned", "acme")
    assert message.startswith("error: cannot reach Redis at redis://127.0.0.1:9/0")


def test_worker_processes_run_in_parallel_and_exit_when_drained(url: str) -> None:
    set_up_account(url)
    ok(url, "status", "acme", "ana", "online")
    for n in range(6):
        ok(url, "ticket", "acme", f"t{n}", "--channel", "social")
    ok(url, "worker", "--burst", "--processes", "2")
    assert ok(url, "events", "acme", "--json").count('"ticket.assigned"') == 6


def test_events_follow_prints_new_events_as_they_happen(url: str) -> None:
    set_up_account(url)
    base = [*COMMAND, "--redis-url", url, "events", "acme", "--json", "--follow"]
    follower = subprocess.Popen(base, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1.0)
        ok(url, "status", "acme", "ana", "online")
        assert follower.stdout is not None
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            seen.append(parse_event(line).type)
            if "agent.status_changed" in seen:
                break
        assert "agent.status_changed" in seen
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_schemas_export_writes_one_schema_per_event(tmp_path: Path) -> None:
    out = ok(None, "schemas", "export", str(tmp_path / "schemas"))
    names = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert "ticket.assigned.schema.json" in names and "toast.schema.json" in names
    assert len(out.splitlines()) == len(names) == 12
    assert (
        json.loads((tmp_path / "schemas" / "ticket.created.schema.json").read_text())["additionalProperties"] is False
    )


def test_demo_runs_end_to_end(url: str) -> None:
    out = ok(url, "demo", separate_process=True)
    assert "refused" in out and "after_hours" in out and "round_robin_off" in out and "no_agent_online" in out
    assert "Tickets assigned per agent" in out
    assert "all_agents_at_capacity" in out  # the capacity scene: a burst fills everyone, the rest wait
    assert "-> ana: waiting_queue" in out and "@ana: 2 waiting tickets assigned to you" in out
    # issue 16: chloe restricted to webchat/social, ana away: her ticket waits, then goes to ben naming her
    assert "(email): all_agents_at_capacity" in out and ": waiting_queue (was ana)" in out


@pytest.fixture
def state_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="rr-st-"))
    yield directory
    stop_embedded_server(directory)
    shutil.rmtree(directory, ignore_errors=True)


def test_without_redis_url_every_command_shares_the_embedded_server(state_dir: Path) -> None:
    env = {"HELPDESK_RR_STATE_DIR": str(state_dir)}
    out = ok(None, "demo", env=env)
    assert "unix://" in out
    # a later invocation sees the demo's data: the same server
    assert "support: ana ben chloe" in ok(None, "teams", "demo", env=env)
    assert (state_dir / "redis.pid").exists()


def test_teams_and_bulk_assign_through_the_cli(url: str) -> None:
    set_up_account(url)
    ok(url, "user", "acme", "max", "--role", "manager")
    ok(url, "status", "acme", "ben", "online")
    assert "team billing in acme: ana ben" in ok(url, "team", "acme", "billing", "ana", "ben", "--actor", "max")
    assert "only owner, admin or manager" in refused(url, "team", "acme", "billing", "ana", "--actor", "ben")
    assert ok(url, "teams", "acme") == "billing: ana ben  (online: ben)\n"
    ok(url, "round-robin", "acme", "off", "--actor", "max")
    for n in range(3):
        ok(url, "ticket", "acme", f"q{n}", "--channel", "email")
    ok(url, "worker", "--burst")
    assert "unknown team nope" in refused(
        url, "bulk-assign", "acme", "--team", "nope", "--unassigned", "--actor", "ana"
    )
    assert "viewer" in refused(url, "bulk-assign", "acme", "q1", "--team", "billing", "--actor", "vic")
    assert "exactly one" in refused(url, "bulk-assign", "acme", "--team", "billing", "--actor", "ana")
    job_id = ok(url, "bulk-assign", "acme", "--team", "billing", "--unassigned", "--actor", "ana").strip()
    assert len(job_id) > 10
    ok(url, "worker", "--burst")
    assert ok(url, "unassigned", "acme", "--json") == ""
    events = [parse_event(line) for line in ok(url, "events", "acme", "--json").splitlines()]
    assert [(e.ticket_id, e.agent_id) for e in events if e.type == "ticket.assigned"] == [
        ("q0", "ben"),
        ("q1", "ben"),
        ("q2", "ben"),
    ]
    assert [e.text for e in events if e.type == "toast"] == ["3 tickets from team billing"]


def test_bulk_assign_wait_shows_progress_until_done(url: str) -> None:
    set_up_account(url)
    ok(url, "user", "acme", "max", "--role", "manager")
    ok(url, "team", "acme", "billing", "ana", "--actor", "max")
    worker = subprocess.Popen(
        [*COMMAND, "--redis-url", url, "worker"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        result = run(url, "bulk-assign", "acme", "x1", "x2", "--team", "billing", "--actor", "ana", "--wait", "--json")
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert result.returncode == 0, result.stderr
    job_id, summary = result.stdout.strip().splitlines()
    assert json.loads(summary)["unknown"] == 2  # never-seen tickets are counted, not invented
    assert "2/2" in result.stderr
