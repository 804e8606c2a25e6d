"""The control API's reads of one account: the unassigned queue, the events (in pages), the report as JSON
and the account's failed jobs. Each answers the model ``--json`` prints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from schemas.control import EventEntry, EventPage
from schemas.report import Report
from schemas.views import UnassignedTicket
from worker.http.control_base import Desk, Now, account_router
from worker.runtime.failures import FailedTicketJob

_router = account_router("reads")

PAGE = 100
"""Events per page when ``limit`` is not given (at most 10,000: each page is one bounded read)."""


@_router.get("/unassigned", summary="Unassigned tickets, oldest first, with their reason")
def unassigned(
    account: str, desk: Desk, limit: Annotated[int | None, Query(ge=1, description="At most this many.")] = None
) -> list[UnassignedTicket]:
    return desk.unassigned(account, limit)


@_router.get("/events", summary="The account's events, oldest first, a page at a time")
def events(
    account: str,
    desk: Desk,
    after: Annotated[str, Query(description="`-` (the start) or the `next_after` of the page before.")] = "-",
    limit: Annotated[int, Query(description="Events per page, 1 to 10,000.")] = PAGE,
) -> EventPage:
    """Follow the stream by passing each page's `next_after` as `after`; an empty page means nothing new yet."""
    page = desk.events(account, after=after, count=limit)
    return EventPage(
        events=[EventEntry(entry_id=entry_id, event=event) for entry_id, event in page],
        next_after=page[-1][0] if page else None,
    )


@_router.get("/report", summary="The manager's report as JSON")
def report(
    account: str,
    desk: Desk,
    now: Now,
    day_from: Annotated[str | None, Query(alias="from", description="First UTC day, YYYY-MM-DD.")] = None,
    day_to: Annotated[str | None, Query(alias="to", description="Last UTC day, YYYY-MM-DD (default today).")] = None,
) -> Report:
    """What `helpdesk-rr report ACCOUNT --json` prints (docs/REPORTS.md); default: the last 7 days."""
    return desk.report(account, day_from, day_to, now=now)


@_router.get("/failed-jobs", summary="The account's failed jobs (RQ's failed registry)")
def failed_jobs(account: str, desk: Desk) -> list[FailedTicketJob]:
    """Read only: requeueing is an operator's verb (`helpdesk-rr failed ACCOUNT --requeue`)."""
    return desk.failed_jobs(account)


def router() -> APIRouter:
    return _router
