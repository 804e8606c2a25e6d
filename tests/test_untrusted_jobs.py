"""Whoever can write to the queue's Redis can plant anything there. None of it runs code in a worker
or in ``helpdesk-rr failed`` (no pickle), and no entry stops the workers: what cannot run is moved
aside with its reason and listed by ``failed --all`` (issue 13, items 2, 3 and 9)."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer, PickleSerializer

from producers.queue import PROCESS_TICKET, QUEUE_NAME, enqueue
from schemas.common import Channel
from schemas.inbound import TicketCreated
from tests.support.accounts import setup_account
from tests.support.cli import ok, run
from tests.support.snapshots import agent_counts
from worker.core.engine import Engine, utc_now
from worker.runtime.failures import list_failed
from worker.runtime.malformed import MAX_REASON_CHARS, MAX_STORED_FAILURE_CHARS
from worker.runtime.runner import make_worker

QUEUE_KEY = f"rq:queue:{QUEUE_NAME}"
INTERMEDIATE_KEY = f"{QUEUE_KEY}:intermediate"
BAD_ID = 'bad"id{x}'


class MakeDir:
    """Unpickling this creates a directory: if the directory exists, something unpickled it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.path,))


def ticket(ticket_id: str = "t1") -> TicketCreated:
    return TicketCreated(
        account_id="acme", ticket_id=ticket_id, channel=Channel.SMS, created_at=utc_now() - timedelta(seconds=1)
    )


def pickled_job(client: redis.Redis, flag: Path) -> Job:
    """A job as RQ's default (pickle) serializer writes it, carrying a payload that runs on unpickling."""
    job = Job.create(
        PROCESS_TICKET,
        args=(MakeDir(flag),),
        meta={"account_id": MakeDir(flag)},
        connection=client,
        serializer=PickleSerializer,
        origin=QUEUE_NAME,
        description="ticket acme/old (sms)",
    )
    job.save()
    return job


def plant_failed(client: redis.Redis, job_id: str) -> None:
    client.zadd(f"rq:failed:{QUEUE_NAME}", {job_id: time.time() + 3600})


def drain(client: redis.Redis) -> None:
    make_worker(client).work(burst=True)


@pytest.fixture
def flag(tmp_path: Path) -> Path:
    return tmp_path / "unpickled"


# --- item 3: no pickle -------------------------------------------------------------------------


def test_failed_never_unpickles_a_planted_job(real_redis: redis.Redis, redis_url: str, flag: Path) -> None:
    job = pickled_job(real_redis, flag)
    plant_failed(real_redis, job.id)
    out = ok(redis_url, "failed", "--all")
    assert not flag.exists(), "helpdesk-rr failed unpickled a planted payload"
    assert job.id in out and "not valid JSON" in out
    assert "ticket acme/old (sms)" in out  # what it was, to re-send it (e.g. queued before the upgrade)


