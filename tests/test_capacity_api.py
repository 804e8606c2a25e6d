"""Issue 15 through the control API: ``Helpdesk.set_capacity`` / ``set_auto_assign``, the releases the
Helpdesk's engine rings (enqueued on the account's queue, run by ``drain``), the refusals, and capacity in
``users`` and ``settings``. Real Redis and fakeredis, like the other API tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import redis

from producers.queue import PROCESS_RELEASE, ticket_queue
from schemas.common import AgentStatus, AssignedReason, Role, utc_iso
from schemas.events import TicketAssigned, Toast
from tests.support.accounts import NOW
from tests.support.snapshots import snapshot
from worker.api import Forbidden, Helpdesk, InvalidInput, Refused, UnknownAccount, UnknownUser

pytestmark = pytest.mark.engine

NO_CAP = (
    "account acme has no capacity: without a cap the first agent Online would take the whole waiting queue; "
    "set one first (helpdesk-rr capacity)"
)
CLEAR_WHILE_ON = (
    "auto-assign is on: without an account capacity the first agent Online would take the whole waiting queue; "
    "turn auto-assign off first"
)


@pytest.fixture(params=["real", "fake"])
def helpdesk(request: pytest.FixtureRequest) -> Helpdesk:
    client: redis.Redis = request.getfixturevalue("real_redis" if request.param == "real" else "fake_redis")
    helpdesk = Helpdesk.for_client(client)
    for user, role in [("max", Role.MANAGER), ("ana", Role.AGENT), ("ben", Role.AGENT), ("vic", Role.VIEWER)]:
        helpdesk.save_user("acme", user, role, now=NOW)
    helpdesk.set_round_robin("acme", True, "max", now=NOW)
    return helpdesk


def queued_releases(helpdesk: Helpdesk) -> list[str]:
    """The account ids of the release jobs waiting on the account's queue."""
    jobs = ticket_queue(helpdesk.queue_for("acme")).get_jobs()
    return [job.args[0]["account_id"] for job in jobs if job.func_name == PROCESS_RELEASE]


def waiting_tickets(helpdesk: Helpdesk, count: int) -> None:
    """``count`` tickets T1… (oldest first) decided while nobody is Online: they wait (``no_agent_online``)."""
    for number in range(1, count + 1):
        created = utc_iso(NOW + timedelta(seconds=number))
        fields = {"account_id": "acme", "ticket_id": f"T{number}", "channel": "email", "created_at": created}
        helpdesk.submit_ticket(fields, now=NOW + timedelta(minutes=1))
    helpdesk.drain()
    assert [row.ticket_id for row in helpdesk.unassigned("acme")] == [f"T{n}" for n in range(1, count + 1)]


def test_turning_auto_assign_on_enqueues_a_release_and_drain_assigns_the_oldest_up_to_capacity(
    helpdesk: Helpdesk,
) -> None:
    assert helpdesk.set_capacity("acme", 2, "max", now=NOW) is True
    waiting_tickets(helpdesk, 3)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)  # auto-assign off: nothing rings
    assert queued_releases(helpdesk) == []

    assert helpdesk.set_auto_assign("acme", True, "max", now=NOW) is True
    assert queued_releases(helpdesk) == ["acme"]
    assert helpdesk.drain() is True

    events = [event for _id, event in helpdesk.events("acme")]
    assigned = [(e.ticket_id, e.agent_id, e.reason) for e in events if isinstance(e, TicketAssigned)]
    assert assigned == [("T1", "ana", AssignedReason.WAITING_QUEUE), ("T2", "ana", AssignedReason.WAITING_QUEUE)]
    toasts = [(e.user_id, e.text, e.ticket_ids) for e in events if isinstance(e, Toast)]
    assert toasts == [("ana", "2 waiting tickets assigned to you", ["T1", "T2"])]
    assert [row.ticket_id for row in helpdesk.unassigned("acme")] == ["T3"]  # ana is at capacity
    ana = {view.user_id: view for view in helpdesk.users("acme")}["ana"]
    assert (ana.load, ana.capacity, ana.capacity_override) == (2, 2, False)


def test_every_verb_of_the_helpdesk_rings_the_release_it_makes_room_for(helpdesk: Helpdesk) -> None:
    helpdesk.set_capacity("acme", 1, "max", now=NOW)
    waiting_tickets(helpdesk, 2)
    assert helpdesk.set_auto_assign("acme", True, "max", now=NOW) is True
    assert queued_releases(helpdesk) == []  # tickets wait but nobody has room: nothing to release yet
    helpdesk.set_status("acme", "ben", AgentStatus.ONLINE, now=NOW)
    assert queued_releases(helpdesk) == ["acme"]
    helpdesk.drain()
    assert [row.ticket_id for row in helpdesk.unassigned("acme")] == ["T2"]
    assert helpdesk.set_capacity("acme", 2, "max", agent_id="ben", now=NOW) is True  # room for one more
    assert queued_releases(helpdesk) == ["acme"]
    helpdesk.drain()
    assert helpdesk.unassigned("acme") == []


def test_auto_assign_without_a_capacity_is_refused_and_changes_nothing(helpdesk: Helpdesk) -> None:
    helpdesk.set_capacity("acme", 3, "max", agent_id="ana", now=NOW)  # an override is not the account's cap
    before = snapshot(helpdesk.state)
    with pytest.raises(Refused) as refusal:
        helpdesk.set_auto_assign("acme", True, "max", now=NOW)
    assert str(refusal.value) == NO_CAP
    assert snapshot(helpdesk.state) == before
    assert helpdesk.settings("acme").auto_assign is False


