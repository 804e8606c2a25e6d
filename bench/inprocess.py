"""In-process helpers shared by the suite's benches: an account, enqueued jobs, a SimpleWorker
drained in this process, round-trip counting, production-like logging.

Round trips are counted on redis-py's connection: every request the client writes is one
``Connection.send_packed_command`` call (a single command, or a whole pipeline, which is sent in one
write and read back in one go), so the count is the number of times the worker waited on Redis.
``Redis.execute_command`` calls (commands issued one by one, outside pipelines) are counted apart.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import redis.connection
from rq import Queue
from rq.job import Job

from bench.common import NOOP
from producers.queue import (
    FAILURE_TTL_SECONDS,
    JOB_TIMEOUT_SECONDS,
    QUEUE_NAME,
    RESULT_TTL_SECONDS,
    SERIALIZER,
    enqueue_many,
)
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from worker.core.engine import Engine
from worker.logging import configure_logging
from worker.runtime.runner import make_worker

ACCOUNT = "bench-acme"
OWNER = "owner-1"
CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.SOCIAL)
"""No webchat: no office hours, so every ticket is assigned (the full write path)."""


def setup_account(client: redis.Redis, agents: int = 5, account: str = ACCOUNT) -> Engine:
    now = datetime.now(UTC)
    engine = Engine(client)
    engine.upsert_user(account, OWNER, Role.OWNER, now)
    for i in range(1, agents + 1):
        engine.upsert_user(account, f"agent-{i}", Role.AGENT, now)
        engine.set_status(account, f"agent-{i}", AgentStatus.ONLINE, f"agent-{i}", now)
    engine.set_round_robin(account, True, OWNER, now)
    return engine


def make_events(count: int, prefix: str = "t", account: str = ACCOUNT) -> list[TicketCreated]:
    now = datetime.now(UTC)
    return [
        TicketCreated(
            account_id=account,
            ticket_id=f"{prefix}{i:07d}",
            channel=CHANNELS[i % len(CHANNELS)],
            created_at=now - timedelta(seconds=count - i),
            subject=f"bench ticket {i}",
        )
        for i in range(count)
    ]


def noop_data(event: TicketCreated) -> Any:
    return Queue.prepare_data(
        NOOP,
        args=(event.model_dump(mode="json"),),
        description=f"noop {event.account_id}/{event.ticket_id} ({event.channel.value})",
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=FAILURE_TTL_SECONDS,
        timeout=JOB_TIMEOUT_SECONDS,
    )


def enqueue(client: redis.Redis, workload: str, events: list[TicketCreated], chunk: int = 1000) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(events), chunk):
        part = events[start : start + chunk]
        if workload == "ours":
            jobs = enqueue_many(part, client)
        else:
            jobs = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).enqueue_many(
                [noop_data(e) for e in part]
            )
        ids += [job.id for job in jobs]
    return ids


def check_finished(client: redis.Redis, count: int) -> None:
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    state = (queue.count, queue.finished_job_registry.count, queue.failed_job_registry.count)
    if state != (0, count, 0):
        raise RuntimeError(f"drain incomplete: queued/finished/failed = {state}, expected (0, {count}, 0)")


@contextlib.contextmanager
def production_logging() -> Iterator[None]:
    """structlog as the worker runs it (JSON, INFO: one line per decision), written to /dev/null."""
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    saved = sys.stderr
    sys.stderr = devnull
    try:
        configure_logging(json=True, level="INFO")
    finally:
        sys.stderr = saved
    try:
        yield
    finally:
        configure_logging(level="WARNING")
        devnull.close()


class RoundTrips:
    """Counts, in this process, requests written to Redis and commands issued outside pipelines."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.commands: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def counting(self) -> Iterator[RoundTrips]:
        original_send = redis.connection.AbstractConnection.send_packed_command
        original_exec = redis.Redis.execute_command
        counter = self

        def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> None:
            with counter._lock:
                counter.round_trips += 1
            original_send(conn, command, check_health)  # type: ignore[no-untyped-call]

        def execute_command(client: Any, *args: Any, **options: Any) -> Any:
            with counter._lock:
                counter.commands[str(args[0]).upper() if args else "?"] += 1
            return original_exec(client, *args, **options)  # type: ignore[no-untyped-call]

        redis.connection.AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]
        redis.Redis.execute_command = execute_command  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            redis.connection.AbstractConnection.send_packed_command = original_send  # type: ignore[method-assign]
            redis.Redis.execute_command = original_exec  # type: ignore[method-assign]


def drain_in_process(client: redis.Redis) -> float:
    """Run an in-process burst SimpleWorker (the class the CLI uses) to the end; wall seconds."""
    started = time.perf_counter()
    make_worker(client).work(burst=True, logging_level="WARNING")
    return time.perf_counter() - started


def job_window(client: redis.Redis, job_ids: list[str]) -> float:
    """First job started → last job ended, from RQ's stamps."""
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(Job.key_for(job_id), ["started_at", "ended_at"])
    starts, ends = [], []
    for started_at, ended_at in pipe.execute():
        starts.append(parse_stamp(started_at))
        ends.append(parse_stamp(ended_at))
    return (max(ends) - min(starts)).total_seconds()


def parse_stamp(value: bytes | None) -> datetime:
    if not value:
        raise RuntimeError("a job has no RQ time stamp")
    return datetime.strptime(value.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
