"""Ops view of RQ's failed registry for ticket jobs: list them per account, requeue them."""

from __future__ import annotations

from datetime import datetime

import redis
from pydantic import BaseModel, ConfigDict, Field
from rq.job import Job
from rq.registry import FailedJobRegistry

from producers.queue import QUEUE_NAME


class FailedTicketJob(BaseModel):
    """One failed ticket job (``helpdesk-rr failed --json`` prints these)."""

    model_config = ConfigDict(frozen=True)

    job_id: str = Field(description="RQ job id.")
    account_id: str | None = Field(description="Account of the ticket, when the payload names one.")
    ticket_id: str | None = Field(description="Ticket id, when the payload names one.")
    reason: str = Field(description="Last line of the failure: the exception and its message.")
    failed_at: datetime | None = Field(description="When the last attempt failed (UTC).")


def _payload_field(job: Job, field: str) -> str | None:
    value = (job.meta or {}).get(field)
    if value is None and job.args and isinstance(job.args[0], dict):
        value = job.args[0].get(field)
    return value if isinstance(value, str) else None


def _reason(job: Job) -> str:
    result = job.latest_result()
    text: str = (result.exc_string if result is not None else None) or job.exc_info or "unknown"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown"


def failed_registry(connection: redis.Redis) -> FailedJobRegistry:
    return FailedJobRegistry(QUEUE_NAME, connection=connection)


def list_failed(connection: redis.Redis, account_id: str | None = None) -> list[FailedTicketJob]:
    """Failed ticket jobs, oldest failure first; only ``account_id``'s when given."""
    rows = []
    for job_id in failed_registry(connection).get_job_ids():
        job = Job.fetch(job_id, connection=connection) if Job.exists(job_id, connection=connection) else None
        if job is None:
            continue
        account = _payload_field(job, "account_id")
        if account_id is not None and account != account_id:
            continue
        rows.append(
            FailedTicketJob(
                job_id=job.id,
                account_id=account,
                ticket_id=_payload_field(job, "ticket_id"),
                reason=_reason(job),
                failed_at=job.ended_at,
            )
        )
    return rows


def requeue(connection: redis.Redis, jobs: list[FailedTicketJob]) -> int:
    """Put failed jobs back on the queue (e.g. after fixing the integration that sent them)."""
    registry = failed_registry(connection)
    count = 0
    for row in jobs:
        registry.requeue(row.job_id)
        count += 1
    return count
