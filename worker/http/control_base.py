"""What every route module of the HTTP control API shares (docs/HTTP.md, "The control API").

``account_router`` is the one way to make one: its routes live under ``/v1/accounts/{account}`` and every one
of them requires a live API key of that account (``worker/http/auth.py``), declared once on the router so a
route added later cannot forget it. The acting user is the ``X-Actor`` header (``Actor``, ``MaybeActor``),
handed to the same ``Helpdesk`` argument the CLI's ``--actor`` fills, so the same checks refuse in the same
words (docs/DESIGN.md, "The HTTP edge"). ``Desk`` and ``Now`` are the app's ``Helpdesk`` and clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from worker.api import Helpdesk
from worker.http.auth import account_key

PREFIX = "/v1/accounts/{account}"


class FieldProblem(BaseModel):
    field: str = Field(description="The field as the caller sent it (`channels.0`, `X-Actor`, `limit`).")
    problem: str = Field(description="What is wrong with it, in the CLI's words.")


class Problem(BaseModel):
    """Every refusal: one line a person can read (the CLI's words), and on a 422 each bad field named."""

    error: str = Field(description="One line: what was refused and why. Nothing was done.")
    fields: list[FieldProblem] | None = Field(default=None, description="On a 422: each bad field.")


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _problem("No API key, or not a live key of this account (the same words for every bad key)."),
    403: _problem("The acting user's role may not do this (as the CLI's `--actor`)."),
    404: _problem("Unknown account, user, ticket, team or job."),
    409: _problem("Allowed, but it would break a rule the account relies on (e.g. auto-assign without capacity)."),
    422: _problem("A bad field, header or parameter: each named in `fields` (or in `error`)."),
    503: _problem("Redis cannot be reached: nothing was done; retry (`Retry-After`)."),
}


def account_router(tag: str) -> APIRouter:
    """A router of account routes: the prefix, the API-key check, the tag and the documented refusals."""
    return APIRouter(prefix=PREFIX, tags=[tag], dependencies=[Depends(account_key)], responses=PROBLEMS)


def _helpdesk(request: Request) -> Helpdesk:
    desk: Helpdesk = request.app.state.helpdesk
    return desk


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.now()
    return now


Desk = Annotated[Helpdesk, Depends(_helpdesk)]
Now = Annotated[datetime, Depends(_now)]

_ACTOR = (
    "The acting user (a user id of this account), checked exactly as the CLI's `--actor`: the platform "
    "authenticates its people and names the one acting."
)
Actor = Annotated[str, Header(alias="X-Actor", min_length=1, description=_ACTOR)]
MaybeActor = Annotated[
    str | None, Header(alias="X-Actor", min_length=1, description=_ACTOR + " Default: the user in the path.")
]
"""An empty ``X-Actor`` is refused (422), never read as "no actor": for a status that would make the user act."""
