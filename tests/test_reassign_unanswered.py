"""Reassign when unanswered (issue 16, part 3): an automatically assigned ticket without a first reply in time
goes to the next agent, skipping its assignee, at most N times. Timers in Redis, swept by the workers. Real
Redis and fakeredis."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis

from schemas.common import AgentStatus
from schemas.events import SettingsChanged
from schemas.inbound import AgentFirstReply
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.reassign import assignments, loads, record, sweep
from worker.core.engine import Engine
from worker.core.keys import AccountKeys, ticket_member
from worker.core.queries import Queries
from worker.core.reassign import expire_unanswered
from worker.core.release import run_release
from worker.errors import Forbidden, InvalidInput

KEYS = AccountKeys.for_account("acme")


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def due(client: redis.Redis, ticket_id: str) -> float | None:
    score = client.zscore(KEYS.unanswered_due, ticket_member("acme", ticket_id))
    return None if score is None else (score / 1000 - NOW.timestamp())


def unanswered_account(
    engine: Engine, make_ticket: TicketFactory, most: int = 1, online: tuple[str, ...] = ("ana", "ben", "cara")
) -> None:
    """Agents Online (ana next), reassign-unanswered after 60 s; t1 is ana's, assigned at NOW."""
    setup_account(engine, online=online)
    assert engine.set_reassign_unanswered("acme", 60, most, "max", NOW) is True
    engine.decide(make_ticket(ticket_id="t1"), NOW)


def test_no_first_reply_in_time_sends_the_ticket_to_the_next_agent_once(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket)
    assert due(client, "t1") == 60
    assert sweep(engine, 59) == []
    assert sweep(engine, 60) == [("acme", "t1", "ben")]
    assert assignments(client, "t1") == [("ana", None, "round_robin"), ("ben", "ana", "no_first_reply")]
    assert loads(client) == {"ben": 1}
    stored = record(client, "t1")
    assert (stored["unanswered_reassignments"], stored["reassignments"]) == ("1", "1")
    assert due(client, "t1") is None  # the max (1) is reached: no timer for ben
    assert sweep(engine, 600) == []


def test_a_max_of_two_reassigns_twice_skipping_each_assignee(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket, most=2)
    assert sweep(engine, 60) == [("acme", "t1", "ben")]
    assert due(client, "t1") == 120
    assert sweep(engine, 120) == [("acme", "t1", "cara")]
    assert sweep(engine, 1000) == []
    assert [a for a, _, _ in assignments(client, "t1")] == ["ana", "ben", "cara"]


def test_a_first_reply_or_a_close_cancels_the_timer(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket)
    engine.decide(make_ticket(ticket_id="t2"), NOW)
    reply = AgentFirstReply(account_id="acme", ticket_id="t1", agent_id="ana", replied_at=at(30))
    engine.record_first_reply(reply, at(30))
    engine.close_ticket("acme", "t2", at(30))
    assert due(client, "t1") is None and due(client, "t2") is None
    assert sweep(engine, 600) == []


def test_the_sweep_rechecks_the_record_even_when_a_timer_is_left(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket)
    client.hset(KEYS.ticket("t1"), "ttfr", 5)  # replied (a timer left behind would not matter)
    assert expire_unanswered(engine.scripts, KEYS, "t1", at(60))[0] == "dropped"
    assert due(client, "t1") is None


def test_nobody_else_online_the_ticket_stays_and_is_tried_again_later(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket, online=("ana",))
    assert sweep(engine, 60) == []
    assert record(client, "t1")["agent_id"] == "ana"
    assert due(client, "t1") == 120  # re-filed at now + after; not counted toward the max
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", at(100))
    assert sweep(engine, 120) == [("acme", "t1", "ben")]


def test_the_same_timer_twice_and_two_racing_sweeps_reassign_once(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket, most=3)
    first = expire_unanswered(engine.scripts, KEYS, "t1", at(60))
    second = expire_unanswered(engine.scripts, KEYS, "t1", at(60))  # the other sweep, same moment
    assert (first[0], second[0]) == ("reassigned", "later")
    assert len(assignments(client, "t1")) == 2
    assert due(client, "t1") == 120


def test_tickets_not_assigned_automatically_are_left_alone(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket)
    engine.set_team("acme", "billing", ["cara"], "max", NOW)
    engine.scripts.bulk_assign(KEYS, "billing", "job1", ["t1"], 0, NOW)  # a manager's act: not automatic
    assert record(client, "t1")["agent_id"] == "cara"
    assert sweep(engine, 600) == []


