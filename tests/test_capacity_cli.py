"""Issue 15 on the command line: ``capacity``, ``auto-assign``, capacity in ``users`` and ``settings``, the
agents a bulk job left above capacity, and a release run by a worker (real Redis, like the other CLI tests)."""

from __future__ import annotations

import subprocess
from subprocess import DEVNULL

import pytest
import redis

from schemas.views import SettingsView, UserView
from tests.support.cli import COMMAND, ok, refused, run
from tests.support.snapshots import snapshot
from worker.cli.teams import bulk_summary

pytestmark = pytest.mark.engine

GOOD = "use a whole number of at least 1, e.g. 5"


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    return redis_url


def staffed(url: str) -> None:
    """acme: owner olga, manager max, agents ana and ben, viewer vic; round robin on."""
    for user, role in [("olga", "owner"), ("max", "manager"), ("ana", "agent"), ("ben", "agent"), ("vic", "viewer")]:
        ok(url, "user", "acme", user, "--role", role)
    ok(url, "round-robin", "acme", "on", "--actor", "olga")


def settings_rows(output: str) -> dict[str, str]:
    return {line[:13].strip(): line[14:] for line in output.splitlines()}


def test_capacity_sets_and_clears_the_account_value_and_an_agent_override(url: str) -> None:
    staffed(url)
    assert ok(url, "capacity", "acme", "5", "--actor", "max").strip() == "capacity for acme: 5 open tickets per agent"
    assert ok(url, "capacity", "acme", "5", "--actor", "max").strip() == (
        "capacity for acme: 5 open tickets per agent (unchanged)"
    )
    assert ok(url, "capacity", "acme", "1", "--agent", "ben", "--actor", "olga").strip() == (
        "capacity for ben in acme: 1 open ticket"
    )
    assert ok(url, "capacity", "acme", "--clear", "--agent", "ben", "--actor", "olga").strip() == (
        "capacity for ben in acme cleared (the account's capacity applies)"
    )
    assert ok(url, "capacity", "acme", "--clear", "--actor", "max").strip() == (
        "capacity for acme cleared (no limit for agents without their own)"
    )
    assert ok(url, "capacity", "acme", "--clear", "--actor", "max").strip().endswith("(unchanged)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "error: give a capacity N (a whole number of at least 1, e.g. 5) or --clear to remove the limit"),
        (("0",), f"error: capacity: 0 would let an agent take no ticket at all; {GOOD} (or --clear: no limit)"),
        (("-2",), f"error: capacity: -2 is negative; {GOOD} (or --clear: no limit)"),
        (("five",), f"error: capacity: 'five' is not a whole number; {GOOD}"),
        (("2.5",), f"error: capacity: '2.5' is not a whole number; {GOOD}"),
        (("3", "--clear"), "error: give a capacity N or --clear, not both (got '3' and --clear)"),
        (("3", "4"), "error: give one capacity N (got 2: 3 4)"),
    ],
    ids=["neither", "zero", "negative", "word", "fraction", "both", "two"],
)
def test_a_bad_capacity_is_refused_in_plain_words_and_changes_nothing(
    url: str, real_redis: redis.Redis, args: tuple[str, ...], message: str
) -> None:
    staffed(url)
    before = snapshot(real_redis)
    assert refused(url, "capacity", "acme", *args, "--actor", "max") == message
    assert snapshot(real_redis) == before


def test_a_mistyped_option_is_a_usage_error_not_a_capacity(url: str) -> None:
    staffed(url)
    assert refused(url, "capacity", "acme", "3", "--agnet", "ben", "--actor", "max", code=2).endswith(
        "No such option: --agnet"
    )


