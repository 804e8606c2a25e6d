"""The enqueue API integrations import: validate, then put ticket-created events on the RQ queue.

Producers never import the worker: jobs are referenced by dotted name, so an integration needs
only ``schemas``, ``producers``, ``rq`` and ``redis``.

Job data, meta and results are JSON (RQ's ``JSONSerializer``), never pickle: whoever can write to
Redis must not be able to make a worker or ``helpdesk-rr failed`` run code by planting a job
(docs/PRODUCERS.md, "The job format").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job
from rq.queue import EnqueueData
from rq.serializers import JSONSerializer

from schemas.common import utc_iso
from schemas.inbound import AgentFirstReply, CustomerReply, TicketClose, TicketCreated, TicketReopen

QUEUE_NAME = "helpdesk-rr"
PROCESS_TICKET = "worker.jobs.process_ticket"
PROCESS_FIRST_REPLY = "worker.jobs.process_first_reply"
PROCESS_CLOSE = "worker.jobs.process_close"
PROCESS_REOPEN = "worker.jobs.process_reopen"
PROCESS_RELEASE = "worker.jobs.process_release"
PROCESS_CUSTOMER_REPLY = "worker.jobs.process_customer_reply"
RELEASE_JOB_TIMEOUT_SECONDS = 300
"""A release of a large waiting queue runs for seconds (batches of a few ms each), like a bulk job."""
RESULT_TTL_SECONDS = 300
"""A finished job's result is kept 5 minutes (for ``--wait`` style callers); the decision itself
lives in the ticket record and the event stream."""
FAILURE_TTL_SECONDS = 7 * 24 * 3600
"""Failed jobs stay in RQ's failed registry a week, for ops to inspect and requeue."""
JOB_TIMEOUT_SECONDS = 10
"""A decision takes milliseconds; a job still running after 10 s is stuck. Short, because the
worker's crash detection (worker/runtime/runner.py) is built on it."""
JOB_RETRIES = 3
"""Attempts after the first when a job fails for a reason that may pass (a worker killed mid-job,
Redis unreachable). Invalid payloads are never retried (worker/jobs.py)."""
SERIALIZER = JSONSerializer
"""How every helpdesk-rr queue, job and registry (de)serializes job data, meta and results: JSON.
Workers never unpickle; a job whose data is not JSON is moved aside (worker/runtime/failures.py)."""
MAX_BATCH = 10_000
"""Largest batch ``enqueue_many`` accepts in one pipeline (bounds one round trip's size)."""
ONCE_ATTEMPTS = 5
"""``once=True``: how often a batch is tried again when a job of it changed between the look and the write."""


_queues: dict[int, Queue] = {}


class EnqueueFailed(RuntimeError):
    """Redis could not be reached (after the client's bounded retries): the event is NOT confirmed
    as enqueued. Retrying later is always safe: a ticket decided twice is decided once."""


def _unreachable(connection: redis.Redis, error: Exception) -> EnqueueFailed:
    kwargs = connection.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
    return EnqueueFailed(f"cannot reach Redis at {where}: {error}; the event was not enqueued")


def ticket_queue(connection: redis.Redis) -> Queue:
    """The ticket queue on ``connection``, built once per connection: RQ's ``Queue`` asks Redis for
    its version when built, which would cost every enqueue an extra round trip. Its jobs are JSON."""
    queue = _queues.get(id(connection))
    if queue is None or queue.connection is not connection:
        queue = _queues[id(connection)] = Queue(QUEUE_NAME, connection=connection, serializer=SERIALIZER)
    return queue


def build_ticket(data: Mapping[str, Any] | TicketCreated, now: datetime | None = None) -> TicketCreated:
    """Validate raw fields into a ``TicketCreated`` (raises ``pydantic.ValidationError`` naming the field)."""
    if isinstance(data, TicketCreated):
        return data
    context = {"now": now} if now is not None else None
    return TicketCreated.model_validate(dict(data) if isinstance(data, Mapping) else data, context=context)


def _job_options() -> dict[str, Any]:
    return {
        "result_ttl": RESULT_TTL_SECONDS,
        "failure_ttl": FAILURE_TTL_SECONDS,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "retry": Retry(max=JOB_RETRIES),
    }


def _meta(event: TicketCreated) -> dict[str, str]:
    """Kept on the job so ops can find an account's failed jobs without decoding payloads."""
    return {"account_id": event.account_id, "ticket_id": event.ticket_id}