def test_turning_the_setting_off_or_round_robin_off_drops_the_timers(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket)
    engine.decide(make_ticket(ticket_id="t2"), NOW)
    engine.set_round_robin("acme", False, "max", at(1))
    assert sweep(engine, 60) == []
    engine.set_round_robin("acme", True, "max", at(1))
    engine.decide(make_ticket(ticket_id="t3", created_at=at(1)), at(1))
    engine.set_reassign_unanswered("acme", None, 1, "max", at(2))
    assert sweep(engine, 600) == []
    assert client.zcard(KEYS.unanswered_due) == 0


def test_a_released_ticket_gets_a_timer_too(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=())
    engine.set_reassign_unanswered("acme", 60, 1, "max", NOW)
    engine.set_capacity("acme", 5, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    engine.decide(make_ticket(ticket_id="t1"), NOW)  # nobody Online: waits
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", at(10))
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", at(10))
    run_release(engine.scripts, KEYS, lambda: at(10))
    assert record(client, "t1")["auto"] == "1"
    assert due(client, "t1") == 70
    assert sweep(engine, 70) == [("acme", "t1", "ben")]


def test_under_capacity_the_next_agent_needs_room(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    unanswered_account(engine, make_ticket)
    engine.set_capacity("acme", 1, "max", NOW)
    engine.decide(make_ticket(ticket_id="t2"), NOW)  # ben's: full
    # t1 skips ana and full ben: cara; then ana has room for ben's t2.
    assert sweep(engine, 60) == [("acme", "t1", "cara"), ("acme", "t2", "ana")]
    assert loads(client) == {"ana": 1, "cara": 1}


def test_the_setting_needs_a_manager_and_valid_numbers(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    with pytest.raises(Forbidden):
        engine.set_reassign_unanswered("acme", 60, 1, "ana", NOW)
    for after, most in ((0, 1), (60, 0), (60, True)):
        with pytest.raises(InvalidInput):
            engine.set_reassign_unanswered("acme", after, most, "max", NOW)
    assert engine.set_reassign_unanswered("acme", 900, 2, "max", NOW) is True
    assert engine.set_reassign_unanswered("acme", 900, 2, "max", NOW) is False
    changes = [e.changes for _, e in Queries(client).events("acme", count=None) if isinstance(e, SettingsChanged)]
    assert changes[-1] == {"reassign_unanswered_after_seconds": 900, "reassign_unanswered_max": 2}
    settings = Queries(client).settings("acme")
    assert (settings.reassign_unanswered_after_seconds, settings.reassign_unanswered_max) == (900, 2)
    engine.set_reassign_unanswered("acme", None, 1, "max", NOW)
    assert Queries(client).settings("acme").reassign_unanswered_after_seconds is None


@pytest.mark.parametrize("reply_first", [True, False], ids=["reply-first", "timer-first"])
def test_a_customer_reply_and_the_timer_racing_on_one_ticket_reassign_it_once(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory, reply_first: bool
) -> None:
    unanswered_account(engine, make_ticket, most=3)
    engine.set_reassign_away("acme", True, 0, "max", NOW)
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", at(10))

    def reply() -> str:
        return engine.customer_reply("acme", "t1", at(60), at(60)).outcome

    def timer() -> str:
        return expire_unanswered(engine.scripts, KEYS, "t1", at(60))[0]

    # The second finds the ticket with ben: the timer re-files for his new assignment; the reply finds him there.
    outcomes = [reply(), timer()] if reply_first else [timer(), reply()]
    assert outcomes == (["reassigned", "later"] if reply_first else ["reassigned", "kept"])
    assert [a for a, _, _ in assignments(client, "t1")] == ["ana", "ben"]  # one reassignment, one event
    assert loads(client) == {"ben": 1}


def test_many_workers_racing_on_one_due_timer_reassign_once(
    real_redis: redis.Redis, make_ticket: TicketFactory
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    engine = Engine(real_redis)
    unanswered_account(engine, make_ticket, most=5)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: expire_unanswered(Engine(real_redis).scripts, KEYS, "t1", at(60))[0],
                                 range(16)))  # fmt: skip
    assert outcomes.count("reassigned") == 1 and set(outcomes) == {"reassigned", "later"}
    assert len(assignments(real_redis, "t1")) == 2
