"""The release of the waiting queue (issue 15): oldest first, up to capacity, rung by whatever makes room,
one toast per agent per release, exactly once under overlapping releases, and resumed after a dead one.
On a real Redis and on fakeredis; the worker-process side is in tests/test_release_workers.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis

from schemas.common import AgentStatus, Channel
from schemas.events import TicketAssigned, Toast
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW, TicketFactory, setup_account
from worker.core.capacity import claim
from worker.core.engine import Engine
from worker.core.keys import DEFAULT_PARTITIONS, AccountKeys
from worker.core.queries import Queries
from worker.core.release import run_release, sweep_due
from worker.core.shared_constants import RELEASE_LEASE_MS
from worker.core.text import text

KEYS = AccountKeys.for_account("acme")


@pytest.fixture
def rung(engine: Engine) -> list[str]:
    """The accounts whose release the engine asked to enqueue (what a job would then run)."""
    calls: list[str] = []
    engine.on_release = calls.append
    return calls


def release(engine: Engine, now: datetime = NOW) -> int:
    return run_release(engine.scripts, KEYS, lambda: now).assigned


def waiting(engine: Engine, count: int, start: int = 1, make_ticket: TicketFactory | None = None) -> list[str]:
    """``count`` tickets, a minute apart (oldest first), decided while nobody is Online."""
    assert make_ticket is not None
    ids = []
    for n in range(start, start + count):
        ticket = make_ticket(ticket_id=f"w{n:03d}", created_at=NOW - timedelta(hours=2) + timedelta(minutes=n))
        assert engine.decide(ticket, NOW).reason in ("no_agent_online", "all_agents_at_capacity")
        ids.append(ticket.ticket_id)
    return ids


def assignments(client: redis.Redis, reason: str = "waiting_queue") -> list[tuple[str, str]]:
    return [
        (event.ticket_id, event.agent_id)
        for _, event in Queries(client).events("acme", count=None)
        if isinstance(event, TicketAssigned) and event.reason == reason
    ]


def toasts(client: redis.Redis) -> list[tuple[str, str, list[str]]]:
    return [
        (event.user_id, event.text, list(event.ticket_ids))
        for _, event in Queries(client).events("acme", count=None)
        if isinstance(event, Toast) and "waiting" in event.text
    ]


def loads(client: redis.Redis) -> dict[str, int]:
    return {user.user_id: user.load for user in Queries(client).users("acme") if user.load}


def capped_account(engine: Engine, capacity: int = 2) -> None:
    setup_account(engine)
    engine.set_capacity("acme", capacity, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)


def test_an_agent_going_online_takes_the_oldest_tickets_up_to_capacity(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=2)
    tickets = waiting(engine, 5, make_ticket=make_ticket)
    assert rung == []  # nobody has room yet
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert rung == ["acme"]
    assert release(engine) == 2
    assert assignments(client) == [(tickets[0], "ana"), (tickets[1], "ana")]
    assert toasts(client) == [("ana", "2 waiting tickets assigned to you", tickets[:2])]
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    assert release(engine) == 2
    assert assignments(client)[2:] == [(tickets[2], "ben"), (tickets[3], "ben")]
    assert loads(client) == {"ana": 2, "ben": 2}
    unassigned = Queries(client).unassigned("acme")
    assert [row.ticket_id for row in unassigned] == [tickets[4]]
    assert not client.exists(KEYS.release_lease)  # given back by the release's last batch


def test_a_close_makes_room_for_the_next_oldest(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=1)
    tickets = waiting(engine, 3, make_ticket=make_ticket)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    release(engine)
    rung.clear()
    engine.close_ticket("acme", tickets[0], NOW)
    assert rung == ["acme"]
    assert release(engine) == 1
    assert assignments(client) == [(tickets[0], "ana"), (tickets[1], "ana")]
    assert [text for _, text, _ in toasts(client)] == ["1 waiting ticket assigned to you"] * 2


def test_raising_capacity_turning_auto_assign_or_round_robin_on_ring_a_release(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.set_capacity("acme", 1, "max", NOW)
    engine.decide(make_ticket(ticket_id="first"), NOW)  # ana is full
    tickets = waiting(engine, 4, make_ticket=make_ticket)
    engine.set_auto_assign("acme", True, "max", NOW)
    assert rung == []  # tickets wait, but nobody has room
    engine.set_capacity("acme", 2, "max", NOW)
    assert rung == ["acme"]
    assert release(engine) == 1
    engine.set_auto_assign("acme", False, "max", NOW)
    engine.set_capacity("acme", 3, "max", NOW)
    assert rung == ["acme"]  # auto-assign off: room appears, nothing rings
    engine.set_auto_assign("acme", True, "max", NOW)
    assert rung == ["acme", "acme"]
    release(engine)
    engine.set_round_robin("acme", False, "max", NOW)
    engine.set_capacity("acme", 4, "max", NOW)
    assert release(engine) == 0  # round robin off: the release stops at once
    engine.set_round_robin("acme", True, "max", NOW)
    assert rung[-1] == "acme" and len(rung) == 3
    assert release(engine) == 1
    assert [ticket for ticket, _ in assignments(client)] == tickets[:3]


def test_a_new_ticket_never_overtakes_older_ones_waiting_for_a_release(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=5)
    tickets = waiting(engine, 2, make_ticket=make_ticket)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)  # rings; the job has not run yet
    newer = engine.decide(make_ticket(ticket_id="newer", created_at=NOW), NOW)
    assert (newer.outcome, newer.reason) == ("unassigned", "older_tickets_waiting")
    assert release(engine) == 3
    assert [ticket for ticket, _ in assignments(client)] == [*tickets, "newer"]
    after = engine.decide(make_ticket(ticket_id="after", created_at=NOW), NOW)  # queue empty: round robin
    assert (after.agent_id, after.reason) == ("ana", "round_robin")


def test_round_robin_off_and_team_tickets_stay_for_people(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=5)
    engine.set_round_robin("acme", False, "max", NOW)
    engine.decide(make_ticket(ticket_id="manual"), NOW)
    engine.set_round_robin("acme", True, "max", NOW)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert release(engine) == 0
    assert [row.reason for row in Queries(client).unassigned("acme")] == ["round_robin_off"]


def test_a_closed_waiting_ticket_is_never_released_and_a_reopened_one_is(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=5)
    tickets = waiting(engine, 2, make_ticket=make_ticket)
    engine.close_ticket("acme", tickets[0], NOW)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert release(engine) == 1
    assert assignments(client) == [(tickets[1], "ana")]
    rung.clear()
    engine.reopen_ticket("acme", tickets[0], NOW)
    assert rung == ["acme"]
    assert release(engine) == 1
    assert assignments(client)[-1] == (tickets[0], "ana")


def test_overlapping_releases_never_assign_a_ticket_twice(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=3)
    tickets = waiting(engine, 8, make_ticket=make_ticket)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    # A batch sent with a head another release already took is stale: it writes nothing.
    head = tickets[:2]
    call_keys, args = _batch_call(engine, head)
    engine.scripts.call("release_waiting", call_keys, args)
    assert engine.scripts.call("release_waiting", call_keys, args)[2] == 1
    assert release(engine) + release(engine) == 4
    assigned = [ticket for ticket, _ in assignments(client)]
    assert sorted(assigned) == sorted(set(assigned)) == tickets[:6]
    assert loads(client) == {"ana": 3, "ben": 3}


def _batch_call(engine: Engine, head: list[str]) -> tuple[list[str], list[object]]:
    from worker.core.release import _batch_keys

    retention = engine.scripts.retention
    now_ms = int(NOW.timestamp() * 1000)
    args: list[object] = ["acme", "2026-11-24T15:00:00.000Z", now_ms, *engine.scripts.stream_args()]
    args += [retention.assigned_record_ttl_seconds, "15", 3600, RELEASE_LEASE_MS, "run", 0, *head]
    return [*_batch_keys(KEYS, NOW), *KEYS.tickets(head)], args


def test_a_release_whose_worker_died_is_rung_again_by_the_sweep_once_its_lease_lapses(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=5)
    waiting(engine, 3, make_ticket=make_ticket)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert rung == ["acme"]  # ... and the worker that took the job died before it ran
    swept: list[str] = []
    assert sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, NOW, swept.append) == []  # lease held
    client.delete(KEYS.release_lease)  # what 20 s without a batch does
    assert sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, NOW, swept.append) == ["acme"]
    assert release(engine) == 3
    assert client.zscore(KEYS.release_due, "acme") is None  # done: nothing owed
    assert sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, NOW, swept.append) == []


def test_after_hours_tickets_are_released_from_their_opening_in_arrival_order(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=5)
    hours = OfficeHours.from_specs("UTC", ["mon-sun 09:00-17:00"])
    engine.set_office_hours("acme", hours, "max", NOW)
    evening = NOW.replace(hour=20, minute=0)  # NOW is 15:00 UTC; tomorrow opens at 09:00
    night_chat = make_ticket(ticket_id="night-chat", channel=Channel.WEBCHAT, created_at=evening)
    assert engine.decide(night_chat, evening).reason == "after_hours"
    opening = (evening + timedelta(days=1)).replace(hour=9)
    mail = make_ticket(ticket_id="night-mail", created_at=evening + timedelta(minutes=5))
    assert engine.decide(mail, evening + timedelta(minutes=5)).reason == "no_agent_online"
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", evening + timedelta(hours=1))
    release(engine, evening + timedelta(hours=1))  # before the opening: only the mail
    assert [ticket for ticket, _ in assignments(client)] == ["night-mail"]
    swept: list[str] = []
    before = opening - timedelta(seconds=1)
    assert sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, before, swept.append) == []
    assert sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, opening, swept.append) == ["acme"]
    assert release(engine, opening) == 1
    assert [ticket for ticket, _ in assignments(client)] == ["night-mail", "night-chat"]


def test_an_after_hours_ticket_older_than_a_waiting_one_goes_first_once_open(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=1)
    engine.set_office_hours("acme", OfficeHours.from_specs("UTC", ["mon-sun 09:00-17:00"]), "max", NOW)
    evening = NOW.replace(hour=20, minute=0)
    engine.decide(make_ticket(ticket_id="chat", channel=Channel.WEBCHAT, created_at=evening), evening)
    opening = (evening + timedelta(days=1)).replace(hour=9)
    engine.decide(make_ticket(ticket_id="mail", created_at=opening - timedelta(minutes=30)), opening)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", opening)
    assert release(engine, opening) == 1
    assert assignments(client) == [("chat", "ana")]  # older, promoted at its opening, so it goes first


def test_a_release_sends_one_toast_per_agent_naming_every_ticket(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=40)
    tickets = waiting(engine, 60, make_ticket=make_ticket)  # more than the first batch (25)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    result = run_release(engine.scripts, KEYS, lambda: NOW)
    assert (result.assigned, result.toasts) == (60, 2)
    assert result.batches >= 2
    sent = {agent: ids for agent, _, ids in toasts(client)}
    assert sorted(sent["ana"] + sent["ben"]) == tickets
    assert sent["ana"] == tickets[0::2] and sent["ben"] == tickets[1::2]  # alternating: the rotation
    assert not client.exists(KEYS.release_toasts)


def test_waiting_time_is_filed_for_released_tickets(
    engine: Engine, client: redis.Redis, rung: list[str], make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=5)
    engine.decide(make_ticket(ticket_id="w", created_at=NOW - timedelta(minutes=4)), NOW - timedelta(minutes=4))
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    release(engine)
    stats = {text(k): text(v) for k, v in client.hgetall(KEYS.stats(NOW.strftime("%Y-%m-%d"))).items()}
    assert stats["waited:300"] == "1"
    assert (stats["waited_sum"], stats["waited_count"]) == ("240", "1")
    assert stats["decided:assigned:waiting_queue"] == "1"


def test_claim_takes_the_lease_only_when_there_is_work_and_room(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    capped_account(engine, capacity=1)
    assert claim(engine.scripts, KEYS, NOW) is False  # nothing waits
    waiting(engine, 1, make_ticket=make_ticket)
    assert claim(engine.scripts, KEYS, NOW) is False  # nobody has room
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)  # rings, takes the lease (no enqueuer here)
    assert claim(engine.scripts, KEYS, NOW) is False  # held
    client.delete(KEYS.release_lease)
    assert claim(engine.scripts, KEYS, NOW) is True
