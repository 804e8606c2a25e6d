"""Bad jobs fail once into RQ's failed registry with a readable reason; ops list and requeue them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from freezegun import freeze_time
from rq import Queue
from rq.job import Job

from producers.connection import connect
from producers.queue import PROCESS_TICKET, QUEUE_NAME, SERIALIZER, EnqueueFailed, enqueue, enqueue_many
from schemas.common import Role
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.cli import ok
from tests.support.snapshots import agent_counts
from worker.core.engine import Engine
from worker.core.queries import Queries
from worker.runtime.failures import list_failed, requeue
from worker.runtime.runner import make_worker


def drain(client: redis.Redis) -> None:
    make_worker(client).work(burst=True)


@pytest.fixture
def frozen() -> Iterator[None]:
    with freeze_time(NOW):
        yield


def enqueue_raw(client: redis.Redis, payload: object, account: str | None = None) -> Job:
    meta = {"account_id": account} if account else {}
    return Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).enqueue(
        PROCESS_TICKET, payload, meta=meta, retry=None
    )


def test_invalid_job_is_not_retried(client: redis.Redis, frozen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from rq import Retry

    import worker.jobs

    attempts = []
    real = worker.jobs.process_ticket

    def counted(payload: object) -> object:
        attempts.append(payload)
        return real(payload)

    monkeypatch.setattr(worker.jobs, "process_ticket", counted)  # RQ imports the function by name per run
    job = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).enqueue(
        PROCESS_TICKET, {"account_id": "acme", "ticket_id": "x", "channel": "fax"}, retry=Retry(max=3)
    )
    drain(client)
    assert Job.fetch(job.id, connection=client, serializer=SERIALIZER).get_status() == "failed"
    assert len(attempts) == 1  # one attempt, no pointless retries


def test_failed_jobs_are_listed_per_account_with_their_reason(client: redis.Redis, frozen: None) -> None:
    enqueue_raw(client, {"account_id": "acme", "ticket_id": "t1", "channel": "fax"})
    enqueue_raw(client, {"account_id": "globex", "ticket_id": "g1"})
    enqueue_raw(client, "garbage")
    drain(client)
    acme = list_failed(client, "acme")
    assert [(r.account_id, r.ticket_id) for r in acme] == [("acme", "t1")]
    assert "InvalidJob" in acme[0].reason and "channel" in acme[0].reason
    assert {r.account_id for r in list_failed(client)} == {"acme", "globex", None}


def test_requeued_job_runs_again(client: redis.Redis, make_ticket: TicketFactory, frozen: None) -> None:
    ticket = make_ticket()
    Engine(client).upsert_user("acme", "max", Role.MANAGER, NOW)  # an account nobody set up is refused
    job = enqueue_raw(client, ticket.model_dump(mode="json"), "acme")
    drain(client)  # nobody Online: the ticket is decided (round_robin_off), so break it instead:
    assert Queries(client).ticket("acme", ticket.ticket_id) is not None
    bad = enqueue_raw(client, {**ticket.model_dump(mode="json"), "ticket_id": "later", "channel": "fax"}, "acme")
    drain(client)
    rows = list_failed(client, "acme")
    assert [r.job_id for r in rows] == [bad.id]
    assert requeue(client, rows) == 1
    assert Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).count == 1
    assert job.id not in [r.job_id for r in list_failed(client)]


def test_failed_command_lists_and_requeues(real_redis: redis.Redis, redis_url: str) -> None:
    enqueue_raw(real_redis, {"account_id": "acme", "ticket_id": "t1", "channel": "fax"}, "acme")
    make_worker(real_redis).work(burst=True)
    out = ok(redis_url, "failed", "acme")
    assert "acme/t1" in out and "InvalidJob" in out
    assert "requeued 1 job(s)" in ok(redis_url, "failed", "--all", "--requeue")
    assert Queue(QUEUE_NAME, connection=real_redis, serializer=SERIALIZER).count == 1


def test_producer_gives_a_clear_error_after_a_bounded_retry(make_ticket: TicketFactory) -> None:
    dead = connect("redis://127.0.0.1:9/0", retries=2)  # the production client (its budget: test_restart.py)
    started = time.monotonic()
    with pytest.raises(EnqueueFailed, match="cannot reach Redis at 127.0.0.1:9.*not enqueued"):
        enqueue(make_ticket(), dead)
    assert time.monotonic() - started < 30
    no_retries = redis.Redis.from_url("redis://127.0.0.1:9/0", retry=None)
    with pytest.raises(EnqueueFailed):  # enqueue_many reports the same way
        enqueue_many([make_ticket()], no_retries)


def test_worker_processes_a_valid_job_after_an_invalid_one(
    client: redis.Redis, make_ticket: TicketFactory, frozen: None
) -> None:
    setup_account(Engine(client), online=("ana",))
    enqueue_raw(client, {"nonsense": True})
    enqueue(make_ticket(), client)
    drain(client)
    assert agent_counts(client, "acme") == {"ana": 1}


def test_a_long_job_is_not_taken_for_abandoned_while_it_runs(real_redis: redis.Redis) -> None:
    from worker.runtime.runner import HEARTBEAT_MARGIN_SECONDS, HelpdeskWorker

    worker = make_worker(real_redis)
    assert isinstance(worker, HelpdeskWorker)
    ticket_job = Queue(QUEUE_NAME, connection=real_redis, serializer=SERIALIZER).enqueue(
        PROCESS_TICKET, {}, job_timeout=10
    )
    bulk_job = Queue(QUEUE_NAME, connection=real_redis, serializer=SERIALIZER).enqueue(
        PROCESS_TICKET, {}, job_timeout=300
    )
    assert worker.get_heartbeat_ttl(ticket_job) == 10 + HEARTBEAT_MARGIN_SECONDS
    assert worker.get_heartbeat_ttl(bulk_job) == 300 + HEARTBEAT_MARGIN_SECONDS