def test_failed_lists_a_job_with_garbage_data_as_undecodable(real_redis: redis.Redis, redis_url: str) -> None:
    job = Job.create(PROCESS_TICKET, args=({},), connection=real_redis, serializer=JSONSerializer, origin=QUEUE_NAME)
    job.save()
    real_redis.hset(job.key, "data", b"\x80\x04garbage")
    plant_failed(real_redis, job.id)
    result = run(redis_url, "failed", "--all", "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["job_id"], r["kind"]) for r in rows] == [(job.id, "undecodable")]
    assert "not valid JSON" in rows[0]["reason"]


def test_the_worker_never_unpickles_a_queued_job(real_redis: redis.Redis, flag: Path) -> None:
    setup_account(Engine(real_redis), online=("ana",))
    job = pickled_job(real_redis, flag)
    real_redis.rpush(QUEUE_KEY, job.id)
    enqueue(ticket(), real_redis)
    drain(real_redis)
    assert not flag.exists(), "the worker unpickled a queued payload"
    assert agent_counts(real_redis, "acme") == {"ana": 1}
    [row] = list_failed(real_redis)
    assert (row.job_id, row.kind) == (job.id, "malformed") and "not valid JSON" in row.reason


def test_the_worker_runs_only_helpdesk_rr_jobs(real_redis: redis.Redis, flag: Path) -> None:
    job = Job.create("os.mkdir", args=(str(flag),), connection=real_redis, serializer=JSONSerializer, origin=QUEUE_NAME)
    job.save()
    real_redis.rpush(QUEUE_KEY, job.id)
    drain(real_redis)
    assert not flag.exists(), "the worker ran a function that is not a helpdesk-rr job"
    [row] = list_failed(real_redis)
    assert row.kind == "malformed" and "not a helpdesk-rr job: function 'os.mkdir'" in row.reason


def test_producers_write_json_jobs(real_redis: redis.Redis) -> None:
    job = enqueue(ticket(), real_redis)
    stored = Job.fetch(job.id, connection=real_redis, serializer=JSONSerializer)
    assert stored.func_name == PROCESS_TICKET and stored.args[0]["ticket_id"] == "t1"
    assert json.loads(real_redis.hget(job.key, "meta") or b"") == {"account_id": "acme", "ticket_id": "t1"}


def test_a_job_written_by_hand_as_documented_is_decided(real_redis: redis.Redis) -> None:
    """docs/PRODUCERS.md, "The job format": what a non-Python integration would write."""
    setup_account(Engine(real_redis), online=("ana",))
    event = ticket("hand1").model_dump(mode="json")
    job_id = "hand-acme-hand1"
    now = utc_now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    real_redis.hset(
        f"rq:job:{job_id}",
        mapping={
            "data": json.dumps(["worker.jobs.process_ticket", None, [event], {}]),
            "origin": "helpdesk-rr",
            "status": "queued",
            "created_at": now,
            "enqueued_at": now,
            "description": "ticket acme/hand1 (sms)",
            "meta": json.dumps({"account_id": "acme", "ticket_id": "hand1"}),
            "timeout": 10,
            "result_ttl": 300,
            "failure_ttl": 604800,
        },
    )
    real_redis.sadd("rq:queues", QUEUE_KEY)
    real_redis.rpush(QUEUE_KEY, job_id)
    drain(real_redis)
    assert agent_counts(real_redis, "acme") == {"ana": 1}
    assert Job.fetch(job_id, connection=real_redis, serializer=JSONSerializer).get_status() == "finished"


# --- item 2: one bad entry does not stop the workers ---------------------------------------------


def test_a_bad_id_on_the_queue_is_moved_aside_and_the_worker_goes_on(real_redis: redis.Redis, redis_url: str) -> None:
    setup_account(Engine(real_redis), online=("ana",))
    real_redis.rpush(QUEUE_KEY, BAD_ID)
    enqueue(ticket(), real_redis)
    result = run(redis_url, "worker", "--burst", separate_process=True)  # a real worker process
    assert result.returncode == 0, result.stderr
    assert agent_counts(real_redis, "acme") == {"ana": 1}, "the ticket after the bad entry was not decided"
    assert real_redis.llen(INTERMEDIATE_KEY) == 0
    out = ok(redis_url, "failed", "--all")
    assert BAD_ID in out and "bad job id" in out


def test_a_bad_id_left_in_the_intermediate_queue_does_not_stop_maintenance(real_redis: redis.Redis) -> None:
    """What a worker before the fix left behind: every later worker quit in its registry clean-up."""
    setup_account(Engine(real_redis), online=("ana",))
    real_redis.rpush(INTERMEDIATE_KEY, BAD_ID)
    enqueue(ticket(), real_redis)
    drain(real_redis)  # a burst worker sweeps the registries first
    assert agent_counts(real_redis, "acme") == {"ana": 1}
    assert real_redis.llen(INTERMEDIATE_KEY) == 0
    assert [(r.job_id, r.kind) for r in list_failed(real_redis)] == [(BAD_ID, "malformed")]


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_an_id_without_a_job_hash_is_moved_aside_with_its_reason(real_redis: redis.Redis, worker_class: str) -> None:
    real_redis.rpush(QUEUE_KEY, "no-such-job")
    make_worker(real_redis, worker_class).work(burst=True)
    [row] = list_failed(real_redis)
    assert (row.job_id, row.kind) == ("no-such-job", "malformed") and "no job hash" in row.reason
    assert real_redis.llen(INTERMEDIATE_KEY) == 0


def test_malformed_entries_are_listed_but_never_requeued(real_redis: redis.Redis, redis_url: str) -> None:
    real_redis.rpush(QUEUE_KEY, BAD_ID, "no-such-job")
    drain(real_redis)
    assert "requeued 0 job(s)" in ok(redis_url, "failed", "--all", "--requeue")
    assert real_redis.llen(QUEUE_KEY) == 0
    assert len(list_failed(real_redis)) == 2  # still listed (for a week), not requeued
    assert ok(redis_url, "failed", "acme").strip() == "no failed ticket jobs"  # they name no account


def test_a_worker_that_stops_on_a_fault_exits_non_zero(
    real_redis: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.runtime.runner import HelpdeskQueue

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    enqueue(ticket(), real_redis)
    monkeypatch.setattr(HelpdeskQueue, "lmove", classmethod(broken))
    result = run(redis_url, "worker", "--burst")
    assert result.returncode == 1
    assert "worker stopped on an unexpected error: RuntimeError: boom" in result.stderr


def test_a_burst_worker_that_finishes_exits_zero(real_redis: redis.Redis, redis_url: str) -> None:
    enqueue(ticket(), real_redis)
    assert run(redis_url, "worker", "--burst").returncode == 0


# --- item 9: what `failed` prints is one printable line, and sizes are capped ----------------------


def planted_failure(client: redis.Redis, reason: str, ticket_id: str = "t1") -> Job:
    job = Job.create(
        PROCESS_TICKET,
        args=({"account_id": "acme", "ticket_id": ticket_id},),
        meta={"account_id": "acme", "ticket_id": ticket_id},
        connection=client,
        serializer=JSONSerializer,
        origin=QUEUE_NAME,
    )
    job.save()
    FailedJobRegistry(QUEUE_NAME, connection=client, serializer=JSONSerializer).add(job, ttl=3600)
    client.hset(job.key, "exc_info", f"Traceback (most recent call last):\nInvalidJob: {reason}")
    return job


def test_failed_prints_no_control_characters(real_redis: redis.Redis, redis_url: str) -> None:
    planted_failure(real_redis, "bad\x1b[2K\r\x1b]0;owned\x07 hidden\x08\u202eline", ticket_id="t\x1b[31mred")
    real_redis.rpush(QUEUE_KEY, "x\x1b[1A\rinjected")
    drain(real_redis)
    out = ok(redis_url, "failed", "--all")
    assert not any(ch in out for ch in "\x1b\r\x07\x08\u202e")
    assert len(out.splitlines()) == 2  # one line per row, however many newlines were planted
    assert "bad" in out and "hidden" in out  # the text stays readable


def test_a_failure_reason_is_cut_when_listed(real_redis: redis.Redis, redis_url: str) -> None:
    planted_failure(real_redis, "x" * 100_000)
    [line] = ok(redis_url, "failed", "acme").splitlines()
    assert len(line) < MAX_REASON_CHARS + 200
    assert len(list_failed(real_redis, "acme")[0].reason) <= MAX_REASON_CHARS


def test_a_stored_traceback_is_capped(real_redis: redis.Redis) -> None:
    payload = {**ticket().model_dump(mode="json"), "y" * 100_000: 1}  # an unknown field, named at length
    job = Job.create(
        PROCESS_TICKET, args=(payload,), connection=real_redis, serializer=JSONSerializer, origin=QUEUE_NAME
    )
    job.save()
    real_redis.rpush(QUEUE_KEY, job.id)
    drain(real_redis)
    stored = Job.fetch(job.id, connection=real_redis, serializer=JSONSerializer)
    result = stored.latest_result()
    assert stored.get_status() == "failed" and result is not None and result.exc_string is not None
    assert len(result.exc_string) <= MAX_STORED_FAILURE_CHARS + 100
    assert "InvalidJob" in list_failed(real_redis)[0].reason


def test_a_job_result_over_the_cap_is_stored_as_a_marker() -> None:
    from worker.jobs import MAX_RESULT_BYTES, bounded

    small = {"account_id": "acme", "ticket_id": "t1"}
    assert bounded(small) is small
    assert bounded({"x": "y" * MAX_RESULT_BYTES}) == {"truncated": True, "bytes": MAX_RESULT_BYTES + 9}


def test_redis_unreachable_while_checking_an_entry_never_moves_a_valid_job_aside(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from worker.runtime import malformed
    from worker.runtime.runner import HelpdeskQueue

    job = enqueue(ticket(), real_redis)
    queue = HelpdeskQueue(QUEUE_NAME, connection=real_redis)

    def unreachable(*_args: object, **_kwargs: object) -> Job:
        raise RedisConnectionError("connection reset")

    monkeypatch.setattr(Job, "fetch", unreachable)
    with pytest.raises(RedisConnectionError):
        malformed.check_entry(queue, job.id.encode())
    with pytest.raises(RedisConnectionError):  # RQ's clean-up would drop an id it is told has no job
        queue.fetch_job(job.id)
    assert list_failed(real_redis) == []
