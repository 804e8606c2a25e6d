"""The control API's ticket routes: a ticket in, its first reply, close, reopen, a customer's reply.

Each validates, checks the account (and the ticket where the API does) and enqueues for a worker: ``202``
with the job id, as ``helpdesk-rr ticket`` prints it. Any language's backend can post the ``TicketCreated``
JSON of docs/schemas/ here instead of importing the producers package.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.exceptions import RequestValidationError

from schemas.control import Accepted, AtBody, FirstReplyBody
from schemas.inbound import TicketCreated
from worker.http.control_base import Desk, Now, account_router

_router = account_router("tickets")

OptionalAt = Annotated[AtBody | None, Body(description='Optional: `{"at": …}`; no body means now.')]


@_router.post("/tickets", status_code=202, summary="Submit a ticket (the TicketCreated event); a worker decides it")
def submit_ticket(account: str, ticket: TicketCreated, desk: Desk, now: Now) -> Accepted:
    """The body is the `TicketCreated` event (docs/schemas/); its `account_id` must be this URL's account. The
    same ticket twice is decided once."""
    if ticket.account_id != account:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "account_id"),
                    "msg": f"is not the account of this URL ({account}): a key posts only its own account's tickets",
                    "input": ticket.account_id,
                }
            ]
        )
    job = desk.submit_ticket(ticket.model_dump(), now=now)  # validated again against the app's clock
    return Accepted(job_id=job.id)


@_router.post("/tickets/{ticket}/first-reply", status_code=202, summary="Report an agent's first reply (TTFR)")
def first_reply(account: str, ticket: str, body: FirstReplyBody, desk: Desk, now: Now) -> Accepted:
    """Refused now (404, 422) for an unknown ticket or agent, or a reply dated before the ticket."""
    return Accepted(job_id=desk.report_first_reply(account, ticket, body.agent, body.at, now=now).id)


@_router.post("/tickets/{ticket}/close", status_code=202, summary="Report a ticket closed (its assignee's load -1)")
def close(account: str, ticket: str, desk: Desk, now: Now, body: OptionalAt = None) -> Accepted:
    """A ticket not seen yet is fine: the close is kept and the ticket is never assigned."""
    return Accepted(job_id=desk.close_ticket(account, ticket, body.at if body else None, now=now).id)


@_router.post("/tickets/{ticket}/reopen", status_code=202, summary="Report a closed ticket reopened (load +1)")
def reopen(account: str, ticket: str, desk: Desk, now: Now, body: OptionalAt = None) -> Accepted:
    return Accepted(job_id=desk.reopen_ticket(account, ticket, body.at if body else None, now=now).id)


@_router.post(
    "/tickets/{ticket}/customer-replies", status_code=202, summary="A new customer message on an existing ticket"
)
def customer_reply(account: str, ticket: str, desk: Desk, now: Now, body: OptionalAt = None) -> Accepted:
    """With reassign-away on, a worker reassigns the ticket when its assignee is away. The same reply twice is
    one job. An unknown ticket is 404."""
    return Accepted(job_id=desk.customer_reply(account, ticket, body.at if body else None, now=now).id)


def router() -> APIRouter:
    return _router
