"""Issue 16's rules (parts 2-4) once for certain, through the model-based test's harness: every call is compared
with the reference model (result, events, releases rung) and every ``check_views`` checks the pools, the
per-channel waiting zsets, ``unanswered_due``, ``offline_since``, loads and ``ready`` (tests/support/model_checks.py).
The machines of tests/test_model_based.py draw these at random; these plain tests make sure each rule is hit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from schemas.common import AgentStatus, Channel
from tests.test_model_based import NOW, EngineHarness, capped_account, ticket_created
from worker.core.keys import AccountKeys


@pytest.fixture
def harness(client: redis.Redis) -> EngineHarness:
    return EngineHarness(client)


def assigned(h: EngineHarness, ticket_id: str) -> tuple[str, str | None, str]:
    """The last ``ticket.assigned`` of ``ticket_id``: (agent, previous agent, reason)."""
    found = [e for _, e in h.queries.events("acme") if e.type == "ticket.assigned" and e.ticket_id == ticket_id]
    last = found[-1]
    return last.agent_id, last.previous_agent_id, last.reason.value


def test_an_away_assignee_past_the_grace_loses_the_ticket_to_waiting_for_its_channel_and_the_release_names_them(
    harness: EngineHarness,
) -> None:
    """Reassign-away with a grace: a reply before the grace has passed keeps the ticket; after it, nobody else
    takes email (ben takes sms only): the ticket waits ``no_agent_for_channel`` in ``waiting:email``; once ben
    takes every channel, the release gives it to him with ``previous_agent_id`` ana."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=2, auto_assign=True)
    h.call("set_agent_channels", "acme", "ben", ("sms",), "max", NOW)
    assert h.decide(ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.call("set_reassign_away", "acme", True, 60, "max", NOW)
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert h.customer_reply("acme", "t1", NOW + timedelta(seconds=59), NOW + timedelta(seconds=70)) == "kept"
    assert h.customer_reply("acme", "t1", NOW + timedelta(seconds=59), NOW + timedelta(seconds=71)) == "duplicate"
    assert h.customer_reply("acme", "t1", NOW + timedelta(seconds=60), NOW + timedelta(seconds=72)) == "waiting"
    assert [(r.ticket_id, r.reason) for r in h.model.unassigned("acme")] == [("t1", "no_agent_for_channel")]
    h.check_views()
    keys = AccountKeys.for_account("acme")
    assert h.client.zrange(keys.waiting_channel("email"), 0, -1) == [b"t1"]
    h.call("set_agent_channels", "acme", "ben", None, "max", NOW)  # the last restriction: pools off, rings
    assert h.queued == ["acme"]
    assert h.release("acme", NOW + timedelta(minutes=2)) == ("acme", 1, 1)
    assert assigned(h, "t1") == ("ben", "ana", "waiting_queue")
    h.check_views()


def test_an_away_assignee_loses_the_ticket_to_the_next_agent_and_a_reopen_counts_as_a_reply(
    harness: EngineHarness,
) -> None:
    h = harness
    capped_account(h, ["ana", "ben", "cara"], capacity=3, auto_assign=False)
    h.call("set_reassign_away", "acme", True, 0, "max", NOW)
    for n in range(3):
        h.decide(ticket_created("acme", f"t{n}", Channel.EMAIL, NOW, NOW), NOW)  # ana, ben, cara
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert h.customer_reply("acme", "t0", NOW - timedelta(seconds=1), NOW) == "kept"  # written before she left
    assert h.customer_reply("acme", "t0", NOW, NOW) == "reassigned"
    assert assigned(h, "t0") == ("ben", "ana", "assignee_away")
    h.call("set_status", "acme", "cara", AgentStatus.OFFLINE, "cara", NOW)
    h.lifecycle("close_ticket", "acme", "t2", NOW)
    h.lifecycle("reopen_ticket", "acme", "t2", NOW + timedelta(seconds=1))
    assert assigned(h, "t2") == ("ben", "cara", "assignee_away")  # ben is the only one Online (not skipped)
    h.call("set_reassign_away", "acme", False, 0, "max", NOW)
    h.call("set_status", "acme", "ben", AgentStatus.OFFLINE, "ben", NOW)
    assert h.customer_reply("acme", "t1", NOW + timedelta(hours=1), NOW + timedelta(hours=1)) == "kept"  # off
    h.check_views()


def test_an_unanswered_ticket_goes_to_the_next_agent_once_and_stays_when_nobody_else_is_there(
    harness: EngineHarness,
) -> None:
    """Reassign-unanswered (60 s, max 1): the sweep a millisecond early does nothing; at the due time the ticket
    goes to the next agent, skipping its assignee, and is not filed again (max 1); a first reply cancels a
    timer; with nobody else Online the ticket stays and its timer is filed again at now + 60 s; a bulk
    assignment is never reassigned for no first reply (its timer is dropped)."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=5, auto_assign=False)
    h.call("set_reassign_unanswered", "acme", 60, 1, "max", NOW)
    h.call("set_team", "acme", "billing", ["ana"], "max", NOW)
    h.decide(ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW), NOW)  # ana
    assert h.sweep_unanswered(NOW + timedelta(seconds=60) - timedelta(milliseconds=1)) == []
    assert h.sweep_unanswered(NOW + timedelta(seconds=60)) == [("acme", "t1", "ben")]
    assert assigned(h, "t1") == ("ben", "ana", "no_first_reply")
    assert h.model.unanswered_due() == {}  # max 1: not filed again
    later = NOW + timedelta(minutes=5)
    h.decide(ticket_created("acme", "t2", Channel.EMAIL, later, later), later)  # ana
    h.first_reply("acme", "t2", "ana", later + timedelta(seconds=10))
    h.decide(ticket_created("acme", "t3", Channel.EMAIL, later, later), later)  # ben
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", later)
    due = later + timedelta(seconds=60)
    assert h.sweep_unanswered(due) == []  # nobody else: t3 stays with ben
    assert h.model.unanswered_due() == {"acme t3": int((due + timedelta(seconds=60)).timestamp() * 1000)}
    h.check_views()
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "ana", due)
    h.bulk_assign("acme", "billing", "max", ["t3"], due)  # to ana: a manager's act
    assert h.sweep_unanswered(due + timedelta(minutes=5)) == []  # dropped, not reassigned
    assert h.model.unanswered_due() == {}
    h.check_views()


def test_a_ticket_goes_to_the_least_recently_assigned_agent_for_its_channel_and_waits_without_blocking_others(
    harness: EngineHarness,
) -> None:
    """Pools: ana takes email, ben sms, cara everything (one rotation). Nobody for social but cara, at capacity:
    ``all_agents_at_capacity``; social with cara Offline: ``no_agent_for_channel``; the release takes the newer
    email ticket past the older social one nobody can take (no head-of-line blocking); a new email ticket
    waits behind the older email one only (``older_tickets_waiting`` per channel)."""
    h = harness
    capped_account(h, ["ana", "ben", "cara"], capacity=1, auto_assign=True)
    h.call("set_agent_channels", "acme", "ana", ("email",), "max", NOW)
    h.call("set_agent_channels", "acme", "ben", ("sms",), "max", NOW)
    assert h.decide(ticket_created("acme", "s1", Channel.SMS, NOW, NOW), NOW).agent_id == "ben"
    assert h.decide(ticket_created("acme", "x1", Channel.SOCIAL, NOW, NOW), NOW).agent_id == "cara"
    social = h.decide(ticket_created("acme", "x2", Channel.SOCIAL, NOW, NOW), NOW)
    assert social.reason == "all_agents_at_capacity"
    assert h.decide(ticket_created("acme", "e1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.call("set_status", "acme", "cara", AgentStatus.OFFLINE, "cara", NOW)
    later = NOW + timedelta(minutes=1)
    social = h.decide(ticket_created("acme", "x3", Channel.SOCIAL, later, later), later)
    assert social.reason == "no_agent_for_channel"
    e2 = h.decide(ticket_created("acme", "e2", Channel.EMAIL, later, later), later)
    assert e2.reason == "all_agents_at_capacity"
    h.lifecycle("close_ticket", "acme", "e1", later)  # ana has room: rings
    e3 = h.decide(ticket_created("acme", "e3", Channel.EMAIL, later, later), later)
    assert e3.reason == "older_tickets_waiting"  # behind e2, not behind the older social x2
    assert h.release("acme", later) == ("acme", 1, 1)
    assert assigned(h, "e2") == ("ana", None, "waiting_queue")
    assert [r.ticket_id for r in h.model.unassigned("acme")] == ["x2", "e3", "x3"]  # same time: by id
    h.check_views()


def test_an_unanswered_reassignment_that_gives_its_assignee_room_rings_the_release(harness: EngineHarness) -> None:
    """Pools and capacity 1: ana took an email ticket, then was restricted to sms; an sms ticket waits for her
    (ben takes email only). When her email ticket goes to ben for no first reply, she has room for the sms
    ticket: a release is owed, as after a close."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=1, auto_assign=True)
    h.call("set_reassign_unanswered", "acme", 60, 1, "max", NOW)
    h.call("set_agent_channels", "acme", "ben", ("email",), "max", NOW)
    h.call("set_status", "acme", "ben", AgentStatus.OFFLINE, "ben", NOW)
    assert h.decide(ticket_created("acme", "e1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.call("set_agent_channels", "acme", "ana", ("sms",), "max", NOW)
    assert h.decide(ticket_created("acme", "s1", Channel.SMS, NOW, NOW), NOW).reason == "all_agents_at_capacity"
    h.call("set_status", "acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    assert h.queued == ["acme"]  # ring_release's one test: tickets wait and someone has room
    assert h.release(h.queued.pop(), NOW) == ("acme", 0, 0)  # ben takes no sms: nothing to do
    assert h.sweep_unanswered(NOW + timedelta(seconds=60)) == [("acme", "e1", "ben")]
    assert h.queued == ["acme"]  # before the fix: nothing rang, and s1 waited while ana had room
    assert h.release(h.queued.pop(), NOW + timedelta(seconds=61)) == ("acme", 1, 1)
    assert assigned(h, "s1") == ("ana", None, "waiting_queue")
    h.check_views()
