"""The burst intake: tickets go on a per-lane pending list, and RQ is paid once per burst, not once per ticket.

``push``/``push_many`` append each validated ticket to its account's *lane* (a Redis list on the queue Redis)
and ring the lane's *doorbell*: a drain job (``worker.jobs.drain_lane``) is enqueued only when the bell was
not already ringing, in the same MULTI/EXEC as the append. The drain job decides the lane's pending tickets
in batches, one Lua call per batch (worker/core/drain.py), so a burst of 20,000 tickets costs a handful of RQ
jobs instead of 20,000. An account always maps to one lane and one lane is drained by one job at a time (a
lease), so an account's tickets are decided in the order they were pushed (docs/DESIGN.md, "Burst intake").

``enqueue``/``enqueue_many`` (producers/queue.py) stay: one RQ job per ticket, with the decision as the job's
result, for callers that wait on it. Both paths decide a ticket once, whichever way it came, as often as it
came: the decision script is idempotent.

The lane keys live on the queue Redis (producers know only that one); they are built here, not in
worker/core/keys.py, because producers never import the worker (keys.py re-exports them). They carry a
``{rr:lane:NN}`` hash tag so a lane's three keys share a slot wherever they live.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry
from rq.job import Job
from rq.queue import EnqueueData

from producers.queue import (
    FAILURE_TTL_SECONDS,
    JOB_RETRIES,
    MAX_BATCH,
    RESULT_TTL_SECONDS,
    _unreachable,
    ticket_queue,
)
from schemas.inbound import TicketCreated

LANES = 16
"""Lanes per queue Redis. An account's lane is crc32(account) % LANES, like its state partition with the
default 16 partitions (then one lane's batch is one partition's, one Lua call). Never change it live: tickets
already pending in a lane would be drained after newer ones of the same account in their new lane."""
DRAIN_LANE = "worker.jobs.drain_lane"
BELL_TTL_MS = 30_000
"""A ringing bell (a drain job queued, not started) lapses after this: a producer that died between setting it
and enqueueing the job, or a drain job lost with its queue, strands the lane at most this long before another
producer or the workers' sweep (worker/runtime/release_sweeper.py) rings it again."""
DRAIN_JOB_TIMEOUT_SECONDS = 60
"""A drain runs at most ``worker.core.drain.DRAIN_BUDGET_SECONDS`` then hands the lane to a new job."""


@dataclass(frozen=True, slots=True)
class LaneKeys:
    """Key names of one lane (on the queue Redis)."""

    lane: int

    @property
    def base(self) -> str:
        return f"{{rr:lane:{self.lane:02d}}}"

    @property
    def pending(self) -> str:
        """List of JSON entries ``{"ticket": TicketCreated as JSON, "enqueued_ms": n}``, oldest first."""
        return f"{self.base}:pending"

    @property
    def bell(self) -> str:
        """The id of the lane's drain job while it is queued and has not started (expires after ``BELL_TTL_MS``)."""
        return f"{self.base}:bell"

    @property
    def lease(self) -> str:
        """String: the token of the drain deciding the lane now (expires: a killed drain's lane is retaken)."""
        return f"{self.base}:lease"


def lane_of(account_id: str) -> int:
    """Stable account → lane (crc32 is stable across processes, unlike ``hash``)."""
    return zlib.crc32(account_id.encode()) % LANES


class Pushed(NamedTuple):
    """What a push returns: where the ticket waits and the drain job due on its lane when it was pushed."""

    account_id: str
    ticket_id: str
    lane: int
    drain_job_id: str
    """The drain job queued for the lane (this push's, or one already due): it decides the ticket, or finds
    the lane held by a running drain that does. Its result counts what it decided, not this ticket's decision."""
    rang: bool
    """The push (call) that carried this ticket rang the bell: it enqueued ``drain_job_id``."""


def new_drain_job_id() -> str:
    """A drain job's id, chosen before the job is enqueued: the bell holds it (RQ ids allow ``[A-Za-z0-9_-]``)."""
    return f"drain-{uuid.uuid4().hex}"


def pending_entry(event: TicketCreated, enqueued_ms: int) -> str:
    """The JSON a lane holds for one ticket (the drain validates it again: an entry may bypass producers)."""
    return json.dumps({"ticket": event.model_dump(mode="json"), "enqueued_ms": enqueued_ms}, separators=(",", ":"))


def drain_job_data(lane: int, job_id: str) -> EnqueueData:
    return Queue.prepare_data(
        DRAIN_LANE,
        args=({"lane": lane},),
        description=f"drain lane {lane} (burst intake)",
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=FAILURE_TTL_SECONDS,
        timeout=DRAIN_JOB_TIMEOUT_SECONDS,
        retry=Retry(max=JOB_RETRIES),
        meta={"lane": lane},
        job_id=job_id,
    )


def enqueue_drains(job_ids: Mapping[int, str], connection: redis.Redis) -> list[Job]:
    """Enqueue one drain job per lane, with the id its bell holds (the caller set the bell), in one pipeline."""
    if not job_ids:
        return []
    jobs: list[Job] = ticket_queue(connection).enqueue_many(
        [drain_job_data(lane, job_id) for lane, job_id in sorted(job_ids.items())]
    )
    return jobs


def push(event: TicketCreated, connection: redis.Redis) -> Pushed:
    """Put one validated ticket on its lane and ring the lane's bell (a drain job only when none is due)."""
    if not isinstance(event, TicketCreated):
        raise TypeError("push takes a TicketCreated; use build_ticket() or an adapter for raw data")
    return push_many([event], connection)[0]


def push_many(events: Iterable[TicketCreated], connection: redis.Redis) -> list[Pushed]:
    """Put many validated tickets on their lanes in one MULTI/EXEC (all or none, in the given order), then
    enqueue a drain job for each lane whose bell this call set. All are checked before any is sent."""
    batch = list(events)
    if len(batch) > MAX_BATCH:
        raise ValueError(f"push_many takes at most {MAX_BATCH} events per call, got {len(batch)}")
    for index, event in enumerate(batch):
        if not isinstance(event, TicketCreated):
            raise TypeError(f"events[{index}] is {type(event).__name__}, not TicketCreated")
    if not batch:
        return []
    enqueued_ms = int(time.time() * 1000)
    by_lane: dict[int, list[str]] = {}
    for event in batch:
        by_lane.setdefault(lane_of(event.account_id), []).append(pending_entry(event, enqueued_ms))
    offered = {lane: new_drain_job_id() for lane in by_lane}
    try:
        pipe = connection.pipeline(transaction=True)
        for lane, entries in by_lane.items():
            keys = LaneKeys(lane)
            pipe.rpush(keys.pending, *entries)
            pipe.set(keys.bell, offered[lane], nx=True, px=BELL_TTL_MS)
            pipe.get(keys.bell)
        replies = pipe.execute()
        due = {lane: _text(bell) for lane, bell in zip(by_lane, replies[2::3], strict=True)}
        rang = {lane: job_id for lane, job_id in due.items() if job_id == offered[lane]}
        enqueue_drains(rang, connection)
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise _unreachable(connection, error) from error
    return [
        Pushed(event.account_id, event.ticket_id, lane, due[lane], lane in rang)
        for event in batch
        for lane in (lane_of(event.account_id),)
    ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
