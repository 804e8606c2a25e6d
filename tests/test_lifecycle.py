"""Closing and reopening tickets, and agents' load (issue 15): on a real Redis and on fakeredis."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from schemas.common import AgentStatus, utc_iso
from schemas.events import TicketClosed, TicketReopened
from tests.support.accounts import NOW, TicketFactory, setup_account
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.core.scripts import day_of
from worker.errors import UnknownAccount

KEYS = AccountKeys.for_account("acme")


def loads(engine: Engine) -> dict[str, int]:
    return {user.user_id: user.load for user in Queries(engine.client).users("acme") if user.load}


def lifecycle_events(client: redis.Redis) -> list[tuple[str, str, str | None]]:
    return [
        (event.type, event.ticket_id, event.agent_id)
        for _, event in Queries(client).events("acme")
        if isinstance(event, TicketClosed | TicketReopened)
    ]


def test_assignment_adds_load_close_removes_it_reopen_adds_it_back(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    for ticket_id in ("t1", "t2", "t3"):
        engine.decide(make_ticket(ticket_id=ticket_id), NOW)
    assert loads(engine) == {"ana": 2, "ben": 1}
    closed = engine.close_ticket("acme", "t1", NOW)
    assert (closed.changed, closed.agent_id) == (True, "ana")
    assert loads(engine) == {"ana": 1, "ben": 1}
    assert engine.reopen_ticket("acme", "t1", NOW).changed is True
    assert loads(engine) == {"ana": 2, "ben": 1}
    assert lifecycle_events(client) == [("ticket.closed", "t1", "ana"), ("ticket.reopened", "t1", "ana")]


def test_closing_or_reopening_twice_changes_nothing_the_second_time(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="t1"), NOW)
    assert engine.close_ticket("acme", "t1", NOW).changed is True
    assert engine.close_ticket("acme", "t1", NOW).changed is False
    assert loads(engine) == {}
    assert engine.reopen_ticket("acme", "t1", NOW).changed is True
    assert engine.reopen_ticket("acme", "t1", NOW).changed is False
    assert loads(engine) == {"ana": 1}
    assert [e[0] for e in lifecycle_events(client)] == ["ticket.closed", "ticket.reopened"]


def test_closing_a_waiting_ticket_takes_it_out_of_the_unassigned_set_and_its_depth(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine)
    engine.decide(make_ticket(ticket_id="t1"), NOW)
    assert client.zcard(KEYS.unassigned) == 1
    assert engine.close_ticket("acme", "t1", NOW).agent_id is None
    assert client.zcard(KEYS.unassigned) == 0
    assert client.hget(KEYS.uq_depth, "email:no_agent_online") == b"0"
    engine.reopen_ticket("acme", "t1", NOW)
    assert client.zrange(KEYS.unassigned, 0, -1) == [b"t1"]
    assert client.hget(KEYS.uq_depth, "email:no_agent_online") == b"1"
    assert lifecycle_events(client) == [("ticket.closed", "t1", None), ("ticket.reopened", "t1", None)]


def test_a_redelivered_closed_waiting_ticket_is_not_assigned(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine)
    ticket = make_ticket(ticket_id="t1")
    engine.decide(ticket, NOW)
    engine.close_ticket("acme", "t1", NOW)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    decision = engine.decide(ticket, NOW)
    assert (decision.outcome, decision.duplicate) == ("unassigned", True)
    assert loads(engine) == {}


def test_a_close_before_its_ticket_is_kept_and_the_ticket_is_never_assigned(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    assert engine.close_ticket("acme", "late", NOW).changed is True
    decision = engine.decide(make_ticket(ticket_id="late"), NOW + timedelta(seconds=1))
    assert (decision.outcome, decision.reason, decision.agent_id) == ("unassigned", "closed", None)
    assert client.zcard(KEYS.unassigned) == 0
    assert loads(engine) == {}
    assert engine.decide(make_ticket(ticket_id="late"), NOW).duplicate is True
    # Reopened, it waits for a person (or a bulk job), never taken by round robin behind their back.
    engine.reopen_ticket("acme", "late", NOW)
    assert client.zrange(KEYS.unassigned, 0, -1) == [b"late"]
    assert client.hget(KEYS.ticket("late"), "reason") == b"reopened"


def test_reopening_a_close_that_came_first_forgets_it(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.close_ticket("acme", "early", NOW)
    assert engine.reopen_ticket("acme", "early", NOW).changed is True
    assert engine.decide(make_ticket(ticket_id="early"), NOW).agent_id == "ana"


def test_reopening_a_ticket_never_closed_changes_nothing(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    assert engine.reopen_ticket("acme", "nope", NOW).changed is False
    assert not client.exists(KEYS.ticket("nope"))
    assert lifecycle_events(client) == []


@pytest.mark.parametrize("action", ["close_ticket", "reopen_ticket"])
def test_an_unknown_account_is_refused(engine: Engine, client: redis.Redis, action: str) -> None:
    with pytest.raises(UnknownAccount, match="ghostco"):
        getattr(engine, action)("ghostco", "t1", NOW)
    assert client.dbsize() == 0


def test_bulk_skips_a_closed_ticket_counts_it_and_moves_load(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    for ticket_id in ("t1", "t2"):
        engine.decide(make_ticket(ticket_id=ticket_id), NOW)
    engine.close_ticket("acme", "t2", NOW)
    engine.close_ticket("acme", "never-seen", NOW)
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    engine.set_team("acme", "billing", ["ben"], "max", NOW)
    reply = engine.scripts.bulk_assign(KEYS, "billing", "job1", ["t1", "t2", "never-seen"], 0, NOW)
    assert (reply.assigned, reply.closed, reply.unknown) == (1, 2, 0)
    assert client.hget(KEYS.ticket("t2"), "agent_id") == b"ana"
    assert loads(engine) == {"ben": 1}


def test_load_never_goes_below_zero_for_tickets_assigned_before_load_was_tracked(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="t1"), NOW)
    client.delete(KEYS.load)  # as after an upgrade: the assignment predates the load hash
    assert engine.close_ticket("acme", "t1", NOW).agent_id == "ana"
    assert client.hget(KEYS.load, "ana") == b"0"
    assert loads(engine) == {}


def test_a_late_close_is_dated_when_it_happened_but_counted_when_it_was_processed(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine)
    engine.decide(make_ticket(ticket_id="t1"), NOW)
    long_ago = NOW - timedelta(days=10)
    engine.close_ticket("acme", "t1", NOW, at=long_ago)
    (closed,) = [event for _, event in Queries(client).events("acme") if isinstance(event, TicketClosed)]
    assert closed.occurred_at == long_ago
    assert client.hget(KEYS.ticket("t1"), "closed_at") == utc_iso(long_ago).encode()
    assert not client.exists(KEYS.stats(day_of(long_ago)))  # no past day revived or rewritten
    assert client.exists(KEYS.stats(day_of(NOW)))
