"""The request-size limit, enforced while the body arrives (a plain ASGI middleware).

A ``Content-Length`` over the limit is refused before anything is read; a chunked body is counted as it
streams and refused the moment it passes the limit, so a huge delivery never sits in memory. 256 KiB is
far above any provider's single message (Twilio's body is at most 1,600 characters, Mailgun posts
attachments elsewhere with ``stripped-*`` text fields, Meta batches a few messages).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 256 * 1024
TOO_LARGE = f"the request body is over {MAX_BODY_BYTES // 1024} KiB: refused, nothing was done"


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body reading re-raises it as it is (it wraps other errors in a 400)
    and the problem handler answers 413; the middleware catches it too if it gets that far."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


class BodyLimit:
    """Answer 413 (the problem shape of worker/http/problems.py) to any body over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await _refuse(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _refuse(send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send) -> None:
    body = json.dumps({"error": TOO_LARGE}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
