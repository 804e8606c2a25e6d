"""Issue 16, part 1 on the command line: ``heartbeat``, ``presence`` (durations, refusals), the presence timeout
in ``settings``, the last heartbeat in ``users``, and the ``events`` line of an agent a worker set Offline
(real Redis, like the other CLI tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from schemas.common import AgentStatus, StatusChangeReason
from schemas.events import AgentStatusChanged
from schemas.views import SettingsView, UserView
from tests.support.accounts import NOW
from tests.support.cli import ok, refused, run
from tests.support.snapshots import snapshot
from worker.api import Helpdesk
from worker.cli.format import describe

pytestmark = pytest.mark.engine

EXAMPLES = "e.g. 90s, 15m, 2h or 1h30m"


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    return redis_url


def staffed(url: str) -> None:
    """acme: owner olga, manager max, agents ana and ben, viewer vic."""
    for user, role in [("olga", "owner"), ("max", "manager"), ("ana", "agent"), ("ben", "agent"), ("vic", "viewer")]:
        ok(url, "user", "acme", user, "--role", role)


def settings_rows(output: str) -> dict[str, str]:
    return {line[:13].strip(): line[14:] for line in output.splitlines()}


def test_presence_sets_changes_and_turns_off_the_timeout(url: str) -> None:
    staffed(url)
    assert ok(url, "presence", "acme", "--timeout", "15m", "--actor", "max").strip() == (
        "presence timeout for acme: 15m"
    )
    assert ok(url, "presence", "acme", "--timeout", "900s", "--actor", "olga").strip() == (
        "presence timeout for acme: 15m (unchanged)"  # the same duration, however it is written
    )
    assert ok(url, "presence", "acme", "--timeout", "1h30m", "--actor", "max").strip() == (
        "presence timeout for acme: 1h30m"
    )
    assert ok(url, "presence", "acme", "--off", "--actor", "max").strip() == "presence timeout for acme: off"
    assert ok(url, "presence", "acme", "--off", "--actor", "max").strip() == (
        "presence timeout for acme: off (unchanged)"
    )
    assert ok(url, "presence", "acme", "--timeout=90s", "--actor", "max").strip() == "presence timeout for acme: 1m30s"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "error: give --timeout DURATION (e.g. --timeout 15m) or --off to turn the presence timeout off"),
        (
            ("--timeout", "5m", "--off"),
            "error: give --timeout DURATION or --off, not both (got --timeout 5m and --off)",
        ),  # fmt: skip
        (
            ("--timeout", "0s"),
            f"error: --timeout 0s: is zero; write at least 1s, {EXAMPLES}, or --off to turn it off",
        ),  # fmt: skip
        (("--timeout", "-5m"), f"error: --timeout -5m: is negative; write at least 1s, {EXAMPLES}"),
        (("--timeout", "10"), "error: --timeout 10: has no unit; write 10s, 10m or 10h"),
        (("--timeout", "1.5h"), "error: --timeout 1.5h: has a fraction; write 1h30m"),
        (
            ("--timeout", "5x"),
            f"error: --timeout 5x: unknown unit 'x'; use s (seconds), m (minutes), h (hours) or d (days), {EXAMPLES}",
        ),  # fmt: skip
        (("--timeout", ""), f'error: --timeout "": empty; write a duration, {EXAMPLES}'),
        (("--timeout", "400d"), "error: --timeout 400d: is longer than 365d (a year), the longest duration accepted"),
    ],
    ids=["neither", "both", "zero", "negative", "no-unit", "fraction", "unit", "empty", "too-long"],
)
def test_a_bad_timeout_is_refused_in_one_plain_line_and_changes_nothing(
    url: str, real_redis: redis.Redis, args: tuple[str, ...], message: str
) -> None:
    staffed(url)
    ok(url, "presence", "acme", "--timeout", "10m", "--actor", "max")
    before = snapshot(real_redis)
    assert refused(url, "presence", "acme", *args, "--actor", "max") == message
    assert snapshot(real_redis) == before


def test_only_managers_and_above_may_set_the_presence_timeout(url: str, real_redis: redis.Redis) -> None:
    staffed(url)
    before = snapshot(real_redis)
    assert refused(url, "presence", "acme", "--timeout", "5m", "--actor", "ana") == (
        "error: ana is an agent; only owner, admin or manager may set the presence timeout"
    )
    assert refused(url, "presence", "acme", "--off", "--actor", "vic") == (
        "error: vic is a viewer; only owner, admin or manager may set the presence timeout"
    )
    assert refused(url, "presence", "acme", "--timeout", "5m", "--actor", "ghost") == (
        "error: unknown user ghost in account acme"
    )
    assert refused(url, "presence", "ghostco", "--timeout", "5m", "--actor", "max") == (
        "error: unknown account 'ghostco'"
    )
    assert snapshot(real_redis) == before
    assert run(url, "presence", "acme", "--timeout", "5m").returncode == 2  # --actor is required: usage


def test_heartbeat_records_the_beat_and_never_sets_anyone_online(url: str) -> None:
    staffed(url)
    assert ok(url, "heartbeat", "acme", "ana").strip() == (
        "heartbeat from ana in acme (offline; a heartbeat never sets anyone online)"
    )
    ok(url, "status", "acme", "ana", "online")
    assert ok(url, "heartbeat", "acme", "ana").strip() == "heartbeat from ana in acme (online)"
    assert refused(url, "heartbeat", "acme", "ghost") == "error: unknown user ghost in account acme"
    assert refused(url, "heartbeat", "ghostco", "ana") == "error: unknown account 'ghostco'"
    assert refused(url, "heartbeat", "acme", "a:b").startswith("error: user: 'a:b' is not a valid id")
    beats = [UserView.model_validate_json(line) for line in ok(url, "users", "acme", "--json").splitlines()]
    assert [view.user_id for view in beats if view.last_heartbeat is not None] == ["ana"]


def test_settings_show_the_presence_timeout_in_words_and_in_seconds(url: str) -> None:
    staffed(url)
    rows = settings_rows(ok(url, "settings", "acme"))
    assert rows["presence"] == "off (only people change a status)"
    assert list(rows) == [
        "account", "round robin", "office hours", "capacity", "auto-assign", "presence", "reassign away", "unanswered",
        "webhooks", "as of", "waiting",
    ]  # fmt: skip
    ok(url, "presence", "acme", "--timeout", "15m", "--actor", "max")
    rows = settings_rows(ok(url, "settings", "acme"))
    assert rows["presence"] == "15m (an agent Online without a heartbeat for 15m goes offline)"
    assert SettingsView.model_validate_json(ok(url, "settings", "acme", "--json")).presence_timeout_seconds == 900


def test_users_show_the_last_heartbeat_in_utc_and_the_accounts_zone(url: str, real_redis: redis.Redis) -> None:
    staffed(url)
    ok(url, "office-hours", "acme", "--timezone", "America/New_York", "--hours", "mon-fri 09:00-17:00",
       "--actor", "olga")  # fmt: skip
    helpdesk = Helpdesk.for_client(real_redis)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)  # going Online counts as a heartbeat
    helpdesk.heartbeat("acme", "vic", now=datetime(2026, 11, 25, 2, 30, tzinfo=UTC))
    lines = ok(url, "users", "acme").splitlines()
    assert lines[:6] == [
        "USER  ROLE     STATUS   NEXT  TODAY  TOTAL  LOAD CAPACITY  LAST HEARTBEAT",
        "ana   agent    online      1      0      0     0        -  2026-11-24T15:00:00.000Z (10:00 America/New_York)",
        "ben   agent    offline     -      0      0     0        -  -",
        "max   manager  offline     -      0      0     0        -  -",
        "olga  owner    offline     -      0      0     0        -  -",
        "vic   viewer   offline     -      0      0     0        -  "
        "2026-11-25T02:30:00.000Z (2026-11-24 21:30 America/New_York)",
    ]
    json_lines = ok(url, "users", "acme", "--json").splitlines()
    views = {view.user_id: view for view in map(UserView.model_validate_json, json_lines)}
    assert (views["ana"].last_heartbeat, views["ben"].last_heartbeat) == (NOW, None)
    assert '"last_heartbeat":"2026-11-24T15:00:00.000Z"' in json_lines[0]  # UTC only


def test_a_worker_sets_a_silent_agent_offline_and_events_say_why(url: str, real_redis: redis.Redis) -> None:
    staffed(url)
    helpdesk = Helpdesk.for_client(real_redis)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)  # her last heartbeat: days ago
    ok(url, "status", "acme", "ben", "online")  # ben's: now
    ok(url, "presence", "acme", "--timeout", "1h", "--actor", "max")
    ok(url, "worker", "--burst")  # sweeps once as it starts
    statuses = {line.split()[0]: line.split()[2] for line in ok(url, "users", "acme").splitlines()[1:-1]}
    assert (statuses["ana"], statuses["ben"]) == ("offline", "online")
    lines = [line for line in ok(url, "events", "acme").splitlines() if " agent.status " in line]
    assert [line.split(" agent.status       ")[1] for line in lines] == [
        "ana is online",
        "ben is online",
        "ana is offline (presence_timeout)",
    ]


@pytest.mark.parametrize(
    ("reason", "actor", "line"),
    [
        (StatusChangeReason.MANUAL, "ana", "ana is offline"),
        (StatusChangeReason.MANUAL, "max", "ana is offline by max"),
        (StatusChangeReason.ROLE_CHANGE, None, "ana is offline (role_change)"),
        (StatusChangeReason.PRESENCE_TIMEOUT, None, "ana is offline (presence_timeout)"),
    ],
)
def test_the_events_line_names_the_reason_unless_a_person_did_it(
    reason: StatusChangeReason, actor: str | None, line: str
) -> None:
    event = AgentStatusChanged(
        account_id="acme",
        occurred_at=NOW + timedelta(minutes=1),
        user_id="ana",
        status=AgentStatus.OFFLINE,
        actor_id=actor,
        reason=reason,
    )
    assert describe(event) == f"2026-11-24T15:01:00.000Z agent.status       {line}"
