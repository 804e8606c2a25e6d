"""Issue 14, views and feedback: ``users`` and ``settings`` views, unknown accounts named as such, times
in the account's zone next to UTC, and "(unchanged)" when a user is saved with the role they have."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from schemas.common import AgentStatus, Channel, Role, UnassignedReason, utc_iso
from schemas.config import AccountSettings
from schemas.events import TicketUnassigned, parse_event
from schemas.office_hours import OfficeHours
from schemas.views import SettingsView, UserView
from tests.support.accounts import NOW, TicketFactory
from tests.support.cli import ok, refused
from tests.support.snapshots import snapshot
from worker.api import Helpdesk, UnknownAccount, UnknownUser
from worker.cli.demo import run_demo
from worker.cli.format import LocalTimes, describe, when
from worker.config import Retention, Settings

pytestmark = pytest.mark.engine


@pytest.fixture(params=["real", "fake"])
def helpdesk(request: pytest.FixtureRequest) -> Helpdesk:
    client: redis.Redis = request.getfixturevalue("real_redis" if request.param == "real" else "fake_redis")
    return Helpdesk.for_client(client)


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    return redis_url


# --- item 8: re-saving a user with the same role ---------------------------------------------------


def test_saving_a_user_with_the_role_they_have_changes_nothing(helpdesk: Helpdesk) -> None:
    assert helpdesk.save_user("acme", "ana", Role.AGENT, now=NOW).changed is True
    saved = helpdesk.save_user("acme", "ana", Role.AGENT, now=NOW)
    assert (saved.changed, saved.previous_role, saved.went_offline) == (False, Role.AGENT, False)
    assert helpdesk.save_user("acme", "ana", Role.MANAGER, now=NOW).changed is True


def test_the_cli_says_unchanged_when_a_user_is_saved_again_with_the_same_role(url: str) -> None:
    assert ok(url, "user", "acme", "ben", "--role", "agent").strip() == "ben created in acme as agent"
    assert ok(url, "user", "acme", "ben", "--role", "agent").strip() == "ben in acme as agent (unchanged)"
    promoted = ok(url, "user", "acme", "ben", "--role", "manager").strip()
    assert promoted == "ben updated (agent -> manager) in acme as manager"


# --- item 2: an account nobody set up is named as such; an unknown user names the account ----------

HOURS = OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"], [])

ACCOUNT_CALLS: dict[str, Callable[[Helpdesk], Any]] = {
    "users": lambda h: h.users("ghostco"),
    "settings": lambda h: h.settings("ghostco"),
    "teams": lambda h: h.teams("ghostco"),
    "unassigned": lambda h: h.unassigned("ghostco"),
    "events": lambda h: h.events("ghostco"),
    "iter_events": lambda h: list(h.iter_events("ghostco")),
    "follow_events": lambda h: next(h.follow_events("ghostco", block_ms=1)),
    "report": lambda h: h.report("ghostco", now=NOW),
    "set_status": lambda h: h.set_status("ghostco", "ana", AgentStatus.ONLINE, now=NOW),
    "set_round_robin": lambda h: h.set_round_robin("ghostco", True, "olga", now=NOW),
    "set_office_hours": lambda h: h.set_office_hours("ghostco", HOURS, "olga", now=NOW),
    "set_team": lambda h: h.set_team("ghostco", "support", ["ana"], "olga", now=NOW),
    "submit_ticket": lambda h: h.submit_ticket(
        {"account_id": "ghostco", "ticket_id": "T1", "channel": "email", "created_at": NOW}, now=NOW
    ),
    "report_first_reply": lambda h: h.report_first_reply("ghostco", "T1", "ana", now=NOW),
    "bulk_assign": lambda h: h.bulk_assign("ghostco", "support", "ana", unassigned=True),
}


@pytest.mark.parametrize("call", ACCOUNT_CALLS.values(), ids=ACCOUNT_CALLS.keys())
def test_every_method_on_an_account_with_no_users_refuses_it_by_name(
    helpdesk: Helpdesk, call: Callable[[Helpdesk], Any]
) -> None:
    helpdesk.save_user("acme", "olga", Role.OWNER, now=NOW)  # another account exists
    before = snapshot(helpdesk.state)
    with pytest.raises(UnknownAccount) as refusal:
        call(helpdesk)
    assert str(refusal.value) == "unknown account 'ghostco'"
    assert snapshot(helpdesk.state) == before


def test_save_user_creates_an_account_and_the_failed_registry_still_lists_an_unknown_one(helpdesk: Helpdesk) -> None:
    assert helpdesk.failed_jobs("ghostco") == []  # jobs refused for an account nobody set up are listed here
    helpdesk.save_user("ghostco", "olga", Role.OWNER, now=NOW)
    assert [view.user_id for view in helpdesk.users("ghostco")] == ["olga"]


UNKNOWN_USER_CALLS: dict[str, Callable[[Helpdesk], Any]] = {
    "set_status user": lambda h: h.set_status("acme", "ghost", AgentStatus.ONLINE, "olga", now=NOW),
    "set_status actor": lambda h: h.set_status("acme", "ana", AgentStatus.ONLINE, "ghost", now=NOW),
    "set_round_robin": lambda h: h.set_round_robin("acme", True, "ghost", now=NOW),
    "set_office_hours": lambda h: h.set_office_hours("acme", HOURS, "ghost", now=NOW),
    "set_team member": lambda h: h.set_team("acme", "support", ["ana", "ghost"], "olga", now=NOW),
    "bulk_assign": lambda h: h.bulk_assign("acme", "support", "ghost", unassigned=True),
}


@pytest.mark.parametrize("call", UNKNOWN_USER_CALLS.values(), ids=UNKNOWN_USER_CALLS.keys())
def test_an_unknown_user_is_named_with_the_account(helpdesk: Helpdesk, call: Callable[[Helpdesk], Any]) -> None:
    helpdesk.save_user("acme", "olga", Role.OWNER, now=NOW)
    helpdesk.save_user("acme", "ana", Role.AGENT, now=NOW)
    with pytest.raises(UnknownUser) as refusal:
        call(helpdesk)
    assert str(refusal.value) == "unknown user ghost in account acme"


def test_a_first_reply_by_an_unknown_agent_names_the_account(helpdesk: Helpdesk) -> None:
    helpdesk.save_user("acme", "olga", Role.OWNER, now=NOW)
    helpdesk.submit_ticket({"account_id": "acme", "ticket_id": "T1", "channel": "email", "created_at": NOW}, now=NOW)
    helpdesk.drain()
    with pytest.raises(UnknownUser, match="^unknown user ghost in account acme$"):
        helpdesk.report_first_reply("acme", "T1", "ghost", now=NOW)


CLI_ON_GHOSTCO: list[tuple[str, ...]] = [
    ("status", "ghostco", "ana", "online"),
    ("round-robin", "ghostco", "on", "--actor", "olga"),
    ("office-hours", "ghostco", "--timezone", "Europe/Berlin", "--hours", "mon-fri 09:00-17:00", "--actor", "olga"),
    ("office-hours", "ghostco", "--clear", "--actor", "olga"),
    ("ticket", "ghostco", "T1", "--channel", "email"),
    ("first-reply", "ghostco", "T1", "--agent", "ana"),
    ("unassigned", "ghostco"),
    ("unassigned", "ghostco", "--json"),
    ("events", "ghostco"),
    ("events", "ghostco", "--json"),
    ("team", "ghostco", "support", "ana", "--actor", "olga"),
    ("teams", "ghostco"),
    ("bulk-assign", "ghostco", "--team", "support", "--unassigned", "--actor", "ana"),
    ("report", "ghostco"),
]


@pytest.mark.parametrize("args", CLI_ON_GHOSTCO, ids=lambda args: " ".join(args[:1] + args[2:3]))
def test_a_command_on_an_account_with_no_users_says_so(url: str, args: tuple[str, ...]) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")
    assert refused(url, *args) == "error: unknown account 'ghostco'"


def test_the_cli_names_the_account_of_an_unknown_user(url: str) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")
    assert refused(url, "status", "acme", "ana", "online") == "error: unknown user ana in account acme"


# --- item 1: the users view (turn in the rotation, assigned today) and the settings view -----------


def test_users_show_the_turn_in_the_rotation_and_what_each_got_today(
    helpdesk: Helpdesk, make_ticket: TicketFactory
) -> None:
    for user, role in [("olga", Role.OWNER), ("ana", Role.AGENT), ("ben", Role.AGENT), ("cara", Role.AGENT)]:
        helpdesk.save_user("acme", user, role, now=NOW)
    helpdesk.save_user("acme", "vic", Role.VIEWER, now=NOW)
    helpdesk.set_round_robin("acme", True, "olga", now=NOW)
    yesterday = NOW - timedelta(days=1)
    for agent in ("ana", "ben", "cara"):
        helpdesk.set_status("acme", agent, AgentStatus.ONLINE, now=yesterday)
    for _ in range(3):  # yesterday: ana, ben, cara
        helpdesk.engine.decide(make_ticket(created_at=yesterday), yesterday)
    helpdesk.set_status("acme", "cara", AgentStatus.OFFLINE, now=NOW)
    for _ in range(3):  # today: ana, ben, ana
        helpdesk.engine.decide(make_ticket(), NOW)

    views = {view.user_id: view for view in helpdesk.users("acme", now=NOW)}
    assert {user: (v.next_rank, v.assigned_today, v.assigned) for user, v in views.items()} == {
        "ana": (2, 2, 3),
        "ben": (1, 1, 2),
        "cara": (None, 0, 1),  # Offline: no turn, but keeps her place
        "olga": (None, 0, 0),
        "vic": (None, 0, 0),
    }
    assert views["cara"].place is not None and views["vic"].place is None
    assert [view.assigned_today for view in helpdesk.users("acme", now=yesterday)] == [1, 1, 1, 0, 0]


def _office(helpdesk: Helpdesk) -> None:
    helpdesk.save_user("acme", "olga", Role.OWNER, now=NOW)
    hours = OfficeHours.from_specs("America/New_York", ["mon-fri 09:00-17:00"], ["2026-11-25"])
    helpdesk.set_office_hours("acme", hours, "olga", now=NOW)


def test_settings_view_says_whether_webchat_is_open_and_when_it_next_opens(helpdesk: Helpdesk) -> None:
    _office(helpdesk)
    # NOW is Tuesday 15:00 UTC = 10:00 in New York: open
    view = helpdesk.settings_view("acme", now=NOW)
    assert (view.account_id, view.round_robin, view.open_now, view.next_opening, view.as_of) == (
        "acme", False, True, None, NOW
    )  # fmt: skip
    assert view.office_hours is not None and view.office_hours.timezone == "America/New_York"
    # Tuesday 23:00 UTC = 18:00 there; Wednesday is closed, so Thursday 09:00 (14:00 UTC)
    evening = helpdesk.settings_view("acme", now=NOW + timedelta(hours=8))
    assert (evening.open_now, evening.next_opening) == (False, NOW + timedelta(days=1, hours=23))


def test_settings_view_without_office_hours_is_always_open(helpdesk: Helpdesk) -> None:
    helpdesk.save_user("acme", "olga", Role.OWNER, now=NOW)
    helpdesk.set_round_robin("acme", True, "olga", now=NOW)
    view = helpdesk.settings_view("acme", now=NOW)
    assert (view.round_robin, view.office_hours, view.open_now, view.next_opening) == (True, None, True, None)


def test_settings_view_counts_the_waiting_tickets_against_the_ceiling(
    request: pytest.FixtureRequest, make_ticket: TicketFactory
) -> None:
    client: redis.Redis = request.getfixturevalue("fake_redis")
    helpdesk = Helpdesk.for_client(client, Settings(retention=Retention(max_waiting_tickets=7)))
    helpdesk.save_user("acme", "olga", Role.OWNER, now=NOW)
    for _ in range(2):
        helpdesk.engine.decide(make_ticket(), NOW)  # round robin off: both wait
    view = helpdesk.settings_view("acme", now=NOW)
    assert (view.waiting_tickets, view.max_waiting_tickets) == (2, 7)


def test_the_settings_view_has_every_setting_so_a_new_policy_shows_up_in_it() -> None:
    assert issubclass(SettingsView, AccountSettings)
    assert set(AccountSettings.model_fields) < set(SettingsView.model_fields)


def _staffed_cli(url: str) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")
    for agent in ("ana", "ben", "cara"):
        ok(url, "user", "acme", agent, "--role", "agent")
    ok(url, "round-robin", "acme", "on", "--actor", "olga")
    ok(url, "status", "acme", "ana", "online")
    ok(url, "status", "acme", "ben", "online")


def test_the_users_command_shows_who_is_next(url: str) -> None:
    _staffed_cli(url)
    ok(url, "ticket", "acme", "e1", "--channel", "email")
    ok(url, "worker", "--burst")
    lines = ok(url, "users", "acme").splitlines()
    rows = [UserView.model_validate_json(line) for line in ok(url, "users", "acme", "--json").splitlines()]
    beat = {row.user_id: utc_iso(row.last_heartbeat) for row in rows if row.last_heartbeat}  # going Online is one
    assert lines == [
        "USER  ROLE     STATUS   NEXT  TODAY  TOTAL  LOAD CAPACITY  LAST HEARTBEAT",
        "ana   agent    online      2      1      1     1        -  " + beat["ana"],
        "ben   agent    online      1      0      0     0        -  " + beat["ben"],
        "cara  agent    offline     -      0      0     0        -  -",
        "olga  owner    offline     -      0      0     0        -  -",
        "next ticket: ben, then ana",
    ]
    assert [(row.user_id, row.next_rank, row.assigned_today) for row in rows] == [
        ("ana", 2, 1), ("ben", 1, 0), ("cara", None, 0), ("olga", None, 0)
    ]  # fmt: skip


def test_the_users_command_says_when_nobody_is_online(url: str) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")
    assert ok(url, "users", "acme").splitlines()[-1] == "nobody is online: no ticket can be assigned now"


def test_the_settings_command_shows_round_robin_office_hours_and_the_ceiling(url: str) -> None:
    _staffed_cli(url)
    ok(url, "office-hours", "acme", "--timezone", "America/New_York", "--hours", "mon-fri 09:00-17:00",
       "--closed", "2026-12-25", "--actor", "olga")  # fmt: skip
    lines = settings_rows(ok(url, "settings", "acme"))
    assert lines["account"] == "acme" and lines["round robin"] == "on"
    assert lines["office hours"] == "America/New_York: mon-fri 09:00-17:00"
    assert lines["closed dates"] == "2026-12-25"
    assert lines["webchat"].startswith(("open now", "closed now; opens "))
    assert lines["as of"].endswith(" America/New_York)")
    assert lines["waiting"] == "0 ticket(s); at most 100000 (HELPDESK_RR_MAX_WAITING_TICKETS)"
    view = SettingsView.model_validate_json(ok(url, "settings", "acme", "--json"))
    assert view.round_robin and view.office_hours is not None and view.max_waiting_tickets == 100_000
    assert "America/New_York" not in json.dumps(view.model_dump(mode="json", exclude={"office_hours"}))


def settings_rows(output: str) -> dict[str, str]:
    """``settings`` lines are a 13-character name, a space and the value."""
    return {line[:13].strip(): line[14:] for line in output.splitlines()}


def test_the_settings_command_without_office_hours(url: str) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")
    rows = settings_rows(ok(url, "settings", "acme"))
    assert list(rows) == [
        "account", "round robin", "office hours", "capacity", "auto-assign", "presence", "reassign away", "unanswered",
        "webhooks", "as of", "waiting",
    ]  # fmt: skip
    assert rows["office hours"] == "none (webchat always open)" and rows["round robin"] == "off (new tickets wait)"
    assert rows["webhooks"] == "none set (webhook-secret ACCOUNT NAME set)"
    assert rows["as of"].endswith("Z")  # no zone to show


def test_users_and_settings_refuse_an_unknown_account(url: str) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")
    for command in ("users", "settings"):
        assert refused(url, command, "ghostco") == "error: unknown account 'ghostco'"
        assert refused(url, command, "ghostco", "--json") == "error: unknown account 'ghostco'"


# --- item 5: times in the account's zone next to UTC where a person reads them ----------------------

NEW_YORK = ZoneInfo("America/New_York")


def test_a_time_is_shown_in_utc_with_the_local_time_and_the_local_date_when_it_differs() -> None:
    moment = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert when(moment) == "2026-11-24T14:00:00.000Z"
    assert when(moment, NEW_YORK) == "2026-11-24T14:00:00.000Z (09:00 America/New_York)"
    late = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)
    assert when(late, NEW_YORK) == "2026-11-25T02:30:00.000Z (2026-11-24 21:30 America/New_York)"


def test_an_event_line_shows_its_times_in_the_zone() -> None:
    event = TicketUnassigned(
        account_id="acme",
        occurred_at=datetime(2026, 11, 24, 23, 0, tzinfo=UTC),
        ticket_id="w1",
        channel=Channel.WEBCHAT,
        reason=UnassignedReason.AFTER_HOURS,
        available_at=datetime(2026, 11, 25, 14, 0, tzinfo=UTC),
    )
    assert describe(event, NEW_YORK) == (
        "2026-11-24T23:00:00.000Z (18:00 America/New_York) ticket.unassigned  w1 (webchat): after_hours until "
        "2026-11-25T14:00:00.000Z (09:00 America/New_York)"
    )
    assert describe(event) == (
        "2026-11-24T23:00:00.000Z ticket.unassigned  w1 (webchat): after_hours until 2026-11-25T14:00:00.000Z"
    )


def test_local_times_follow_the_account_office_hours_as_they_change(helpdesk: Helpdesk) -> None:
    helpdesk.save_user("acme", "olga", Role.OWNER, now=NOW)
    helpdesk.set_round_robin("acme", True, "olga", now=NOW)
    local = LocalTimes(helpdesk)
    first = [local.describe(event) for _id, event in helpdesk.events("acme")]
    assert first == ['2026-11-24T15:00:00.000Z settings.changed   {"round_robin": "on"} by olga']
    _office(helpdesk)  # America/New_York, announced by a settings.changed event (as --follow sees it)
    _id, announced = helpdesk.events("acme")[-1]
    assert local.describe(announced).startswith("2026-11-24T15:00:00.000Z (10:00 America/New_York) settings.changed")
    assert local.zone("ghostco") is None  # an account nobody set up: UTC only


def _after_hours_ticket(url: str) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")
    ok(url, "round-robin", "acme", "on", "--actor", "olga")
    ok(url, "office-hours", "acme", "--timezone", "America/New_York", "--hours", "mon-fri 09:00-17:00",
       "--actor", "olga")  # fmt: skip
    ok(url, "ticket", "acme", "w1", "--channel", "webchat", "--created-at", "2026-11-24T23:00:00Z")
    ok(url, "worker", "--burst")


def test_unassigned_shows_local_times_next_to_utc_and_json_stays_utc(url: str) -> None:
    _after_hours_ticket(url)
    header, row = ok(url, "unassigned", "acme").splitlines()
    assert header.split() == ["TICKET", "CHANNEL", "REASON", "CREATED_AT", "AVAILABLE_AT"]
    assert row.split(None, 3)[3] == (
        "2026-11-24T23:00:00.000Z (18:00 America/New_York)  2026-11-25T14:00:00.000Z (09:00 America/New_York)"
    )
    assert header.index("AVAILABLE_AT") == row.index("2026-11-25T14")  # the columns line up
    as_json = json.loads(ok(url, "unassigned", "acme", "--json"))
    assert (as_json["created_at"], as_json["available_at"]) == ("2026-11-24T23:00:00.000Z", "2026-11-25T14:00:00.000Z")


def test_unassigned_without_office_hours_shows_utc_only(url: str) -> None:
    ok(url, "user", "acme", "olga", "--role", "owner")
    ok(url, "ticket", "acme", "e1", "--channel", "email", "--created-at", "2026-11-24T23:00:00Z")
    ok(url, "worker", "--burst")
    header, row = ok(url, "unassigned", "acme").splitlines()
    assert row.split() == ["e1", "email", "round_robin_off", "2026-11-24T23:00:00.000Z", "-"]
    assert header.index("AVAILABLE_AT") == row.rindex("-")


def test_events_show_local_times_next_to_utc_and_json_stays_utc(url: str) -> None:
    _after_hours_ticket(url)
    last = ok(url, "events", "acme").splitlines()[-1]
    until = "after_hours until 2026-11-25T14:00:00.000Z (09:00 America/New_York)"
    assert last.endswith(f"ticket.unassigned  w1 (webchat): {until}")
    assert last.split(" ticket.")[0].endswith(" America/New_York)")
    for line in ok(url, "events", "acme", "--json").splitlines():
        assert "America/New_York)" not in line
        parse_event(line)


def test_events_of_every_account_show_each_account_zone(url: str) -> None:
    _after_hours_ticket(url)
    ok(url, "user", "globex", "gus", "--role", "owner")
    ok(url, "round-robin", "globex", "on", "--actor", "gus")
    ok(url, "events", "--all", "--group", "views", "--from-start")  # the group starts at the oldest event
    ok(url, "round-robin", "acme", "off", "--actor", "olga")
    ok(url, "round-robin", "globex", "off", "--actor", "gus")
    lines = ok(url, "events", "--all", "--group", "views").splitlines()
    assert len(lines) == 2
    (acme,) = [line for line in lines if "by olga" in line]
    (globex,) = [line for line in lines if "by gus" in line]
    assert "America/New_York) settings.changed" in acme and "Z settings.changed" in globex


def test_the_demo_story_shows_times_in_the_account_zone(real_redis: redis.Redis) -> None:
    lines: list[str] = []
    run_demo(Helpdesk.for_client(real_redis), "demo", echo=lines.append)
    events = [line for line in lines if " ticket." in line or " agent.status " in line]
    assert events and all(" America/New_York) " in line for line in events)
    waiting = [line for line in lines if "after_hours until" in line]
    assert waiting and all(line.endswith(" America/New_York)") for line in waiting)