def test_the_account_capacity_cannot_be_cleared_while_auto_assign_is_on(helpdesk: Helpdesk) -> None:
    helpdesk.set_capacity("acme", 3, "max", now=NOW)
    helpdesk.set_auto_assign("acme", True, "max", now=NOW)
    before = snapshot(helpdesk.state)
    with pytest.raises(Refused) as refusal:
        helpdesk.set_capacity("acme", None, "max", now=NOW)
    assert str(refusal.value) == CLEAR_WHILE_ON
    assert snapshot(helpdesk.state) == before
    assert helpdesk.set_auto_assign("acme", False, "max", now=NOW) is True
    assert helpdesk.set_capacity("acme", None, "max", now=NOW) is True
    assert helpdesk.settings("acme").capacity is None


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda h: h.set_capacity("acme", 3, "ana", now=NOW),
            Forbidden,
            "ana is an agent; only owner, admin or manager",
        ),
        (
            lambda h: h.set_capacity("acme", 3, "vic", now=NOW),
            Forbidden,
            "vic is a viewer; only owner, admin or manager",
        ),
        (lambda h: h.set_auto_assign("acme", True, "ana", now=NOW), Forbidden, "ana is an agent; only owner"),
        (lambda h: h.set_capacity("acme", 2, "max", agent_id="vic", now=NOW), Forbidden, "only agents and higher"),
        (lambda h: h.set_capacity("acme", 3, "ghost", now=NOW), UnknownUser, "unknown user ghost in account acme"),
        (lambda h: h.set_capacity("acme", 0, "max", now=NOW), InvalidInput, r"at least 1, e.g. 5 \(got 0\)"),
        (lambda h: h.set_capacity("acme", True, "max", now=NOW), InvalidInput, r"\(got true\)"),
        (lambda h: h.set_capacity("acme", "5", "max", now=NOW), InvalidInput, r"\(got '5'\)"),
        (lambda h: h.set_capacity("acme", 3, "max", agent_id="a:b", now=NOW), InvalidInput, "agent: 'a:b'"),
        (lambda h: h.set_auto_assign("acme", "off", "max", now=NOW), InvalidInput, r"true or false \(got 'off'\)"),
        (lambda h: h.set_capacity("ghostco", 3, "max", now=NOW), UnknownAccount, "^unknown account 'ghostco'$"),
        (lambda h: h.set_auto_assign("ghostco", False, "max", now=NOW), UnknownAccount, "^unknown account 'ghostco'$"),
    ],
    ids=[
        "agent",
        "viewer",
        "auto-agent",
        "viewer-target",
        "ghost",
        "zero",
        "bool",
        "text",
        "bad-id",
        "on-text",
        "ghostco-cap",
        "ghostco-auto",
    ],  # fmt: skip
)
def test_refusals_are_typed_one_line_and_change_nothing(
    helpdesk: Helpdesk, call: Callable[[Helpdesk], object], error: type[Exception], message: str
) -> None:
    helpdesk.set_capacity("acme", 2, "max", now=NOW)
    before = snapshot(helpdesk.state)
    with pytest.raises(error, match=message):
        call(helpdesk)
    assert snapshot(helpdesk.state) == before


def test_setting_what_is_set_changes_nothing(helpdesk: Helpdesk) -> None:
    assert helpdesk.set_capacity("acme", 2, "max", now=NOW) is True
    assert helpdesk.set_capacity("acme", 2, "max", now=NOW) is False
    assert helpdesk.set_capacity("acme", 1, "max", agent_id="ben", now=NOW) is True
    assert helpdesk.set_capacity("acme", 1, "max", agent_id="ben", now=NOW) is False
    assert helpdesk.set_capacity("acme", None, "max", agent_id="ana", now=NOW) is False  # none to clear
    assert helpdesk.set_auto_assign("acme", False, "max", now=NOW) is False
    assert helpdesk.set_auto_assign("acme", True, "max", now=NOW) is True
    assert helpdesk.set_auto_assign("acme", True, "max", now=NOW) is False


def test_users_show_the_effective_capacity_and_whether_it_is_an_override(helpdesk: Helpdesk) -> None:
    no_limit = {view.user_id: (view.capacity, view.capacity_override) for view in helpdesk.users("acme")}
    assert set(no_limit.values()) == {(None, False)}
    helpdesk.set_capacity("acme", 1, "max", agent_id="ben", now=NOW)  # an override with no account value
    helpdesk.save_user("acme", "vic", Role.VIEWER, now=NOW)
    views = {view.user_id: (view.capacity, view.capacity_override) for view in helpdesk.users("acme")}
    assert views == {"ana": (None, False), "ben": (1, True), "max": (None, False), "vic": (None, False)}
    helpdesk.set_capacity("acme", 4, "max", now=NOW)
    views = {view.user_id: (view.capacity, view.capacity_override) for view in helpdesk.users("acme")}
    assert views == {"ana": (4, False), "ben": (1, True), "max": (4, False), "vic": (None, False)}


def test_settings_show_capacity_the_overrides_and_auto_assign(helpdesk: Helpdesk) -> None:
    settings = helpdesk.settings("acme")
    assert (settings.capacity, settings.agent_capacities, settings.auto_assign) == (None, {}, False)
    helpdesk.set_capacity("acme", 5, "max", now=NOW)
    helpdesk.set_capacity("acme", 2, "max", agent_id="ben", now=NOW)
    helpdesk.set_capacity("acme", 7, "max", agent_id="ana", now=NOW)
    helpdesk.set_auto_assign("acme", True, "max", now=NOW)
    view = helpdesk.settings_view("acme", now=NOW)
    assert (view.capacity, view.agent_capacities, view.auto_assign) == (5, {"ana": 7, "ben": 2}, True)
    assert list(view.agent_capacities) == ["ana", "ben"]  # by user id
