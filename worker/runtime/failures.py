"""Ops view of the jobs that did not run: RQ's failed registry for our jobs, and the queue entries
workers moved aside (worker/runtime/malformed.py). List them per account, requeue what can run again.

Nothing here unpickles: jobs are fetched with the JSON serializer, and a job whose data is not JSON
is listed as undecodable (``kind="undecodable"``), never decoded another way. Every text shown
(ids, reasons) is made one printable line, cut at ``MAX_REASON_CHARS``.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any, Literal

import redis
from pydantic import BaseModel, ConfigDict, Field
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from producers.queue import QUEUE_NAME, SERIALIZER
from worker.core.engine import utc_now
from worker.runtime.malformed import (
    JOB_ID,
    MAX_ENTRY_CHARS,
    MAX_REASON_CHARS,
    TRANSIENT,
    job_problem,
    list_entries,
    one_line,
)

Kind = Literal["failed", "undecodable", "malformed"]


class FailedTicketJob(BaseModel):
    """One failed ticket job (``helpdesk-rr failed --json`` prints these)."""

    model_config = ConfigDict(frozen=True)

    job_id: str = Field(description="RQ job id (for a malformed entry: the entry as it was on the queue, printable).")
    account_id: str | None = Field(description="Account of the ticket, when the payload names one.")
    ticket_id: str | None = Field(description="Ticket id, when the payload names one.")
    reason: str = Field(
        description="Last line of the failure: the exception and its message (one printable line, at most "
        f"{MAX_REASON_CHARS} characters)."
    )
    failed_at: datetime | None = Field(description="When the last attempt failed (UTC).")
    kind: Kind = Field(
        default="failed",
        description="`failed`: the job ran and failed (can be requeued). `undecodable`: its data is not "
        "valid JSON or not a helpdesk-rr job, so it is never run (cannot be requeued). `malformed`: a queue "
        "entry a worker moved aside (bad id, no job hash, data not JSON); cannot be requeued.",
    )

    @property
    def requeueable(self) -> bool:
        return self.kind == "failed"


def _payload_field(job: Job, field: str) -> str | None:
    meta = job.meta if isinstance(job.meta, dict) else {}
    value = meta.get(field)
    if value is None and job.args and isinstance(job.args[0], dict):
        value = job.args[0].get(field)
    return one_line(value, MAX_ENTRY_CHARS) if isinstance(value, str) else None


def _reason(job: Job) -> str:
    try:
        result = job.latest_result()
    except Exception:  # a planted result hash: the job's own exc_info still says why
        result = None
    text = result.exc_string if result is not None else None
    if not text:  # no result hash (RQ before 1.12, or planted): the job's own copy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            text = job.exc_info
    text = text or "unknown"
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return one_line(lines[-1].strip()) if lines else "unknown"


def failed_registry(connection: redis.Redis) -> FailedJobRegistry:
    return FailedJobRegistry(QUEUE_NAME, connection=connection, serializer=SERIALIZER)


def _row(connection: redis.Redis, raw: bytes) -> FailedTicketJob | None:
    """One failed-registry entry as a row; None when its job hash is gone (RQ's cleanup drops those)."""
    job_id = raw.decode("utf-8", "backslashreplace")
    shown = one_line(job_id, MAX_ENTRY_CHARS)
    if not JOB_ID.fullmatch(job_id):
        return FailedTicketJob(
            job_id=shown, account_id=None, ticket_id=None, failed_at=None, kind="malformed", reason="bad job id"
        )
    try:
        job = Job.fetch(job_id, connection=connection, serializer=SERIALIZER)
    except NoSuchJobError:
        return None
    except TRANSIENT:
        raise
    except Exception as error:  # a hash that is not an RQ job
        reason = one_line(f"unreadable job hash: {type(error).__name__}: {error}")
        return FailedTicketJob(
            job_id=shown, account_id=None, ticket_id=None, failed_at=None, kind="malformed", reason=reason
        )
    problem = job_problem(job)
    if problem is not None:
        return FailedTicketJob(
            job_id=job.id, account_id=None, ticket_id=None, failed_at=job.ended_at, kind="undecodable", reason=problem
        )
    return FailedTicketJob(
        job_id=job.id,
        account_id=_payload_field(job, "account_id"),
        ticket_id=_payload_field(job, "ticket_id"),
        reason=_reason(job),
        failed_at=job.ended_at,
    )


def list_failed(
    connection: redis.Redis, account_id: str | None = None, now: datetime | None = None
) -> list[FailedTicketJob]:
    """Failed ticket jobs, oldest failure first; only ``account_id``'s when given. Without an account,
    also undecodable and malformed ones (they name no account anyone can trust), the queue entries
    workers moved aside last (those younger than a week at ``now``, default: the wall clock)."""
    registry = failed_registry(connection)
    registry.cleanup()
    entries: Any = connection.zrange(registry.key, 0, -1)
    rows = [row for raw in entries if (row := _row(connection, raw)) is not None]
    if account_id is not None:
        return [row for row in rows if row.kind == "failed" and row.account_id == account_id]
    for item in list_entries(connection, QUEUE_NAME, now or utc_now()):
        rows.append(
            FailedTicketJob(
                job_id=item.entry,
                account_id=None,
                ticket_id=None,
                reason=item.reason,
                failed_at=item.at,
                kind="malformed",
            )
        )
    return rows


def requeue(connection: redis.Redis, jobs: list[FailedTicketJob]) -> int:
    """Put failed jobs back on the queue (e.g. after fixing the integration that sent them). Rows that
    cannot run (undecodable, malformed) are skipped: requeuing them would only move them aside again."""
    registry = failed_registry(connection)
    count = 0
    for row in jobs:
        if not row.requeueable:
            continue
        try:
            registry.requeue(row.job_id)
        except (InvalidJobOperation, NoSuchJobError):  # requeued or expired meanwhile
            continue
        count += 1
    return count