def test_only_managers_and_above_may_change_capacity_or_auto_assign(url: str, real_redis: redis.Redis) -> None:
    staffed(url)
    before = snapshot(real_redis)
    assert refused(url, "capacity", "acme", "3", "--actor", "ana") == (
        "error: ana is an agent; only owner, admin or manager may set capacity"
    )
    assert refused(url, "capacity", "acme", "3", "--actor", "vic") == (
        "error: vic is a viewer; only owner, admin or manager may set capacity"
    )
    assert refused(url, "auto-assign", "acme", "off", "--actor", "ana") == (
        "error: ana is an agent; only owner, admin or manager may turn auto-assign on or off"
    )
    assert refused(url, "capacity", "acme", "3", "--agent", "vic", "--actor", "max") == (
        "error: vic is a viewer; only agents and higher take tickets, so only they have a capacity"
    )
    assert refused(url, "capacity", "ghostco", "3", "--actor", "max") == "error: unknown account 'ghostco'"
    assert refused(url, "auto-assign", "ghostco", "on", "--actor", "max") == "error: unknown account 'ghostco'"
    assert refused(url, "capacity", "acme", "3", "--actor", "ghost") == "error: unknown user ghost in account acme"
    assert snapshot(real_redis) == before


def test_auto_assign_needs_a_capacity_and_keeps_it(url: str) -> None:
    staffed(url)
    no_cap = refused(url, "auto-assign", "acme", "on", "--actor", "max")
    assert no_cap == (
        "error: account acme has no capacity: without a cap the first agent Online would take the whole waiting "
        "queue; set one first (helpdesk-rr capacity)"
    )
    ok(url, "capacity", "acme", "2", "--actor", "max")
    assert ok(url, "auto-assign", "acme", "on", "--actor", "max").strip() == "auto-assign on for acme"
    assert ok(url, "auto-assign", "acme", "on", "--actor", "olga").strip() == "auto-assign on for acme (unchanged)"
    assert refused(url, "capacity", "acme", "--clear", "--actor", "max") == (
        "error: auto-assign is on: without an account capacity the first agent Online would take the whole "
        "waiting queue; turn auto-assign off first"
    )
    assert ok(url, "auto-assign", "acme", "off", "--actor", "max").strip() == "auto-assign off for acme"
    assert run(url, "auto-assign", "acme", "maybe", "--actor", "max").returncode == 2


def test_a_worker_releases_the_waiting_tickets_when_auto_assign_goes_on(url: str) -> None:
    staffed(url)
    ok(url, "capacity", "acme", "2", "--actor", "max")
    ok(url, "capacity", "acme", "1", "--agent", "ben", "--actor", "max")
    for number, second in enumerate(("01", "02", "03", "04"), start=1):
        ok(url, "ticket", "acme", f"T{number}", "--channel", "email", "--created-at", f"2026-11-24T10:00:{second}Z")
    ok(url, "worker", "--burst")  # nobody Online: all four wait
    ok(url, "status", "acme", "ana", "online")
    ok(url, "status", "acme", "ben", "online")
    ok(url, "auto-assign", "acme", "on", "--actor", "max")
    ok(url, "worker", "--burst")  # the release the command enqueued

    events = ok(url, "events", "acme").splitlines()
    assigned = [line.split(" ticket.assigned    ")[1] for line in events if " ticket.assigned " in line]
    assert assigned == ["T1 (email) -> ana: waiting_queue", "T2 (email) -> ben: waiting_queue",
                        "T3 (email) -> ana: waiting_queue"]  # fmt: skip
    assert [line.split(" toast ")[1].strip() for line in events if " toast " in line] == [
        "@ana: 2 waiting tickets assigned to you",
        "@ben: 1 waiting ticket assigned to you",
    ]
    assert [line.split()[0] for line in ok(url, "unassigned", "acme").splitlines()[1:]] == ["T4"]
    lines = ok(url, "users", "acme").splitlines()
    assert lines[0] == "USER  ROLE     STATUS   NEXT  TODAY  TOTAL  LOAD CAPACITY  LAST HEARTBEAT"
    rows = {line.split()[0]: line.split()[6:8] for line in lines[1:-1]}
    assert rows == {"ana": ["2", "2"], "ben": ["1", "1*"], "max": ["0", "2"], "olga": ["0", "2"], "vic": ["0", "-"]}
    assert lines[-1] == "everyone online is at capacity: new tickets wait (all_agents_at_capacity)"
    views = [UserView.model_validate_json(line) for line in ok(url, "users", "acme", "--json").splitlines()]
    assert [(v.user_id, v.load, v.capacity, v.capacity_override) for v in views][:2] == [
        ("ana", 2, 2, False), ("ben", 1, 1, True)
    ]  # fmt: skip


