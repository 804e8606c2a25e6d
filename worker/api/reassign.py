"""``Helpdesk.customer_reply``, ``Helpdesk.set_reassign_away`` and ``Helpdesk.set_reassign_unanswered`` (a mixin
of worker/api/helpdesk.py's ``Helpdesk``): reassignment when the assignee is away or a ticket goes unanswered
(issue 16, parts 2 and 3; docs/DESIGN.md, "Reassignment (away, unanswered)")."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import redis
from rq.job import Job

from producers.queue import enqueue_customer_reply
from schemas.common import check_id
from schemas.durations import MAX_SECONDS
from schemas.inbound import CustomerReply
from schemas.plain import shown
from worker.api.refusals import account_checked_on_refusal, known_account, refusing
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.errors import InvalidInput, UnknownTicket

MAX_REASSIGNMENTS = 1_000
"""The largest ``max_times`` of reassign-unanswered (a bigger one is a typo: 1 is the default)."""


class _Host(Protocol):
    """What the mixin needs from ``Helpdesk``."""

    @property
    def engine(self) -> Engine: ...

    @property
    def queries(self) -> Queries: ...

    def queue_for(self, account_id: str) -> redis.Redis: ...

    def redis_location(self) -> str: ...


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


class ReassignApi:
    """Customer replies and the reassignment settings (docs/API.md)."""

    @refusing
    def customer_reply(
        self: _Host, account_id: str, ticket_id: str, at: datetime | str | None = None, now: datetime | None = None
    ) -> Job:
        """Report a new customer message on an existing ticket (default ``at``: now); validated and enqueued. A
        worker reassigns the ticket when its assignee is away (reassign-away); a repeat of the same reply is one
        job and changes nothing. An unknown account or ticket is refused now (a producer enqueueing directly
        gets the job failed with that reason instead)."""
        now = now or utc_now()
        fields = {"account_id": account_id, "ticket_id": ticket_id, "at": at or now}
        event = CustomerReply.model_validate(fields, context={"now": now})
        known_account(self.queries, account_id)
        if self.queries.ticket(account_id, ticket_id) is None:
            raise UnknownTicket(f"unknown ticket {ticket_id} in {account_id} (never seen, or its record expired)")
        return enqueue_customer_reply(event, self.queue_for(account_id))

    @refusing
    def set_reassign_away(
        self: _Host,
        account_id: str,
        enabled: bool,
        grace_seconds: int,
        actor_id: str,
        now: datetime | None = None,
    ) -> bool:
        """Turn reassign-away on or off (owner, admin, manager): a customer reply or reopen on a ticket whose
        assignee is Offline for at least ``grace_seconds`` (an ``int``, 0 to a year) sends it through the
        rotation again. Returns whether it changed (``settings.changed``). ``Forbidden`` for an agent or viewer."""
        check_id("account", account_id)
        check_id("actor", actor_id)
        if not isinstance(enabled, bool):
            raise InvalidInput(f"reassign-away: enabled must be true or false (got {shown(enabled)})")
        if not _whole(grace_seconds, 0, MAX_SECONDS):
            raise InvalidInput(f"reassign-away grace: use a whole number of seconds from 0 to {MAX_SECONDS} "
                               f"(365 days), e.g. 300 (got {shown(grace_seconds)})")  # fmt: skip
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_reassign_away(account_id, enabled, grace_seconds, actor_id, now or utc_now())

    @refusing
    def set_reassign_unanswered(
        self: _Host,
        account_id: str,
        after_seconds: int | None,
        max_times: int,
        actor_id: str,
        now: datetime | None = None,
    ) -> bool:
        """Set (``after_seconds``: an ``int`` from 1 to a year; ``max_times`` 1 to 1,000; the CLI's default is 1)
        or turn off (None) reassign-unanswered (owner, admin, manager): an automatically assigned ticket without a first
        reply that long after its assignment goes to the next agent, at most ``max_times`` times. Returns
        whether it changed (``settings.changed``). ``Forbidden`` for an agent or viewer actor."""
        check_id("account", account_id)
        check_id("actor", actor_id)
        if after_seconds is not None and not _whole(after_seconds, 1, MAX_SECONDS):
            raise InvalidInput(f"reassign-unanswered after: use a whole number of seconds from 1 to {MAX_SECONDS} "
                               f"(365 days), e.g. 900, or None to turn it off (got {shown(after_seconds)})")
        if not _whole(max_times, 1, MAX_REASSIGNMENTS):
            raise InvalidInput(f"reassign-unanswered max: use a whole number from 1 to {MAX_REASSIGNMENTS}, e.g. 1 "
                               f"(got {shown(max_times)})")  # fmt: skip
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_reassign_unanswered(
                account_id, after_seconds, max_times, actor_id, now or utc_now()
            )
