"""One structlog line per request (a plain ASGI middleware: no buffering, so event streams flow).

It names the method, the path (never the query string: agent links carry their token there), the status
and the milliseconds to the response's first byte. Credentials never appear: API keys and signatures
travel in headers, which are not logged.
"""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("worker.http")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                log.info(
                    "http.request",
                    method=scope["method"],
                    path=scope["path"],
                    status=message["status"],
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )
            await send(message)

        await self.app(scope, receive, logged)
