"""Capacity (issue 15): round robin only picks agents below their capacity, agents at capacity keep their
place, bulk ignores capacity but says whom it left above it. On a real Redis and on fakeredis."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from schemas.common import AgentStatus, Role
from schemas.events import SettingsChanged, TicketAssigned
from tests.support.accounts import NOW, TicketFactory, setup_account
from worker.core.capacity import agents_above_capacity
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.core.text import text
from worker.errors import Forbidden, InvalidInput, Refused, UnknownUser

KEYS = AccountKeys.for_account("acme")


def ready(client: redis.Redis) -> list[str]:
    return [text(agent) for agent in client.zrange(KEYS.ready, 0, -1)]


def decide_many(engine: Engine, make_ticket: TicketFactory, count: int, start: int = 1) -> list[tuple[str, str]]:
    """Decide ``count`` tickets a second apart; returns (agent or reason) per ticket."""
    outcomes = []
    for n in range(start, start + count):
        ticket = make_ticket(ticket_id=f"t{n}", created_at=NOW - timedelta(hours=1) + timedelta(seconds=n))
        decision = engine.decide(ticket, NOW)
        outcomes.append((ticket.ticket_id, decision.agent_id or decision.reason))
    return outcomes


def test_round_robin_skips_agents_at_capacity_who_keep_their_place(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    assert engine.set_capacity("acme", 2, "max", NOW) is True
    assert [who for _, who in decide_many(engine, make_ticket, 5)] == [
        "ana",
        "ben",
        "ana",
        "ben",
        "all_agents_at_capacity",
    ]
    assert ready(client) == []
    engine.close_ticket("acme", "t2", NOW)  # ben's
    assert ready(client) == ["ben"]
    assert [who for _, who in decide_many(engine, make_ticket, 1, start=6)] == ["ben"]
    engine.close_ticket("acme", "t1", NOW)  # ana's: she was passed over, so she is next when she has room
    engine.close_ticket("acme", "t4", NOW)  # ben's
    assert [who for _, who in decide_many(engine, make_ticket, 2, start=7)] == ["ana", "ben"]


def test_an_override_caps_one_agent_and_clearing_it_falls_back_to_the_account_value(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_capacity("acme", 3, "max", NOW)
    assert engine.set_capacity("acme", 1, "max", NOW, agent_id="ana") is True
    outcomes = [who for _, who in decide_many(engine, make_ticket, 5)]
    assert outcomes == ["ana", "ben", "ben", "ben", "all_agents_at_capacity"]
    assert engine.set_capacity("acme", None, "max", NOW, agent_id="ana") is True  # back to 3: room again
    assert ready(client) == ["ana"]
    assert engine.set_capacity("acme", None, "max", NOW, agent_id="ana") is False  # nothing to clear


def test_an_override_alone_caps_only_that_agent(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_capacity("acme", 1, "max", NOW, agent_id="ana")
    assert [who for _, who in decide_many(engine, make_ticket, 4)] == ["ana", "ben", "ben", "ben"]


def test_without_capacity_round_robin_is_the_seeds(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    assert [who for _, who in decide_many(engine, make_ticket, 4)] == ["ana", "ben", "ana", "ben"]
    assert not client.exists(KEYS.ready, KEYS.capacity)
    engine.set_capacity("acme", 5, "max", NOW)
    engine.set_capacity("acme", None, "max", NOW)  # the last capacity cleared: nothing capped, no ready set
    assert not client.exists(KEYS.ready, KEYS.capacity)
    assert [who for _, who in decide_many(engine, make_ticket, 2, start=5)] == ["ana", "ben"]


def test_nobody_online_is_still_no_agent_online_with_capacity(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine)
    engine.set_capacity("acme", 2, "max", NOW)
    assert [who for _, who in decide_many(engine, make_ticket, 1)] == ["no_agent_online"]


def test_the_ready_set_follows_status_role_and_capacity(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_capacity("acme", 1, "max", NOW)
    assert ready(client) == ["ana", "ben"]
    decide_many(engine, make_ticket, 1)  # ana is full
    assert ready(client) == ["ben"]
    engine.set_status("acme", "ben", AgentStatus.OFFLINE, "ben", NOW)
    assert ready(client) == []
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    assert ready(client) == ["ben"]
    engine.upsert_user("acme", "ben", Role.VIEWER, NOW)  # a demotion takes him Offline, and out of ready
    assert ready(client) == []
    engine.set_capacity("acme", 2, "max", NOW)  # raising the account's value rebuilds ready
    assert ready(client) == ["ana"]


def test_capacity_changes_are_settings_events_and_need_a_manager(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    engine.upsert_user("acme", "vic", Role.VIEWER, NOW)
    with pytest.raises(Forbidden, match="ana is an agent; only owner, admin or manager may set capacity"):
        engine.set_capacity("acme", 3, "ana", NOW)
    with pytest.raises(Forbidden, match="vic is a viewer"):
        engine.set_capacity("acme", 3, "max", NOW, agent_id="vic")
    with pytest.raises(UnknownUser):
        engine.set_capacity("acme", 3, "max", NOW, agent_id="ghost")
    for bad in (0, -1, True):
        with pytest.raises(InvalidInput, match="at least 1"):
            engine.set_capacity("acme", bad, "max", NOW)
    assert not client.exists(KEYS.capacity)
    engine.set_capacity("acme", 3, "max", NOW)
    assert engine.set_capacity("acme", 3, "max", NOW) is False  # the same again: no event
    engine.set_capacity("acme", 1, "max", NOW, agent_id="ana")
    engine.set_capacity("acme", None, "max", NOW)
    changes = [event.changes for _, event in Queries(client).events("acme") if isinstance(event, SettingsChanged)]
    assert changes[-3:] == [
        {"capacity": 3},
        {"agent_capacity": {"user_id": "ana", "capacity": 1}},
        {"capacity": None},
    ]


def test_auto_assign_needs_an_account_capacity_which_then_cannot_be_cleared(engine: Engine) -> None:
    setup_account(engine)
    engine.set_capacity("acme", 1, "max", NOW, agent_id="ana")  # an override is not the account's cap
    with pytest.raises(Refused, match="the first agent Online would take the whole waiting queue"):
        engine.set_auto_assign("acme", True, "max", NOW)
    with pytest.raises(Forbidden):
        engine.set_auto_assign("acme", True, "ana", NOW)
    engine.set_capacity("acme", 4, "max", NOW)
    assert engine.set_auto_assign("acme", True, "max", NOW) is True
    assert engine.set_auto_assign("acme", True, "max", NOW) is False
    with pytest.raises(Refused, match="turn auto-assign off first"):
        engine.set_capacity("acme", None, "max", NOW)
    assert engine.set_capacity("acme", None, "max", NOW, agent_id="ana") is True  # overrides may go
    assert engine.set_auto_assign("acme", False, "max", NOW) is True
    assert engine.set_capacity("acme", None, "max", NOW) is True


def test_bulk_ignores_capacity_and_names_whom_it_left_above_it(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_team("acme", "billing", ["ana", "ben"], "max", NOW)
    engine.set_capacity("acme", 1, "max", NOW)
    engine.set_capacity("acme", 5, "max", NOW, agent_id="ben")
    decide_many(engine, make_ticket, 2)  # ana 1 (full), ben 1
    reply = engine.scripts.bulk_assign(KEYS, "billing", "job1", ["t1", "t2"], 0, NOW)
    assert reply.assigned == 2
    assert agents_above_capacity(engine.scripts, KEYS, ["ana", "ben"]) == []  # moved, not added: ana 1, ben 1
    for n in (3, 4, 5):
        engine.set_round_robin("acme", False, "max", NOW)
        engine.decide(make_ticket(ticket_id=f"t{n}"), NOW)  # round robin off: they wait for people
    engine.set_round_robin("acme", True, "max", NOW)
    engine.scripts.bulk_assign(KEYS, "billing", "job2", ["t3", "t4", "t5"], 0, NOW)
    users = {user.user_id: user.load for user in Queries(client).users("acme")}
    assert users["ana"] + users["ben"] == 5
    above = agents_above_capacity(engine.scripts, KEYS, ["ana", "ben"])
    assert above == (["ana"] if users["ana"] > 1 else [])
    assert ("ana" in ready(client)) is (users["ana"] < 1)


def test_a_decision_records_its_assignment_with_round_robin_as_reason(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.set_capacity("acme", 1, "max", NOW)
    decide_many(engine, make_ticket, 2)
    assigned = [event for _, event in Queries(client).events("acme") if isinstance(event, TicketAssigned)]
    assert [(event.ticket_id, event.agent_id, event.reason) for event in assigned] == [("t1", "ana", "round_robin")]
    assert Queries(client).ticket("acme", "t2")["reason"] == "all_agents_at_capacity"  # type: ignore[index]
