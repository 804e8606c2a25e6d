"""RQ entry points. Each job validates its payload (a job may bypass producers), then makes one engine call.

A payload that fails validation raises ``InvalidJob``: RQ puts the job in its failed registry with
that message, and the worker goes on. Transient Redis errors are retried by the client
(worker/runtime/connection.py); the decision script is idempotent, so a retry never assigns twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import redis
import structlog
from pydantic import BaseModel, ValidationError
from rq import get_current_job
from rq.job import Job

from producers.queue import enqueue_release
from schemas.export import event_type_of
from schemas.inbound import (
    AgentFirstReply,
    BulkAssignRequest,
    CustomerReply,
    TicketClose,
    TicketCreated,
    TicketReopen,
)
from schemas.plain import shown
from worker.config import Settings
from worker.core.engine import Engine, utc_now
from worker.core.lru import LRUCache
from worker.errors import HelpdeskError, validation_summary
from worker.runtime.topology import state_client_or

log = structlog.get_logger("helpdesk_rr.jobs")

ENGINES_CACHE_SIZE = 4
"""Engines kept per process, one per Redis client. A worker uses one (its state client); more appear
only where clients come and go (tests, embedding code). Each engine carries its own bounded account
caches (worker/core/engine.py), so the process total is at most this many times theirs."""

MAX_RESULT_BYTES = 4_096
"""A job's stored result (RQ keeps it, JSON, for ``--wait`` callers) is at most this big. Ours are a
few ids and counts (ids are at most 128 characters), well under 1 KB; a result over the cap is
stored as ``{"truncated": true, "bytes": n}`` (the decision itself is in the ticket record and the
event stream)."""

_engines: LRUCache[int, Engine] = LRUCache(ENGINES_CACHE_SIZE)
_settings: Settings | None = None


def configure(settings: Settings | None) -> None:
    """The worker entry point (worker/runtime/runner.py) hands its settings over before taking jobs
    (``None``: forget them, so the next job reads the environment again)."""
    global _settings, _engines
    _settings = settings
    _engines = LRUCache(ENGINES_CACHE_SIZE)  # engines built with other settings must not be reused


def _current_settings() -> Settings:
    """The configured settings; a worker started some other way (a plain ``rq worker``) reads the
    environment here, once, at its first job."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


class InvalidJob(ValueError):
    """A job whose payload is not a valid event: failing it is final (retrying cannot help)."""


def engine_for(connection: redis.Redis) -> Engine:
    """One engine (scripts registered once, office-hours cache) per connection per process.

    A worker attached to a queue shard decides on the state Redis it was given at start
    (worker/runtime/topology.py); with one Redis for everything that is the job's own connection."""
    queue, connection = connection, state_client_or(connection)
    engine = _engines.get(id(connection))
    if engine is None or engine.client is not connection:  # new, evicted, or an id reused by a new client
        settings = _current_settings()
        engine = Engine(connection, settings.retention, settings.partitions)
        _engines.put(id(connection), engine)
    engine.on_release = _enqueuer(queue)
    return engine


def _enqueuer(queue: redis.Redis) -> Callable[[str], None]:
    """Releases a job rings go on the queue the job came from (its shard, in the split topology)."""

    def enqueue(account_id: str) -> None:
        enqueue_release(account_id, queue)

    return enqueue


ModelT = TypeVar("ModelT", bound=BaseModel)


def _current_job() -> Job:
    job = get_current_job()
    if job is None:  # pragma: no cover - only ever called by RQ
        raise RuntimeError("helpdesk-rr jobs run inside RQ")
    return job


@contextmanager
def _refusals_are_final(job: Job) -> Iterator[None]:
    """A bad payload or a refused action fails the job once: retrying cannot make it pass, so it goes
    straight to the failed registry with its one-line reason (transient errors still retry)."""
    try:
        with structlog.contextvars.bound_contextvars(job_id=job.id):
            yield
    except (InvalidJob, HelpdeskError) as error:
        log.warning("job.refused", job_id=job.id, reason=str(error))
        job.retries_left = 0
        raise


def _validated(model: type[ModelT], payload: Any, label: str, now: datetime | None = None) -> ModelT:
    if not isinstance(payload, dict):
        raise InvalidJob(f"payload must be a JSON object with named fields (got {shown(payload)})")
    try:
        return model.model_validate(payload, context={"now": now} if now else None)
    except ValidationError as error:
        raise InvalidJob(f"invalid {label}: {validation_summary(error)}") from None


