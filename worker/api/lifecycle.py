"""``Helpdesk.close_ticket`` and ``Helpdesk.reopen_ticket`` (a mixin of worker/api/helpdesk.py's ``Helpdesk``):
validated, the account checked, enqueued for a worker (worker/jobs.py ``process_close``/``process_reopen``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import redis
from rq.job import Job

from producers.queue import enqueue_close, enqueue_reopen
from schemas.inbound import TicketClose, TicketReopen
from worker.api.refusals import known_account, refusing
from worker.core.engine import utc_now
from worker.core.queries import Queries


class _Host(Protocol):
    """What the mixin needs from ``Helpdesk``."""

    @property
    def queries(self) -> Queries: ...

    def queue_for(self, account_id: str) -> redis.Redis: ...

    def redis_location(self) -> str: ...


class LifecycleApi:
    """Closing and reopening tickets (docs/API.md), on a host with ``queries`` and ``queue_for``."""

    @refusing
    def close_ticket(
        self: _Host, account_id: str, ticket_id: str, at: datetime | str | None = None, now: datetime | None = None
    ) -> Job:
        """Report that a ticket was closed; a worker records it (idempotent). A ticket not seen yet is fine:
        the close is kept and the ticket, when it arrives, is never assigned. An unknown account is refused now."""
        return _enqueue_lifecycle(self, TicketClose, account_id, ticket_id, at, now)

    @refusing
    def reopen_ticket(
        self: _Host, account_id: str, ticket_id: str, at: datetime | str | None = None, now: datetime | None = None
    ) -> Job:
        """Report that a closed ticket was reopened; a worker records it (idempotent). An unknown account is
        refused now."""
        return _enqueue_lifecycle(self, TicketReopen, account_id, ticket_id, at, now)


def _enqueue_lifecycle(
    host: _Host,
    model: type[TicketClose] | type[TicketReopen],
    account_id: str,
    ticket_id: str,
    at: datetime | str | None,
    now: datetime | None,
) -> Job:
    now = now or utc_now()
    fields = {"account_id": account_id, "ticket_id": ticket_id, "at": at or now}
    event = model.model_validate(fields, context={"now": now})
    known_account(host.queries, account_id)
    queue = host.queue_for(account_id)
    if isinstance(event, TicketClose):
        return enqueue_close(event, queue)
    return enqueue_reopen(event, queue)