def ticket_job_id(event: TicketCreated) -> str:
    """The job id of a ticket enqueued with ``once=True``: the same for the same account and ticket (RQ ids
    allow only ``[A-Za-z0-9_-]``: hashed)."""
    digest = hashlib.sha256(f"{event.account_id}\0{event.ticket_id}".encode()).hexdigest()
    return f"ticket-{digest[:40]}"


def _prepared(event: TicketCreated, job_id: str | None = None) -> EnqueueData:
    options = _job_options()
    return Queue.prepare_data(
        PROCESS_TICKET,
        args=(event.model_dump(mode="json"),),
        description=f"ticket {event.account_id}/{event.ticket_id} ({event.channel.value})",
        result_ttl=options["result_ttl"],
        failure_ttl=options["failure_ttl"],
        timeout=options["job_timeout"],
        retry=options["retry"],
        meta=_meta(event),
        job_id=job_id,
    )


def enqueue(event: TicketCreated, connection: redis.Redis, *, once: bool = False) -> Job:
    """Enqueue one already-validated ticket-created event.

    ``once=True`` (providers' webhooks, whose retries repeat a delivery): while a job for the same account and
    ticket exists (queued, running, its result kept 5 minutes, or failed), that job is returned and nothing is
    enqueued; the job id is ``ticket_job_id(event)``. Either way the ticket is decided once."""
    if not isinstance(event, TicketCreated):
        raise TypeError("enqueue takes a TicketCreated; use build_ticket() or an adapter for raw data")
    if once:
        return enqueue_many([event], connection, once=True)[0]
    try:
        job: Job = ticket_queue(connection).enqueue(
            PROCESS_TICKET,
            event.model_dump(mode="json"),
            description=f"ticket {event.account_id}/{event.ticket_id} ({event.channel.value})",
            meta=_meta(event),
            **_job_options(),
        )
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise _unreachable(connection, error) from error
    return job


def enqueue_many(events: Iterable[TicketCreated], connection: redis.Redis, *, once: bool = False) -> list[Job]:
    """Enqueue many events in one pipeline (one round trip). All are checked before any is sent.

    ``once=True``: as for ``enqueue``, a ticket whose job exists gets that job back (the list keeps the order
    of ``events``; a ticket given twice gets one job), all in one MULTI/EXEC guarded by WATCH."""
    batch = list(events)
    if len(batch) > MAX_BATCH:
        raise ValueError(f"enqueue_many takes at most {MAX_BATCH} events per call, got {len(batch)}")
    for index, event in enumerate(batch):
        if not isinstance(event, TicketCreated):
            raise TypeError(f"events[{index}] is {type(event).__name__}, not TicketCreated")
    if not batch:
        return []
    try:
        queue = ticket_queue(connection)
        if once:
            return _enqueue_once(queue, batch)
        jobs: list[Job] = queue.enqueue_many([_prepared(event) for event in batch])  # one MULTI/EXEC: all or none
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise _unreachable(connection, error) from error
    return jobs


def _enqueue_once(queue: Queue, batch: list[TicketCreated]) -> list[Job]:
    """``enqueue_many(once=True)``: WATCH the tickets' job keys, enqueue those without a job in MULTI/EXEC, fetch
    the others; a job written or removed by someone else meanwhile makes it look again."""
    events: dict[str, TicketCreated] = {}
    for event in batch:
        events.setdefault(ticket_job_id(event), event)  # a ticket given twice: its first event
    for _attempt in range(ONCE_ATTEMPTS):
        with queue.connection.pipeline() as pipe:
            try:
                pipe.watch(*(Job.key_for(job_id) for job_id in events))  # type: ignore[no-untyped-call]
                existing = [job_id for job_id in events if pipe.exists(Job.key_for(job_id))]
                pipe.multi()
                new = [_prepared(event, job_id) for job_id, event in events.items() if job_id not in existing]
                made = queue.enqueue_many(new, pipeline=pipe) if new else []
                pipe.execute()
            except WatchError:
                continue
        found = Job.fetch_many(existing, connection=queue.connection, serializer=SERIALIZER)
        if all(job is not None for job in found):
            jobs = {job.id: job for job in [*made, *found] if job is not None}
            return [jobs[ticket_job_id(event)] for event in batch]
    raise EnqueueFailed(f"the tickets' jobs kept changing under {ONCE_ATTEMPTS} attempts; nothing was confirmed")


