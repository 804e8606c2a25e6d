"""``Helpdesk.close_ticket`` and ``Helpdesk.reopen_ticket`` (a mixin of worker/api/helpdesk.py's ``Helpdesk``):
validated, the account checked, enqueued for a worker (worker/jobs.py ``process_close``/``process_reopen``)."""

from __future__ import annotations

from datetime import datetime

import redis
from rq.job import Job

from producers.queue import enqueue_close, enqueue_reopen
from schemas.inbound import TicketClose, TicketReopen
from worker.api.refusals import known_account, refusing
from worker.core.engine import utc_now
from worker.core.queries import Queries


class LifecycleApi:
    """Closing and reopening tickets (docs/API.md). Needs the host's ``queries`` and ``queue_for``."""

    @property
    def queries(self) -> Queries:
        raise NotImplementedError  # pragma: no cover - Helpdesk provides it

    def queue_for(self, account_id: str) -> redis.Redis:
        raise NotImplementedError  # pragma: no cover - Helpdesk provides it

    def redis_location(self) -> str:
        raise NotImplementedError  # pragma: no cover - Helpdesk provides it

    @refusing
    def close_ticket(
        self, account_id: str, ticket_id: str, at: datetime | str | None = None, now: datetime | None = None
    ) -> Job:
        """Report that a ticket was closed; a worker records it (idempotent). A ticket not seen yet is fine:
        the close is kept and the ticket, when it arrives, is never assigned. An unknown account is refused now."""
        return self._lifecycle(TicketClose, account_id, ticket_id, at, now)

    @refusing
    def reopen_ticket(
        self, account_id: str, ticket_id: str, at: datetime | str | None = None, now: datetime | None = None
    ) -> Job:
        """Report that a closed ticket was reopened; a worker records it (idempotent). An unknown account is
        refused now."""
        return self._lifecycle(TicketReopen, account_id, ticket_id, at, now)

    def _lifecycle(
        self,
        model: type[TicketClose] | type[TicketReopen],
        account_id: str,
        ticket_id: str,
        at: datetime | str | None,
        now: datetime | None,
    ) -> Job:
        now = now or utc_now()
        fields = {"account_id": account_id, "ticket_id": ticket_id, "at": at or now}
        event = model.model_validate(fields, context={"now": now})
        known_account(self.queries, account_id)
        queue = self.queue_for(account_id)
        if isinstance(event, TicketClose):
            return enqueue_close(event, queue)
        return enqueue_reopen(event, queue)
