"""``GET /v1/accounts/{account}/users/{user}/toasts``: one user's toasts as Server-Sent Events.

Allowed with the account's API key (``Authorization: Bearer``) or the user's own agent-link token
(``?token=``: ``EventSource`` sends no headers). The stream opens, once it is live, with a ``ready`` event whose
``id`` is where it starts, then sends each toast as ``event: toast`` with the event's JSON as ``data`` and its
account-stream id as ``id`` — so whenever the browser reconnects it sends ``Last-Event-ID`` and the stream
resumes right after the last toast it delivered. ``?last_event_id=`` does the same for a client that reconnects by hand.

Order of work for each stream, which is what makes a resume lose and repeat nothing: fix the start (the
client's id, else the account's newest event), subscribe to the fan-out (worker/http/fanout.py), read the
account's history after the start through the control API, then the live queue, skipping any id already sent.
A comment line every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Annotated

import redis
import structlog
from fastapi import APIRouter, Header, Path, Query, Request, Security
from fastapi.responses import StreamingResponse
from fastapi.security import APIKeyQuery
from starlette.concurrency import run_in_threadpool

from schemas.plain import shown
from worker.api import Helpdesk
from worker.errors import InvalidInput
from worker.http.agent_auth import may_read_toasts
from worker.http.auth import BEARER_SCHEME
from worker.http.control_base import PROBLEMS
from worker.http.fanout import Fanout, Listener

log = structlog.get_logger("worker.http.toasts")

HISTORY_PAGE = 500
RETRY_MS = 2000
ENTRY_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream id as a number pair, for comparing (``"10-2" < "9-5"`` as text)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def start_id(header: str | None, query: str | None) -> str | None:
    """The id a client resumes after (the header wins); ``InvalidInput`` unless it is a stream id."""
    given = header if header not in (None, "") else query
    if given in (None, ""):
        return None
    assert given is not None
    if not ENTRY_ID.match(given.strip()):
        raise InvalidInput(f"Last-Event-ID: {shown(given)} is not an event id (like 1764626400000-0)")
    return given.strip()


def frame(event: str, data: str, entry_id: str | None) -> str:
    head = f"id: {entry_id}\n" if entry_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


class ToastStream:
    """One open stream: history after ``start``, then the fan-out's live toasts."""

    def __init__(self, helpdesk: Helpdesk, fanout: Fanout, account: str, user: str, start: str) -> None:
        self.helpdesk, self.fanout = helpdesk, fanout
        self.account, self.user = account, user
        self.last = start

    async def frames(self) -> AsyncIterator[str]:
        try:
            listener = await self.fanout.subscribe(self.account, self.user)
        except redis.RedisError as error:  # headers are sent: end the stream, the client retries in RETRY_MS
            log.warning("toasts.subscribe_failed", error=type(error).__name__)
            yield f"retry: {RETRY_MS}\n\n"
            return
        try:
            # "ready" once the fan-out delivers to this stream: from here on nothing can be missed
            yield f"retry: {RETRY_MS}\n" + frame("ready", json.dumps({"after": self.last}), self.last)
            async for text in self._history():
                yield text
            async for text in self._live(listener):
                yield text
        finally:
            self.fanout.unsubscribe(listener)

    async def _history(self) -> AsyncIterator[str]:
        while True:
            page = await run_in_threadpool(self.helpdesk.events, self.account, self.last, HISTORY_PAGE)
            for entry_id, event in page:
                self.last = entry_id
                if event.type == "toast" and getattr(event, "user_id", None) == self.user:
                    yield frame("toast", event.model_dump_json(), entry_id)
            if len(page) < HISTORY_PAGE:
                return

    async def _live(self, listener: Listener) -> AsyncIterator[str]:
        while not listener.dropped:
            toast = await listener.queue.get()  # no timer per stream: the fan-out's one ticker sends keep-alives
            if toast is None:
                yield ": keep-alive\n\n"
                continue
            if listener.dropped:
                return  # the client reconnects with Last-Event-ID: the history replays what was dropped
            if toast.entry_id is not None:
                if entry_key(toast.entry_id) <= entry_key(self.last):
                    continue  # already sent from the history
                self.last = toast.entry_id
            yield frame("toast", toast.data, toast.entry_id)


AGENT_TOKEN_SCHEME = APIKeyQuery(
    name="token",
    scheme_name="agentToken",
    description="The user's agent-link token (`helpdesk-rr agent-link ACCOUNT USER`): only that user's toasts.",
    auto_error=False,
)
"""Declared so the OpenAPI document names the alternative to the account's key; the route reads and checks the
token itself (worker/http/agent_auth.py), as it reads the ``Authorization`` header."""


def router(fanout: Fanout) -> APIRouter:
    routes = APIRouter(tags=["toasts"])

    @routes.get(
        "/v1/accounts/{account}/users/{user}/toasts",
        summary="A user's toasts, live (Server-Sent Events)",
        response_class=StreamingResponse,
        responses={**PROBLEMS, 200: {"content": {"text/event-stream": {}}, "description": "The event stream."}},
        dependencies=[Security(BEARER_SCHEME), Security(AGENT_TOKEN_SCHEME)],
    )
    async def toasts(
        request: Request,
        account: Annotated[str, Path(description="The account id.")],
        user: Annotated[str, Path(description="The user whose toasts to stream.")],
        token: Annotated[str | None, Query(description="The user's agent-link token (instead of an API key).")] = None,
        last_event_id: Annotated[str | None, Query(description="Resume after this id (as Last-Event-ID).")] = None,
        authorization: Annotated[str | None, Header(description="`Bearer <API key of this account>`")] = None,
        last_event_header: Annotated[
            str | None, Header(alias="Last-Event-ID", description="Resume after this id (browsers send it).")
        ] = None,
    ) -> StreamingResponse:
        helpdesk: Helpdesk = request.app.state.helpdesk
        now = request.app.state.now()

        def opening() -> str:
            """Every check and the start, in one threadpool hop (a reconnect storm opens thousands at once)."""
            may_read_toasts(helpdesk, account, user, token, authorization, now)
            start = start_id(last_event_header, last_event_id)
            helpdesk.check_user(account, user)
            newest = helpdesk.newest_event_id(account)
            # an id from the future (a Redis restored from an older copy) would hold every toast back
            return newest if start is None or entry_key(start) > entry_key(newest) else start

        stream = ToastStream(helpdesk, fanout, account, user, await run_in_threadpool(opening))
        return StreamingResponse(stream.frames(), media_type="text/event-stream", headers=SSE_HEADERS)

    return routes
