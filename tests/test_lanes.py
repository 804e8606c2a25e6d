"""The burst intake's producer side and its lane protocol (producers/lanes.py, take_lane-3.lua, the sweep):
a push appends and rings a drain only when none is due; a lane is taken by one drain at a time, confirmed only
by its holder, given up only when empty, and rung again when a drain died. On real Redis and fakeredis."""

from __future__ import annotations

import json
import time

import pytest
import redis
from rq import Queue

from producers.lanes import DRAIN_LANE, LANES, LaneKeys, lane_of, push, push_many
from producers.queue import MAX_BATCH, QUEUE_NAME, SERIALIZER
from tests.support.accounts import TicketFactory
from worker.runtime.drain import ring_stranded_lanes, take_script


def queued_functions(client: redis.Redis) -> list[str | None]:
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    return [job.func_name for job in queue.get_jobs()]


def take(client: redis.Redis, lane: int, mode: str, token: str, done: int = 0, size: int = 10) -> list[str]:
    keys = LaneKeys(lane)
    args: list[str | int] = [mode, token, done, size, 5000, 5000, f"drain-after-{token}"]
    reply = take_script(client)(keys=[keys.pending, keys.bell, keys.lease], args=args)
    return [item.decode() for item in reply]


def test_a_push_appends_and_rings_one_drain_per_burst(client: redis.Redis, make_ticket: TicketFactory) -> None:
    first = push(make_ticket(), client)
    assert first.lane == lane_of("acme") and first.rang and first.drain_job_id.startswith("drain-")
    again = push_many([make_ticket(), make_ticket()], client)
    assert [(p.drain_job_id, p.rang) for p in again] == [(first.drain_job_id, False)] * 2  # the bell already rings
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    assert [(job.id, job.func_name) for job in queue.get_jobs()] == [(first.drain_job_id, DRAIN_LANE)]
    entries = [json.loads(raw) for raw in client.lrange(LaneKeys(first.lane).pending, 0, -1)]
    assert [entry["ticket"]["ticket_id"] for entry in entries] == [first.ticket_id, *(p.ticket_id for p in again)]
    assert all(isinstance(entry["enqueued_ms"], int) for entry in entries)


def test_push_many_rings_each_lane_it_touches_once(client: redis.Redis, make_ticket: TicketFactory) -> None:
    accounts = [f"acct{n}" for n in range(40)]
    lanes = {lane_of(account) for account in accounts}
    assert len(lanes) > 5  # spread: the test means something
    pushed = push_many([make_ticket(account_id=account) for account in accounts for _ in range(2)], client)
    rang = [p for p in pushed if p.rang]
    assert {p.lane for p in rang} == lanes  # every ticket of a lane this call rang says so
    assert {p.lane: p.drain_job_id for p in pushed} == {p.lane: p.drain_job_id for p in rang}  # one job a lane
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    assert sorted(queue.get_job_ids()) == sorted({p.drain_job_id for p in rang})


def test_bad_pushes_are_refused_before_anything_is_written(client: redis.Redis, make_ticket: TicketFactory) -> None:
    with pytest.raises(TypeError, match="events\\[1\\] is dict"):
        push_many([make_ticket(), {"account_id": "acme"}], client)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="TicketCreated"):
        push({"account_id": "acme"}, client)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"at most {MAX_BATCH}"):
        push_many([make_ticket()] * (MAX_BATCH + 1), client)
    assert push_many([], client) == []
    assert client.keys("*") == []


def test_one_drain_holds_a_lane_and_only_it_confirms(client: redis.Redis, make_ticket: TicketFactory) -> None:
    lane = push_many([make_ticket() for _ in range(5)], client)[0].lane
    keys = LaneKeys(lane)
    assert take(client, lane, "start", "a", size=2)[0] == "batch"
    assert client.exists(keys.bell) == 0  # the drain started: the next push rings a new one
    assert take(client, lane, "start", "b") == ["busy"]
    assert take(client, lane, "next", "b", done=2) == ["lost"]  # not its lease: nothing dropped
    assert client.llen(keys.pending) == 5
    batch = take(client, lane, "next", "a", done=2, size=2)
    assert [json.loads(entry)["ticket"]["ticket_id"] for entry in batch[1:]] == ["t3", "t4"]
    assert take(client, lane, "next", "a", done=2, size=10)[0] == "batch"  # the fifth
    assert take(client, lane, "next", "a", done=1) == ["empty"]
    assert client.exists(keys.lease, keys.pending) == 0  # given up only once empty


def test_a_handoff_rings_the_bell_when_tickets_remain(client: redis.Redis, make_ticket: TicketFactory) -> None:
    lane = push_many([make_ticket() for _ in range(3)], client)[0].lane
    client.delete(LaneKeys(lane).bell)
    take(client, lane, "start", "a", size=1)
    assert take(client, lane, "handoff", "a", done=1) == ["rang"]
    assert client.get(LaneKeys(lane).bell) == b"drain-after-a"  # the job the caller then enqueues
    assert client.llen(LaneKeys(lane).pending) == 2 and client.exists(LaneKeys(lane).lease) == 0
    take(client, lane, "start", "b", size=5)
    assert take(client, lane, "handoff", "b", done=2) == ["handed"]  # nothing left: no bell


def test_the_sweep_rings_a_lane_whose_drain_died(client: redis.Redis, make_ticket: TicketFactory) -> None:
    lane = push(make_ticket(), client).lane
    keys = LaneKeys(lane)
    Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).empty()  # type: ignore[no-untyped-call]
    take(client, lane, "start", "dead")  # a drain takes the lane, then is killed
    client.pexpire(keys.lease, 50)
    assert ring_stranded_lanes(client) == []  # its lease still holds
    time.sleep(0.1)
    assert ring_stranded_lanes(client) == [lane]
    assert queued_functions(client) == [DRAIN_LANE] and client.exists(keys.bell) == 1
    assert ring_stranded_lanes(client) == []  # rung once: the bell now rings
    assert all(client.llen(LaneKeys(n).pending) == 0 for n in range(LANES) if n != lane)
