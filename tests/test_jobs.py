"""RQ jobs: producers → queue → worker → decision, on a real Redis (and SimpleWorker on fakeredis)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from freezegun import freeze_time
from rq import Queue, SimpleWorker
from rq.job import Job

from producers.queue import PROCESS_TICKET, QUEUE_NAME, SERIALIZER, enqueue, enqueue_many
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.jobs import failure_reason, returned
from tests.support.snapshots import agent_counts
from worker.core.engine import Engine
from worker.core.queries import Queries
from worker.runtime.runner import run_one


def drain(client: redis.Redis) -> None:
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    SimpleWorker([queue], connection=client, serializer=SERIALIZER).work(burst=True)


@pytest.fixture
def frozen() -> object:
    with freeze_time(NOW + timedelta(seconds=5)) as frozen:
        yield frozen


def test_worker_decides_enqueued_tickets(client: redis.Redis, make_ticket: TicketFactory, frozen: object) -> None:
    engine = Engine(client)
    setup_account(engine, online=("ana", "ben"))
    jobs = enqueue_many([make_ticket() for _ in range(4)], client)
    drain(client)
    results = [returned(Job.fetch(job.id, connection=client, serializer=SERIALIZER)) for job in jobs]
    assert [r["agent_id"] for r in results] == ["ana", "ben", "ana", "ben"]
    assert agent_counts(client, "acme") == {"ana": 2, "ben": 2}


def test_runner_drains_the_queue_on_a_real_redis(
    real_redis: redis.Redis, redis_url: str, make_ticket: TicketFactory, frozen: object
) -> None:
    setup_account(Engine(real_redis), online=("ana",))
    enqueue(make_ticket(), real_redis)
    assert run_one(redis_url, burst=True) is True
    assert agent_counts(real_redis, "acme") == {"ana": 1}


def test_same_ticket_enqueued_twice_is_decided_once(
    client: redis.Redis, make_ticket: TicketFactory, frozen: object
) -> None:
    setup_account(Engine(client), online=("ana", "ben"))
    ticket = make_ticket()
    first, second = enqueue(ticket, client), enqueue(ticket, client)
    drain(client)
    assert returned(Job.fetch(first.id, connection=client, serializer=SERIALIZER))["duplicate"] is False
    assert returned(Job.fetch(second.id, connection=client, serializer=SERIALIZER))["duplicate"] is True
    assert [e.type for _, e in Queries(client).events("acme")].count("ticket.assigned") == 1


def test_malformed_job_fails_with_its_reason_and_the_worker_goes_on(
    client: redis.Redis, make_ticket: TicketFactory, frozen: object
) -> None:
    setup_account(Engine(client), online=("ana",))
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    bad = queue.enqueue(PROCESS_TICKET, {"account_id": "acme", "ticket_id": "x1", "channel": "fax"})
    not_a_dict = queue.enqueue(PROCESS_TICKET, ["not", "an", "event"])
    good = enqueue(make_ticket(), client)
    drain(client)
    failed = queue.failed_job_registry.get_job_ids()
    assert set(failed) == {bad.id, not_a_dict.id}
    reason = failure_reason(Job.fetch(bad.id, connection=client, serializer=SERIALIZER))
    assert "channel" in reason and "created_at" in reason and "InvalidJob" in reason
    assert returned(Job.fetch(good.id, connection=client, serializer=SERIALIZER))["agent_id"] == "ana"
    assert Queries(client).ticket("acme", "x1") is None