def test_the_next_ticket_line_skips_agents_at_capacity(url: str) -> None:
    staffed(url)
    ok(url, "capacity", "acme", "1", "--actor", "max")
    ok(url, "status", "acme", "ana", "online")
    ok(url, "status", "acme", "ben", "online")
    assert ok(url, "users", "acme").splitlines()[-1] == "next ticket: ana, then ben"
    ok(url, "ticket", "acme", "T1", "--channel", "email")
    ok(url, "worker", "--burst")
    assert ok(url, "users", "acme").splitlines()[-1] == "next ticket: ben (ana at capacity)"


def test_settings_show_capacity_overrides_and_auto_assign(url: str) -> None:
    staffed(url)
    rows = settings_rows(ok(url, "settings", "acme"))
    assert (rows["capacity"], rows["auto-assign"]) == ("none (no limit per agent)", "off")
    ok(url, "capacity", "acme", "3", "--actor", "max")
    ok(url, "capacity", "acme", "1", "--agent", "ben", "--actor", "max")
    ok(url, "capacity", "acme", "5", "--agent", "ana", "--actor", "max")
    ok(url, "auto-assign", "acme", "on", "--actor", "max")
    rows = settings_rows(ok(url, "settings", "acme"))
    assert rows["capacity"] == "3 open tickets per agent; 2 overrides: ana 5, ben 1"
    assert rows["auto-assign"] == "on (waiting tickets go to agents below capacity, oldest first)"
    assert list(rows) == [
        "account", "round robin", "office hours", "capacity", "auto-assign", "presence", "reassign away", "unanswered",
        "webhooks", "as of", "waiting",
    ]  # fmt: skip
    view = SettingsView.model_validate_json(ok(url, "settings", "acme", "--json"))
    assert (view.capacity, view.agent_capacities, view.auto_assign) == (3, {"ana": 5, "ben": 1}, True)


def test_bulk_assign_names_the_agents_it_left_above_capacity(url: str) -> None:
    staffed(url)
    ok(url, "team", "acme", "billing", "ana", "--actor", "max")
    for number in (1, 2, 3):
        ok(url, "ticket", "acme", f"T{number}", "--channel", "email")
    ok(url, "worker", "--burst")  # nobody Online: all three wait
    ok(url, "capacity", "acme", "2", "--actor", "max")
    ok(url, "status", "acme", "ana", "online")
    worker = subprocess.Popen([*COMMAND, "--redis-url", url, "worker"], stdout=DEVNULL, stderr=DEVNULL)
    try:  # --wait waits for the job: a worker runs it meanwhile
        result = run(url, "bulk-assign", "acme", "--team", "billing", "--unassigned", "--actor", "max", "--wait")
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "3 assigned to 1 agent, 1 toast; left above capacity: ana"


def test_the_bulk_summary_names_agents_above_capacity_only_when_there_are_some() -> None:
    result = {"assigned": 4, "agents": 2, "toasts": 2, "above_capacity": []}
    assert bulk_summary(result) == "4 assigned to 2 agents, 2 toasts"
    result = {**result, "unknown": 1, "above_capacity": ["ana", "ben"]}
    assert (
        bulk_summary(result)
        == "4 assigned to 2 agents, 2 toasts; 1 unknown (never seen); left above capacity: ana, ben"
    )
