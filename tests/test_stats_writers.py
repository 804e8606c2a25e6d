"""The reporting aggregates and ops counters the Lua calls write (the contract in docs/STATS.md)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from freezegun import freeze_time
from rq import Queue
from rq.job import Job

from producers.queue import PROCESS_FIRST_REPLY, QUEUE_NAME, SERIALIZER, enqueue_first_reply
from schemas.common import AgentStatus, Channel
from schemas.inbound import AgentFirstReply, BulkAssignRequest
from tests.support import replies
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.backends import NOT_ON_CLUSTER
from tests.support.cli import ok, refused
from tests.support.jobs import failure_reason, returned
from tests.support.snapshots import snapshot
from worker.core.bulk import start_bulk_assign
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.errors import InvalidInput, UnknownTicket, UnknownUser
from worker.runtime.runner import make_worker

BACKENDS = ("real", "fake", "cluster")
"""These tests also run on a local Redis Cluster (tests/conftest.py)."""

DAY = NOW.strftime("%Y-%m-%d")
KEYS = AccountKeys.for_account("acme")


def stats(client: redis.Redis, day: str = DAY) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in replies.hgetall(client, KEYS.stats(day)).items()}


def reply(ticket_id: str, agent: str = "ana", minutes_after: float = 5) -> AgentFirstReply:
    return AgentFirstReply.model_validate(
        {
            "account_id": "acme",
            "ticket_id": ticket_id,
            "agent_id": agent,
            "replied_at": NOW + timedelta(minutes=minutes_after),
        },
        context={"now": NOW + timedelta(hours=3)},
    )


def test_decisions_are_counted_per_outcome_reason_hour_and_agent(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(channel=Channel.SMS), NOW)
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    engine.decide(make_ticket(), NOW)
    figures = stats(client)
    assert figures["decided:assigned:round_robin"] == "1"
    assert figures["decided:unassigned:no_agent_online"] == "1"
    # created 14:59:59 (make_ticket), decided 15:00: arrivals go under the hour the tickets were created
    assert figures["arrived:14:sms"] == "1" and figures["arrived:14:email"] == "1"
    assert figures["assigned:ana"] == "1"
    assert figures["uq_depth:15:email:no_agent_online"] == "1" == figures["uq_peak:15:email:no_agent_online"]
    assert client.smembers(KEYS.stats_online(DAY, "15")) == {b"ana"}
    # kept 400 days from the end of the day it holds (NOW is 15:00: 9 hours to the end of the day)
    assert 400 * 86400 + 9 * 3600 - 5 <= client.ttl(KEYS.stats(DAY)) <= 400 * 86400 + 9 * 3600


def test_duplicates_are_not_counted_twice(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    ticket = make_ticket()
    engine.decide(ticket, NOW)
    engine.decide(ticket, NOW)
    assert stats(client)["decided:assigned:round_robin"] == "1"


@NOT_ON_CLUSTER  # runs an RQ worker: RQ does not support Redis Cluster
def test_unassigned_depth_goes_down_when_a_bulk_job_drains_it(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",), round_robin=False)
    for _ in range(3):
        engine.decide(make_ticket(), NOW)
    engine.set_team("acme", "support", ["ana"], "max", NOW)
    with freeze_time(NOW + timedelta(hours=2)):
        start_bulk_assign(
            client, BulkAssignRequest(account_id="acme", team_id="support", actor_id="max", unassigned=True)
        )
        make_worker(client).work(burst=True)
    figures = stats(client)
    assert figures["uq_peak:15:email:round_robin_off"] == "3"
    assert figures["uq_depth:17:email:round_robin_off"] == "0"
    # a drain is not a peak: peaks are only filed when the queue grows (docs/STATS.md)
    assert "uq_peak:17:email:round_robin_off" not in figures and "uq_peak_total:17" not in figures
    assert figures["uq_peak_total:15"] == "3"
    assert figures["decided:assigned:bulk_team"] == "3" and figures["assigned:ana"] == "3"
    assert client.hget(KEYS.uq_depth, "email:round_robin_off") == b"0"


def test_partition_counters_and_enqueue_latency(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(), NOW, enqueued_at=NOW - timedelta(milliseconds=40))
    engine.decide(make_ticket(), NOW, enqueued_at=NOW - timedelta(seconds=3))
    metrics = {k.decode(): v.decode() for k, v in replies.hgetall(client, KEYS.metrics).items()}
    assert metrics["decisions:assigned:round_robin"] == "2"
    assert (metrics["latency_ms:50"], metrics["latency_ms:5000"]) == ("1", "1")
    assert (metrics["latency_ms_sum"], metrics["latency_ms_count"]) == ("3040", "2")
    assert client.smembers(KEYS.accounts) == {b"acme"}


# --- first replies ----------------------------------------------------------------------------


def test_first_reply_files_ttfr_overall_per_agent_channel_and_setting(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="t1", channel=Channel.SMS, created_at=NOW), NOW)
    assert engine.record_first_reply(reply("t1", minutes_after=5), NOW) == (300, False)
    figures = stats(client)
    for dim in ("all", "agent:ana", "channel:sms", "rr:on"):
        assert figures[f"ttfr:{dim}:300"] == "1"
        assert (figures[f"ttfr_sum:{dim}"], figures[f"ttfr_count:{dim}"]) == ("300", "1")


def test_first_reply_to_a_ticket_that_arrived_with_round_robin_off(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, round_robin=False)
    engine.decide(make_ticket(ticket_id="t1", created_at=NOW), NOW)
    engine.record_first_reply(reply("t1", minutes_after=90), NOW)
    assert stats(client)["ttfr:rr:off:7200"] == "1"


def test_only_the_first_reply_counts(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="t1", created_at=NOW), NOW)
    engine.record_first_reply(reply("t1", minutes_after=1), NOW)
    before = snapshot(client)
    assert engine.record_first_reply(reply("t1", minutes_after=9), NOW) == (60, True)
    assert snapshot(client) == before


def test_replies_we_cannot_believe_are_refused_and_change_nothing(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="t1", created_at=NOW), NOW)
    before = snapshot(client)
    with pytest.raises(UnknownTicket):
        engine.record_first_reply(reply("never-seen"), NOW)
    with pytest.raises(InvalidInput, match="before the ticket was created"):
        engine.record_first_reply(reply("t1", minutes_after=-1), NOW)
    with pytest.raises(UnknownUser):
        engine.record_first_reply(reply("t1", agent="ghost"), NOW)
    assert snapshot(client) == before


@pytest.fixture
def frozen() -> Iterator[None]:
    with freeze_time(NOW + timedelta(minutes=30)):
        yield


@NOT_ON_CLUSTER  # runs an RQ worker: RQ does not support Redis Cluster
def test_first_reply_job_records_and_bad_ones_fail_once_with_a_reason(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory, frozen: None
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="t1", created_at=NOW), NOW)
    good = enqueue_first_reply(reply("t1", minutes_after=2), client)
    early = enqueue_first_reply(reply("t1x", minutes_after=2), client)
    garbage = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).enqueue(
        PROCESS_FIRST_REPLY, {"ticket_id": "t1"}
    )
    make_worker(client).work(burst=True)
    assert returned(Job.fetch(good.id, connection=client, serializer=SERIALIZER))["ttfr_seconds"] == 120
    failed = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).failed_job_registry.get_job_ids()
    assert set(failed) == {early.id, garbage.id}
    reason = failure_reason(Job.fetch(early.id, connection=client, serializer=SERIALIZER))
    assert "no such ticket" in reason


def test_first_reply_cli_refuses_what_the_worker_would(real_redis: redis.Redis, redis_url: str) -> None:
    ok(redis_url, "user", "acme", "ana", "--role", "agent")
    ok(redis_url, "ticket", "acme", "t1", "--channel", "email", "--created-at", "2026-11-24T10:00:00Z")
    ok(redis_url, "worker", "--burst")
    assert "unknown ticket nope" in refused(redis_url, "first-reply", "acme", "nope", "--agent", "ana")
    assert "before the ticket was created" in refused(
        redis_url, "first-reply", "acme", "t1", "--agent", "ana", "--at", "2026-11-24T09:00:00Z"
    )
    assert "unknown user ghost" in refused(redis_url, "first-reply", "acme", "t1", "--agent", "ghost")
    ok(redis_url, "first-reply", "acme", "t1", "--agent", "ana", "--at", "2026-11-24T10:07:00Z")
    ok(redis_url, "worker", "--burst")
    assert real_redis.hget(KEYS.ticket("t1"), "ttfr") == b"420"
