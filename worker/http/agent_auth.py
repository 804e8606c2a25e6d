"""Who may use the agent page's routes, and whose toasts a stream may carry.

An agent-link token (worker/core/agent_links.py) is taken from ``?token=`` — the page's address carries it,
and a browser's ``EventSource`` cannot send headers — or from ``Authorization: Bearer rra1.…`` (the page's
own ``fetch`` calls send it there). The query string is never logged (worker/http/request_log.py), and the
page is served with ``Referrer-Policy: no-referrer`` so the token never leaves in a ``Referer``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from worker.api import Helpdesk
from worker.core.agent_links import VERSION
from worker.errors import Unauthorized
from worker.http.auth import presented_key

MISSING_TOKEN = "missing agent-link token: open the link `helpdesk-rr agent-link ACCOUNT USER` printed"
MISSING_EITHER = (
    "missing credential: send `Authorization: Bearer <API key of the account>`, or the link's own user's agent-link "
    "token as the `token` query parameter"
)
OTHER_USER = "this agent link is for another user: it shows only its own user's toasts"


def bearer_token(authorization: str | None) -> str | None:
    """An agent-link token sent as ``Authorization: Bearer rra1.…`` (None: no header, or an API key)."""
    if authorization is None:
        return None
    presented = presented_key(authorization)
    return presented if presented.startswith(VERSION + ".") else None


async def agent_of(request: Request, token: str | None, authorization: str | None) -> tuple[str, str]:
    """``(account, user)`` of the agent-link token in the query or the header; 401 without a live one."""
    presented = token if token is not None else bearer_token(authorization)
    if presented is None:
        raise Unauthorized(MISSING_TOKEN)
    helpdesk: Helpdesk = request.app.state.helpdesk
    return await run_in_threadpool(helpdesk.verify_agent_token, presented, request.app.state.now())


def may_read_toasts(
    helpdesk: Helpdesk, account: str, user: str, token: str | None, authorization: str | None, now: datetime
) -> None:
    """Pass with a live agent-link token of exactly ``account``/``user``, or a live API key of ``account``;
    401 otherwise. A token is checked first: a page's stream never falls back to a header it did not send.
    Blocking (Redis): the toasts route runs it in the threadpool with its other checks, in one hop."""
    if token is not None:
        if helpdesk.verify_agent_token(token, now) != (account, user):
            raise Unauthorized(OTHER_USER)
        return
    if authorization is None:
        raise Unauthorized(MISSING_EITHER)
    helpdesk.authenticate(account, presented_key(authorization))


async def link_agent(
    request: Request,
    token: Annotated[str | None, Query(description="The agent-link token (or send it as a Bearer header).")] = None,
    authorization: Annotated[str | None, Header(description="`Bearer <agent-link token>`")] = None,
) -> tuple[str, str]:
    """The dependency of the agent page's JSON routes: resolved before the body is read, so a request without
    a live token is a 401 whatever its body."""
    return await agent_of(request, token, authorization)


LinkAgent = Annotated[tuple[str, str], Depends(link_agent)]
