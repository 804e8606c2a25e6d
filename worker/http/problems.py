"""Every refusal as an HTTP answer: one status per kind of refusal and one JSON shape for all of them.

The body is ``{"error": "<the one line the CLI prints>"}``, plus ``"fields"`` (each bad field named with
what is wrong) on a 422. The words come from the control API's typed errors (worker/api/refusals.py) and
the webhook checks (producers/webhooks/common.py), so HTTP, the CLI and a Python caller read the same
sentence. Nothing else ever reaches a response: an unexpected exception is logged here and answered with
a fixed 500 line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from producers.queue import EnqueueFailed
from producers.webhooks.common import InvalidPayload, WebhookError
from worker.core.bulk import EmptyTeam, UnknownTeam
from worker.errors import (
    Forbidden,
    HelpdeskError,
    InvalidInput,
    Refused,
    StaleOfficeHours,
    Unauthorized,
    Unavailable,
    UnknownAccount,
    UnknownJob,
    UnknownTicket,
    UnknownUser,
    WaitingCeiling,
    plain_problem,
)
from worker.redaction import redacted

log = structlog.get_logger("worker.http")

STATUS_OF: tuple[tuple[type[HelpdeskError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (UnknownAccount, 404),
    (UnknownUser, 404),
    (UnknownTicket, 404),
    (UnknownTeam, 404),
    (UnknownJob, 404),
    (EmptyTeam, 409),
    (InvalidInput, 422),
    (StaleOfficeHours, 409),
    (Refused, 409),
    (WaitingCeiling, 503),
    (Unavailable, 503),
)
"""First match wins (subclasses before their parents). 503s tell a provider to retry later."""

RETRY_AFTER_SECONDS = "5"
UNREADABLE_BODY = "There was an error parsing the body"


def status_of(error: HelpdeskError) -> int:
    for kind, status in STATUS_OF:
        if isinstance(error, kind):
            return status
    return 400


def problem(status: int, message: str, fields: Sequence[dict[str, str]] | None = None) -> JSONResponse:
    """The one shape of every refusal; 503 carries ``Retry-After`` (providers and clients back off)."""
    body: dict[str, Any] = {"error": redacted(" ".join(message.split()))}
    if fields is not None:
        body["fields"] = list(fields)
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    """FastAPI's location without its ``body``/``query``/``path``/``header`` prefix: the name the caller sent."""
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _plain(item: dict[str, Any]) -> str:
    """The CLI's words for one bad field (worker/errors.py ``plain_problem``): never pydantic's own."""
    if item.get("type") == "json_invalid":
        return "is not valid JSON"
    return plain_problem(item)  # type: ignore[arg-type]


def _named(item: dict[str, Any]) -> str:
    """The field a problem is about; a body that is not JSON is the ``body`` (FastAPI's location is an offset)."""
    return "body" if item.get("type") == "json_invalid" else _field_name(item.get("loc", ()))


def install_problem_handlers(app: FastAPI) -> None:
    """Map every exception a route can raise to its answer (the only place statuses are chosen)."""

    @app.exception_handler(HelpdeskError)
    async def helpdesk_error(_request: Request, error: HelpdeskError) -> JSONResponse:
        return problem(status_of(error), str(error))

    @app.exception_handler(InvalidPayload)
    async def invalid_payload(_request: Request, error: InvalidPayload) -> JSONResponse:
        fields = [{"field": field, "problem": text} for field, text in error.problems]
        return problem(error.status, error.message, fields)

    @app.exception_handler(WebhookError)
    async def webhook_error(_request: Request, error: WebhookError) -> JSONResponse:
        return problem(error.status, error.message)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [{"field": _named(item), "problem": _plain(item)} for item in error.errors()]
        message = "; ".join(f"{item['field']}: {item['problem']}" for item in fields[:5]) or "the request is invalid"
        if len(fields) > 5:
            message += f"; and {len(fields) - 5} more problems"
        return problem(422, message, fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == UNREADABLE_BODY:  # FastAPI's words for bytes not UTF-8
            return problem(400, "the body could not be read: send JSON text in UTF-8")
        return problem(error.status_code, str(error.detail))

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    @app.exception_handler(EnqueueFailed)
    async def unreachable(_request: Request, error: Exception) -> JSONResponse:
        # A safety net: the control API already turns these into ``Unavailable``.
        log.warning("http.redis_unreachable", error=redacted(str(error)))
        return problem(503, "Redis cannot be reached: nothing was done; retry later")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("http.unexpected_error", path=request.url.path, error=type(error).__name__, exc_info=error)
        return problem(500, "internal error: the request was not completed (see the server's log)")
