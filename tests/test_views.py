"""Issue 14, views and feedback: ``users`` and ``settings`` views, unknown accounts named as such, times
in the account's zone next to UTC, and "(unchanged)" when a user is saved with the role they have."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from schemas.common import AgentStatus, Role
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW
from tests.support.cli import ok, refused
from tests.support.snapshots import snapshot
from worker.api import Helpdesk, UnknownAccount, UnknownUser

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
