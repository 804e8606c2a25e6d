"""Who may call a control-API route: a live API key of the account in the path.

``account_key`` is the FastAPI dependency every ``/v1/accounts/{account}/…`` route of the control API
declares. It reads ``Authorization: Bearer <key>`` (a header, never the query: the request log and proxies'
logs never see it) and asks the control API (``Helpdesk.authenticate``, one ``HGET``) whether the key is a
live key of *that* account. A key of another account, a revoked one and a malformed one all get the same
401, so a caller learns nothing about which keys or accounts exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from worker.api import Helpdesk
from worker.errors import Unauthorized

BEARER = "bearer "
MISSING = "missing API key: send `Authorization: Bearer <key>` (make one with `helpdesk-rr api-key ACCOUNT create`)"


def presented_key(authorization: str | None) -> str:
    """The key of an ``Authorization: Bearer <key>`` header; ``Unauthorized`` when there is none."""
    if authorization is None or not authorization.lower().startswith(BEARER) or not authorization[7:].strip():
        raise Unauthorized(MISSING)
    return authorization[7:].strip()


BEARER_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="accountKey",
    bearerFormat="rrk_<id>_<secret>",
    description="An API key of the account in the path (`helpdesk-rr api-key ACCOUNT create`), sent as "
    "`Authorization: Bearer <key>`. Another account's key, a revoked or a malformed one: 401.",
)
"""Declared so the OpenAPI document names the scheme; the header itself is read by ``presented_key`` (the
same words whether it is missing, not Bearer, or empty)."""


async def account_key(
    request: Request,
    account: Annotated[str, Path(description="The account id.")],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)] = None,
) -> str:
    """The key id of the caller's key (the dependency's value); 401 unless it is a live key of ``account``."""
    key = presented_key(request.headers.get("authorization"))
    helpdesk: Helpdesk = request.app.state.helpdesk
    return await run_in_threadpool(helpdesk.authenticate, account, key)


AccountKey = Annotated[str, Depends(account_key)]
"""Declare ``key_id: AccountKey`` on a route under ``/v1/accounts/{account}`` to require the account's key."""