def enqueue_first_reply(event: AgentFirstReply, connection: redis.Redis) -> Job:
    """Report an agent's first reply to a ticket (time to first reply). The worker refuses, into the
    failed registry with the reason, a reply to a ticket it never saw or one dated before the ticket."""
    if not isinstance(event, AgentFirstReply):
        raise TypeError("enqueue_first_reply takes an AgentFirstReply")
    description = f"first reply {event.account_id}/{event.ticket_id} by {event.agent_id}"
    return _enqueue_ticket_event(event, PROCESS_FIRST_REPLY, description, connection)


def _enqueue_ticket_event(
    event: AgentFirstReply | TicketClose | TicketReopen | CustomerReply,
    function: str,
    description: str,
    connection: redis.Redis,
    job_id: str | None = None,
) -> Job:
    """One JSON job about an existing ticket; the account and ticket in its meta (``failed`` reads them)."""
    try:
        job: Job = ticket_queue(connection).enqueue(
            function,
            event.model_dump(mode="json"),
            description=description,
            meta={"account_id": event.account_id, "ticket_id": event.ticket_id},
            job_id=job_id,
            unique=job_id is not None,
            **_job_options(),
        )
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise _unreachable(connection, error) from error
    return job


def customer_reply_job_id(event: CustomerReply) -> str:
    """The job id of a customer reply: the same for the same account, ticket and time, so a repeat sent while
    the first is queued or its result kept is that one job (RQ ids allow only ``[A-Za-z0-9_-]``: hashed)."""
    digest = hashlib.sha256(f"{event.account_id} {event.ticket_id} {utc_iso(event.at)}".encode()).hexdigest()
    return f"customer-reply-{digest[:40]}"


def enqueue_customer_reply(event: CustomerReply, connection: redis.Redis) -> Job:
    """Report a new customer message on an existing ticket (reassign-away). Idempotent: a repeat of the same
    reply is the same job while it is queued or its result kept (5 minutes), and after that the worker finds
    it already processed (a reply at or before the last one changes nothing). A reply on a ticket the worker
    never saw lands in the failed registry with its reason."""
    if not isinstance(event, CustomerReply):
        raise TypeError("enqueue_customer_reply takes a CustomerReply")
    job_id = customer_reply_job_id(event)
    description = f"customer reply {event.account_id}/{event.ticket_id} at {utc_iso(event.at)}"
    try:
        return _enqueue_ticket_event(event, PROCESS_CUSTOMER_REPLY, description, connection, job_id)
    except DuplicateJobError:
        try:
            return Job.fetch(job_id, connection=connection, serializer=SERIALIZER)
        except NoSuchJobError:  # pragma: no cover - finished and expired in between: enqueue it again
            return _enqueue_ticket_event(event, PROCESS_CUSTOMER_REPLY, description, connection, job_id)


def enqueue_close(event: TicketClose, connection: redis.Redis) -> Job:
    """Report that a ticket was closed. A worker records it (idempotent); a close that arrives before its
    ticket is kept, and the ticket is then never assigned. An unknown account is refused by the worker."""
    if not isinstance(event, TicketClose):
        raise TypeError("enqueue_close takes a TicketClose")
    return _enqueue_ticket_event(event, PROCESS_CLOSE, f"close {event.account_id}/{event.ticket_id}", connection)


def enqueue_reopen(event: TicketReopen, connection: redis.Redis) -> Job:
    """Report that a closed ticket was reopened. A worker records it (idempotent)."""
    if not isinstance(event, TicketReopen):
        raise TypeError("enqueue_reopen takes a TicketReopen")
    return _enqueue_ticket_event(event, PROCESS_REOPEN, f"reopen {event.account_id}/{event.ticket_id}", connection)


def enqueue_release(account_id: str, connection: redis.Redis) -> Job:
    """Ask a worker to release the account's waiting queue (worker/core/release.py). Enqueued by helpdesk-rr
    itself when a script rang the release (it then holds the account's release lease), never by integrations."""
    try:
        job: Job = ticket_queue(connection).enqueue(
            PROCESS_RELEASE,
            {"account_id": account_id},
            description=f"release waiting tickets of {account_id}",
            meta={"account_id": account_id},
            job_timeout=RELEASE_JOB_TIMEOUT_SECONDS,
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            retry=Retry(max=JOB_RETRIES),
        )
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise _unreachable(connection, error) from error
    return job
