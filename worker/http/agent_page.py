"""The agent page: ``GET /agent?token=…`` and the two JSON routes its script calls.

The page is plain HTML with one stylesheet and one script (worker/http/static/, package data: no build step,
nothing from another origin). The server checks the token before it sends the page: an expired, forged or
revoked link gets a short 401 page that says so and shows nothing of the account. The script then calls

- ``GET /v1/agent/me``: the agent's role, status and open tickets (``Helpdesk.agent_view``);
- ``POST /v1/agent/status`` ``{"status": "online"|"offline"}``: ``Helpdesk.set_status`` with the agent as the
  actor (exactly what ``helpdesk-rr status ACCOUNT USER online`` does);

and opens an ``EventSource`` on the user's toasts (worker/http/toasts.py). Every response is ``no-store`` and
every page ``no-referrer`` with a Content-Security-Policy allowing only this origin's own files.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from schemas.agent import AgentView
from schemas.common import AgentStatus
from worker.api import Helpdesk
from worker.errors import HelpdeskError
from worker.http.agent_auth import LinkAgent, agent_of

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}
ASSETS = {"agent.js": "text/javascript; charset=utf-8", "agent.css": "text/css; charset=utf-8"}
TokenQuery = Annotated[str | None, Query(description="The agent-link token (or send it as a Bearer header).")]


@cache
def asset(name: str) -> str:
    return resources.files("worker.http").joinpath("static", name).read_text(encoding="utf-8")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AgentStatus = Field(description="online or offline.")


STATUS_SCHEMA = StatusChange.model_json_schema()


async def status_change(request: Request) -> StatusChange:
    """The body, checked as FastAPI checks one (the same 422 answer), after the credentials."""
    try:
        return StatusChange.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)]
        ) from None


class StatusAnswer(BaseModel):
    status: AgentStatus = Field(description="The agent's status now.")
    changed: bool = Field(description="False: they already had it.")


def refused_page(error: HelpdeskError) -> HTMLResponse:
    """The 401 page: what is wrong with the link, nothing else."""
    message = str(error)
    title = "This agent link has expired" if "expired" in message else "This agent link is not valid"
    body = asset("refused.html").format(title=html.escape(title), reason=html.escape(message))
    return HTMLResponse(body, status_code=401, headers=PAGE_HEADERS)


def router() -> APIRouter:
    routes = APIRouter(tags=["agent page"])

    @routes.get("/agent", response_class=HTMLResponse, summary="The agent page (open the link agent-link printed)")
    async def page(request: Request, token: TokenQuery = None) -> HTMLResponse:
        try:
            account, user = await agent_of(request, token, None)
        except HelpdeskError as error:
            return refused_page(error)
        body = asset("agent.html").format(account=html.escape(account), user=html.escape(user))
        return HTMLResponse(body, headers=PAGE_HEADERS)

    @routes.get("/agent/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in ASSETS:
            return Response('{"error": "Not Found"}', status_code=404, media_type="application/json")
        return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    @routes.get("/v1/agent/me", response_model=AgentView, summary="The link's agent: status and open tickets")
    async def me(request: Request, agent: LinkAgent) -> Any:
        account, user = agent
        helpdesk: Helpdesk = request.app.state.helpdesk
        view = await run_in_threadpool(helpdesk.agent_view, account, user)
        return Response(view.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"})

    @routes.post(
        "/v1/agent/status",
        response_model=StatusAnswer,
        summary="Set the link's agent Online or Offline",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": STATUS_SCHEMA}}}},
    )
    async def status(request: Request, agent: LinkAgent) -> StatusAnswer:
        account, user = agent
        change = await status_change(request)  # read only once the token holds: a stranger's body is never parsed
        helpdesk: Helpdesk = request.app.state.helpdesk
        now = request.app.state.now()
        changed = await run_in_threadpool(helpdesk.set_status, account, user, change.status, user, now)
        return StatusAnswer(status=change.status, changed=changed)

    return routes
