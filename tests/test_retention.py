"""Retention: partition streams are trimmed without dropping unread events; memory levels off."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis

from schemas.common import Channel
from schemas.inbound import TicketCreated
from tests.support import replies
from tests.support.accounts import NOW, TicketFactory, setup_account
from worker.config import Retention
from worker.core.engine import Engine, utc_now
from worker.core.keys import AccountKeys
from worker.core.scripts import Scripts
from worker.runtime.maintenance import trim_partition_streams

STREAM = AccountKeys.for_account("acme").partition_events


def fill(client: redis.Redis, n: int) -> list[bytes | str]:
    return [client.xadd(STREAM, {"n": i}, id=f"{1000 + i}-0") for i in range(n)]


def test_trim_without_consumer_groups_goes_up_to_the_horizon(client: redis.Redis) -> None:
    fill(client, 10)
    removed, minid = Scripts(client).trim_events(STREAM, horizon_ms=1005)
    assert (removed, minid) == (5, "1005-0")
    assert replies.xrange(client, STREAM)[0][0] == b"1005-0"


def test_trim_never_drops_what_a_group_has_not_read(client: redis.Redis) -> None:
    ids = fill(client, 10)
    client.xgroup_create(STREAM, "toasts", id=ids[2])  # has read up to and including the 3rd entry
    removed, _ = Scripts(client).trim_events(STREAM, horizon_ms=2000)
    assert removed == 2 and replies.xrange(client, STREAM)[0][0] == ids[2]


def test_trim_keeps_delivered_but_unacknowledged_entries(client: redis.Redis) -> None:
    ids = fill(client, 10)
    client.xgroup_create(STREAM, "toasts", id="0")
    client.xreadgroup("toasts", "c1", {STREAM: ">"}, count=6)
    client.xack(STREAM, "toasts", *ids[:3])  # 4th..6th delivered, not acknowledged (a dead consumer)
    removed, _ = Scripts(client).trim_events(STREAM, horizon_ms=2000)
    assert removed == 3 and replies.xrange(client, STREAM)[0][0] == ids[3]


def test_trim_honours_the_slowest_of_several_groups(client: redis.Redis) -> None:
    ids = fill(client, 10)
    client.xgroup_create(STREAM, "fast", id=ids[8])
    client.xgroup_create(STREAM, "slow", id=ids[1])
    assert Scripts(client).trim_events(STREAM, horizon_ms=2000)[0] == 1


def test_trim_keeps_events_younger_than_the_minimum_age(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(), NOW)
    before = client.xlen(STREAM)
    removed = trim_partition_streams(engine.scripts, Retention(), utc_now())
    assert removed == {} and client.xlen(STREAM) == before


def test_partition_stream_is_not_capped_at_append_time_by_default(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine, agents=tuple(f"a{n}" for n in range(150)), online=tuple(f"a{n}" for n in range(150)))
    assert client.xlen(STREAM) >= 150  # no MAXLEN trimming of the partition stream


@pytest.mark.slow
def test_memory_levels_off_once_records_expire(real_redis: redis.Redis) -> None:
    """Rounds of a fixed number of tickets (not of a fixed time: a busy machine decides fewer per
    second), each followed by the records' expiry (1 s TTL), made certain by touching the expired keys
    with a SCAN (Redis's own active expiry is sampled, so its timing varies with the load)."""
    retention = Retention(account_stream_maxlen=1_000, assigned_record_ttl_seconds=1)
    engine = Engine(real_redis, retention)
    setup_account(engine, online=("ana", "ben", "cara"))
    ticket_keys = AccountKeys.for_account("acme").ticket("*")
    samples = []
    n = 0
    for _round in range(6):
        now = utc_now()
        for _ in range(1_500):
            ticket = TicketCreated(
                account_id="acme", ticket_id=f"m{n}", channel=Channel.EMAIL, created_at=now - timedelta(seconds=1)
            )
            engine.decide(ticket, now)
            n += 1
        time.sleep(1.2)
        for _key in real_redis.scan_iter(match=ticket_keys, count=1_000):  # lazily expires what is due
            pass
        trim_partition_streams(engine.scripts, Retention(partition_stream_min_age_seconds=0), utc_now())
        samples.append(real_redis.info("memory")["used_memory"])
    print(f"tickets={n} used_memory samples={samples}")
    assert not list(real_redis.scan_iter(match=ticket_keys, count=1_000)), "every assigned record expired"
    # once records expire, memory stops growing with the ticket count: 9,000 tickets in, no more than 1,500 kept
    assert max(samples[3:]) < samples[2] * 1.25
