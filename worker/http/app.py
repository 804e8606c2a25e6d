"""``create_app``: the one ASGI app ``helpdesk-rr serve`` runs, assembled from the route modules.

Each route module exposes ``router(...)`` building an ``APIRouter`` over the ``Helpdesk`` it is given;
this module only stacks them, with the body limit (worker/http/limits.py), the refusal answers
(worker/http/problems.py) and one log line per request. ``now`` is the clock the routes read (signed
timestamps, tokens): the wall clock in production, a fixed or travelling one in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from worker.api import Helpdesk
from worker.core.engine import utc_now
from worker.http import (
    agent_page,
    control_people,
    control_reads,
    control_settings,
    control_teams,
    control_tickets,
    toasts,
)
from worker.http.fanout import Fanout
from worker.http.limits import BodyLimit
from worker.http.problems import install_problem_handlers
from worker.http.request_log import RequestLog
from worker.http.webhooks import router as webhooks

Clock = Callable[[], datetime]

DOCS_STATIC = "/docs/static"

TITLE = "helpdesk-rr"
DESCRIPTION = (
    "Round-robin assignment of helpdesk tickets: providers' webhooks in, the control API as JSON, "
    "live toasts out (docs/HTTP.md)."
)


def create_app(helpdesk: Helpdesk, now: Clock = utc_now) -> FastAPI:
    """The app over ``helpdesk`` (built once per process and shared: it holds the Redis clients)."""
    # Swagger UI served from the package's own copy (fastapi-offline), never a CDN: /docs works on a closed
    # network and loads no third-party script next to a page where developers type API keys.
    app = FastAPIOffline(
        title=TITLE, description=DESCRIPTION, version="1", docs_url="/docs", redoc_url=None, static_url=DOCS_STATIC
    )
    app.state.helpdesk = helpdesk
    app.state.now = now
    install_problem_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestLog)  # outermost: it sees the 413s too
    app.include_router(webhooks())
    app.state.fanout = Fanout(lambda: helpdesk.state, helpdesk.config.partitions)  # one reader per partition
    app.router.on_shutdown.append(app.state.fanout.close)
    app.include_router(toasts.router(app.state.fanout))
    app.include_router(agent_page.router())

    @app.get("/healthz", tags=["ops"], summary="Is the state Redis reachable?")
    async def healthz() -> JSONResponse:
        await run_in_threadpool(helpdesk.ping)  # Unavailable → 503 (problems.py)
        return JSONResponse({"ok": True})

    app.include_router(control_people.router())
    app.include_router(control_settings.router())
    app.include_router(control_teams.router())
    app.include_router(control_tickets.router())
    app.include_router(control_reads.router())
    return app


__all__ = ["Clock", "create_app"]
