"""Where the burst intake sets aside a ticket it cannot decide: RQ's failed registry, as a ticket job.

A lane entry that is not a valid ticket, or a ticket the decision refused (an account nobody set up, the
waiting ceiling), must not hold back the tickets behind it (docs/DESIGN.md, "Burst intake"). It becomes a
failed ``process_ticket`` job carrying the entry's ticket and the reason, exactly what a per-ticket job that
failed the same way looks like, so ``helpdesk-rr failed`` lists it under its account and ``--requeue`` runs it
as an ordinary ticket job (decided once, like any ticket). The job id is derived from the account and ticket
(or, for an entry that names none, from the entry): a drain that crashed after setting a ticket aside and
sets it aside again on its retry overwrites the same job instead of listing it twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import redis
from rq.job import Job, JobStatus

from producers.queue import FAILURE_TTL_SECONDS, JOB_TIMEOUT_SECONDS, PROCESS_TICKET, QUEUE_NAME, SERIALIZER
from worker.core.engine import utc_now
from worker.runtime.malformed import one_line


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """One lane entry set aside: its ticket payload as pushed (or the raw entry), and why."""

    payload: Any
    reason: str
    account_id: str | None = None
    ticket_id: str | None = None

    @property
    def job_id(self) -> str:
        if self.account_id is not None and self.ticket_id is not None:
            seed = f"{self.account_id}\0{self.ticket_id}"
        else:
            seed = f"entry\0{self.payload!r}"
        return f"intake-{hashlib.sha256(seed.encode()).hexdigest()[:40]}"


def dead_letter(connection: redis.Redis, entries: list[DeadEntry]) -> list[str]:
    """File ``entries`` as failed ticket jobs in one pipeline; returns their job ids."""
    if not entries:
        return []
    now = utc_now()
    pipe = connection.pipeline(transaction=True)
    ids = []
    for entry in entries:
        job = Job.create(
            PROCESS_TICKET,
            args=(entry.payload,),
            connection=connection,
            serializer=SERIALIZER,
            id=entry.job_id,
            origin=QUEUE_NAME,
            description=f"ticket {entry.account_id or '?'}/{entry.ticket_id or '?'} (set aside by the burst intake)",
            timeout=JOB_TIMEOUT_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            meta={"account_id": entry.account_id, "ticket_id": entry.ticket_id, "intake": "dead-letter"},
            status=JobStatus.FAILED,
        )
        job.ended_at = now
        job.save(pipeline=pipe)
        job._handle_failure(one_line(entry.reason), pipeline=pipe)
        ids.append(job.id)
    pipe.execute()
    return ids