def bounded(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as stored by RQ (JSON), or a small marker when it is over ``MAX_RESULT_BYTES``."""
    size = len(json.dumps(result).encode())
    if size <= MAX_RESULT_BYTES:
        return result
    log.warning("job.result_truncated", bytes=size, limit=MAX_RESULT_BYTES)
    return {"truncated": True, "bytes": size}


def process_ticket(payload: Any) -> dict[str, Any]:
    """Decide one ticket-created event (the payload is ``TicketCreated.model_dump(mode="json")``)."""
    job = _current_job()
    now = utc_now()
    with _refusals_are_final(job):
        ticket = _validated(TicketCreated, payload, "ticket.created event", now)
        decision = engine_for(job.connection).decide(ticket, now, enqueued_at=job.enqueued_at)
    return bounded(
        {
            "account_id": decision.account_id,
            "ticket_id": decision.ticket_id,
            "outcome": decision.outcome,
            "agent_id": decision.agent_id,
            "reason": decision.reason,
            "available_at": decision.available_at.isoformat() if decision.available_at else None,
            "duplicate": decision.duplicate,
        }
    )


def process_first_reply(payload: Any) -> dict[str, Any]:
    """Record an agent's first reply (``AgentFirstReply`` as JSON): TTFR into the day's figures."""
    job = _current_job()
    now = utc_now()
    with _refusals_are_final(job):
        reply = _validated(AgentFirstReply, payload, "agent.first_reply event", now)
        ttfr, duplicate = engine_for(job.connection).record_first_reply(reply, now)
    return bounded(
        {"account_id": reply.account_id, "ticket_id": reply.ticket_id, "ttfr_seconds": ttfr, "duplicate": duplicate}
    )


def _lifecycle(payload: Any, model: type[TicketClose] | type[TicketReopen]) -> dict[str, Any]:
    job = _current_job()
    now = utc_now()
    with _refusals_are_final(job):
        event = _validated(model, payload, f"{event_type_of(model)} event", now)
        engine = engine_for(job.connection)
        act = engine.close_ticket if isinstance(event, TicketClose) else engine.reopen_ticket
        change = act(event.account_id, event.ticket_id, now, event.at)
    return bounded(
        {
            "account_id": change.account_id,
            "ticket_id": change.ticket_id,
            "action": change.action,
            "changed": change.changed,
            "agent_id": change.agent_id,
            "reassigned_from": change.reassigned_from,
        }
    )


def process_close(payload: Any) -> dict[str, Any]:
    """Close a ticket (``TicketClose`` as JSON); idempotent; a close before its ticket is kept."""
    return _lifecycle(payload, TicketClose)


def process_reopen(payload: Any) -> dict[str, Any]:
    """Reopen a closed ticket (``TicketReopen`` as JSON); idempotent."""
    return _lifecycle(payload, TicketReopen)


def process_customer_reply(payload: Any) -> dict[str, Any]:
    """A new customer message on a ticket (``CustomerReply`` as JSON): reassigned when its assignee is away
    (reassign-away). A reply on a ticket never seen (or whose record expired) fails with that reason."""
    job = _current_job()
    now = utc_now()
    with _refusals_are_final(job):
        event = _validated(CustomerReply, payload, "ticket.customer_reply event", now)
        result = engine_for(job.connection).customer_reply(event.account_id, event.ticket_id, event.at, now)
    return bounded(
        {
            "account_id": result.account_id,
            "ticket_id": result.ticket_id,
            "outcome": result.outcome,
            "agent_id": result.agent_id,
            "reason": result.reason,
            "previous_agent_id": result.previous_agent_id,
        }
    )


def bulk_assign(payload: Any) -> dict[str, Any]:
    """A bulk team assignment (``BulkAssignRequest`` as JSON); see worker/core/bulk.py."""
    from worker.core.bulk import run_bulk_assign

    job = _current_job()
    with _refusals_are_final(job):
        request = _validated(BulkAssignRequest, payload, "bulk-assign request")
        return bounded(run_bulk_assign(engine_for(job.connection), job, request))


def process_release(payload: Any) -> dict[str, Any]:
    """Release an account's waiting queue (``{"account_id": ...}``), enqueued by helpdesk-rr when room
    appeared; see worker/core/release.py. Safe to run twice or alongside another release of the account."""
    from worker.core.release import run_release

    job = _current_job()
    with _refusals_are_final(job):
        if not isinstance(payload, dict) or not isinstance(payload.get("account_id"), str):
            raise InvalidJob(f"payload must be a JSON object with an account_id (got {shown(payload)})")
        engine = engine_for(job.connection)
        result = run_release(engine.scripts, engine.keys(payload["account_id"]), utc_now)
    return bounded(
        {
            "account_id": result.account_id,
            "assigned": result.assigned,
            "batches": result.batches,
            "toasts": result.toasts,
            "longest_call_ms": round(result.longest_us / 1000, 2),
        }
    )


def drain_lane(payload: Any) -> dict[str, Any]:
    """Decide a burst-intake lane's pending tickets (``{"lane": n}``), enqueued when a push rang the lane's
    bell; see worker/runtime/drain.py. Safe to run twice or alongside another drain of the lane (a lease)."""
    from worker.runtime.drain import LaneDrain

    job = _current_job()
    with _refusals_are_final(job):
        lane = payload.get("lane") if isinstance(payload, dict) else None
        if not isinstance(lane, int) or isinstance(lane, bool):
            raise InvalidJob(f"payload must be a JSON object with an integer lane (got {shown(payload)})")
        try:
            drain = LaneDrain(engine_for(job.connection), job.connection, lane)
        except ValueError as error:
            raise InvalidJob(str(error)) from None
        result = drain.run()
    return bounded(
        {
            "lane": result.lane,
            "decided": result.decided,
            "set_aside": result.set_aside,
            "batches": result.batches,
            "longest_call_ms": round(result.longest_call_ms, 2),
            "ended": result.ended,
        }
    )

