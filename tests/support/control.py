"""An account set up for the HTTP control API's tests, a live server over it, and one valid request per route.

``control_server`` starts the real app (uvicorn, real socket) over the session's real Redis with two accounts:
``acme`` (owner olga, manager mia, agents ana and ben, viewer vic; team billing; ticket T1 assigned to ana; a
bulk job queued) and ``globex`` (manager gus), each with a live API key, plus a revoked key of acme.

``EXAMPLES`` holds one request per control route that succeeds as acme's manager: the route tests prove each
one works, and the generic refusal tests reuse it so a refused request is one that would otherwise have
changed something. A route added later without an example still gets walked (with ``{}`` as its body).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.routing import iter_route_contexts

from tests.support.http import LiveServer, live_server
from worker.api import Helpdesk
from worker.config import Settings
from worker.http import create_app
from worker.http.control_base import PREFIX

ACCOUNT = "acme"
OTHER = "globex"
MANAGER = "mia"
ARRIVED = "2026-11-24T14:00:00Z"
"""When T1 (and the example's T2) arrived: in the past, whatever the day the tests run."""


@dataclass(frozen=True)
class Call:
    """One request: the body (``None``: no body) and whether it names the acting user (``X-Actor: mia``)."""

    body: Any = None
    actor: bool = True


EXAMPLES: dict[tuple[str, str], Call] = {
    ("GET", "/users"): Call(),
    ("PUT", "/users/{user}"): Call({"role": "agent"}, actor=False),
    ("PUT", "/users/{user}/status"): Call({"status": "offline"}),
    ("POST", "/users/{user}/heartbeat"): Call(actor=False),
    ("PUT", "/users/{user}/channels"): Call({"channels": ["email", "sms"]}),
    ("PUT", "/users/{user}/capacity"): Call({"capacity": 3}),
    ("GET", "/settings"): Call(),
    ("PUT", "/settings/round-robin"): Call({"enabled": False}),
    ("PUT", "/settings/office-hours"): Call({"timezone": "Europe/Berlin", "weekly": {"mon": ["09:00-17:00"]}}),
    ("DELETE", "/settings/office-hours"): Call(),
    ("PUT", "/settings/capacity"): Call({"capacity": 5}),
    ("PUT", "/settings/auto-assign"): Call({"enabled": False}),
    ("PUT", "/settings/presence-timeout"): Call({"seconds": 900}),
    ("PUT", "/settings/reassign-away"): Call({"enabled": True, "grace_seconds": 300}),
    ("PUT", "/settings/reassign-unanswered"): Call({"after_seconds": 900, "max": 2}),
    ("GET", "/teams"): Call(),
    ("PUT", "/teams/{team}"): Call({"members": ["ana"]}),
    ("POST", "/bulk-assignments"): Call({"team": "billing", "tickets": ["T1"]}),
    ("GET", "/bulk-assignments/{job}"): Call(),
    ("POST", "/tickets"): Call(
        {"account_id": ACCOUNT, "ticket_id": "T2", "channel": "email", "created_at": ARRIVED},
        actor=False,
    ),
    ("POST", "/tickets/{ticket}/first-reply"): Call({"agent": "ana"}, actor=False),
    ("POST", "/tickets/{ticket}/close"): Call({}, actor=False),
    ("POST", "/tickets/{ticket}/reopen"): Call(actor=False),
    ("POST", "/tickets/{ticket}/customer-replies"): Call({"at": "2026-11-25T10:00:00Z"}, actor=False),
    ("GET", "/unassigned"): Call(),
    ("GET", "/events"): Call(),
    ("GET", "/report"): Call(),
    ("GET", "/failed-jobs"): Call(),
}
"""Keyed by method and the path after ``/v1/accounts/{account}``."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """The path after the account prefix, e.g. ``/users/{user}``."""

    @property
    def call(self) -> Call:
        return EXAMPLES.get((self.method, self.path), Call({}))

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def account_routes() -> list[Route]:
    """Every route of the app under ``/v1/accounts/{account}``, whoever added it and whatever its kind (one per
    method; HEAD, which Starlette adds to a plain GET route, is its GET). ``app.routes`` holds included routers
    as such; FastAPI's ``iter_route_contexts`` walks into them, as its own OpenAPI builder does."""
    app = create_app(Helpdesk(Settings()))
    found = {
        Route(method, str(context.path).removeprefix(PREFIX))
        for context in iter_route_contexts(app.routes)
        if str(context.path).startswith(PREFIX + "/")
        for method in getattr(context, "methods", None) or ("GET",)
        if method != "HEAD"
    }
    return sorted(found, key=str)


@dataclass
class Control:
    """The live server and the credentials of the set-up accounts."""

    live: LiveServer
    helpdesk: Helpdesk
    key: str
    other_key: str
    revoked_key: str
    redis_url: str
    params: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return self.live.client()

    def url(self, route: Route, account: str = ACCOUNT, **params: str) -> str:
        values = {**self.params, **params}
        path = route.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        return PREFIX.replace("{account}", account) + path

    def headers(self, key: str | None, actor: str | None = MANAGER) -> dict[str, str]:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return headers if actor is None else {**headers, "X-Actor": actor}

    def send(
        self,
        http: httpx.Client,
        route: Route,
        *,
        key: str | None = None,
        account: str = ACCOUNT,
        actor: str | None = MANAGER,
        body: Any = ...,
        **params: str,
    ) -> httpx.Response:
        """``route``'s example (or ``body``), with acme's key unless another is given."""
        call = route.call
        payload = call.body if body is ... else body
        headers = self.headers(self.key if key is None else key, actor if call.actor else None)
        return http.request(route.method, self.url(route, account, **params), json=payload, headers=headers)


def set_up_accounts(helpdesk: Helpdesk) -> dict[str, str]:
    """acme and globex as the module docstring says; returns the path values the examples use."""
    for user, role in [("olga", "owner"), (MANAGER, "manager"), ("ana", "agent"), ("ben", "agent"), ("vic", "viewer")]:
        helpdesk.save_user(ACCOUNT, user, role)
    helpdesk.save_user(OTHER, "gus", "manager")
    helpdesk.set_round_robin(ACCOUNT, True, MANAGER)
    helpdesk.set_status(ACCOUNT, "ana", "online")
    helpdesk.set_team(ACCOUNT, "billing", ["ana", "ben"], MANAGER)
    helpdesk.submit_ticket({"account_id": ACCOUNT, "ticket_id": "T1", "channel": "email", "created_at": ARRIVED})
    helpdesk.drain()
    for lock in helpdesk.state.scan_iter(match="rq:clean_*"):  # RQ's short-lived cleaning locks the drain left:
        helpdesk.state.delete(lock)  # one expiring mid-test would read as a change
    job = helpdesk.bulk_assign(ACCOUNT, "billing", MANAGER, ["T1"])
    return {"user": "ana", "team": "billing", "ticket": "T1", "job": job.id}


@contextmanager
def control_server(redis_url: str) -> Iterator[Control]:
    """The live app over acme and globex (call it after ``real_redis`` flushed the database)."""
    helpdesk = Helpdesk.from_url(redis_url)
    params = set_up_accounts(helpdesk)
    key = helpdesk.create_api_key(ACCOUNT, "tests").key
    other_key = helpdesk.create_api_key(OTHER, "tests").key
    revoked = helpdesk.create_api_key(ACCOUNT, "revoked")
    helpdesk.revoke_api_key(ACCOUNT, revoked.key_id)
    with live_server(helpdesk) as live:
        yield Control(live, helpdesk, key, other_key, revoked.key, redis_url, params)
