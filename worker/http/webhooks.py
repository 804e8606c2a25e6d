"""Providers' webhooks in (docs/HTTP.md, "Webhooks in"): ``/v1/webhooks/{account}/twilio|mailgun|meta|webchat``.

Each route checks the content type before reading the body (415), reads the body, then in one trip to the thread
pool (``delivered``) reads the account's secret through the control API (``Helpdesk.webhook_secret``: one
``HGET``), verifies and maps the delivery with ``producers.webhooks`` (401, 422), and pushes what comes back with
the producers API onto the account's lane (the burst intake, ``push_many``): a provider's retry of a delivery
derives the same ticket id, which is decided once (202). Redis out of reach: 503, nothing enqueued, the
provider retries. HTTP only: every check and mapping lives below.

An account or provider without a secret is answered as a wrong signature is, in the same words: the delivery is
checked against a random secret drawn for it, which no signature matches. So a caller learns nothing about which
accounts exist or which providers they use; the server's log says ``webhook.no_secret`` for the operator.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from producers.lanes import Pushed, push_many
from producers.webhooks import mailgun_ticket, meta_tickets, twilio_ticket, verify_subscription, webchat_ticket
from producers.webhooks.meta import SIGNATURE_HEADER as META_SIGNATURE
from producers.webhooks.twilio_sms import SIGNATURE_HEADER as TWILIO_SIGNATURE
from producers.webhooks.webchat import SIGNATURE_HEADER as WEBCHAT_SIGNATURE
from producers.webhooks.webchat import TIMESTAMP_HEADER as WEBCHAT_TIMESTAMP
from schemas.common import WebhookSecretName
from schemas.inbound import TicketCreated
from schemas.plain import shown
from worker.api import Helpdesk

log = structlog.get_logger("worker.http")

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
PREFIX = "/v1/webhooks/{account}"

Account = Annotated[str, Path(description="The account id the provider was given in this URL.")]


def router() -> APIRouter:
    """The four providers' routes (the app's ``helpdesk`` and ``now`` are read from ``request.app.state``)."""
    routes = APIRouter(prefix=PREFIX, tags=["webhooks"])
    routes.add_api_route("/twilio", twilio, methods=["POST"], status_code=202, summary="Twilio inbound SMS")
    routes.add_api_route("/mailgun", mailgun, methods=["POST"], status_code=202, summary="Mailgun inbound route")
    routes.add_api_route("/meta", meta_handshake, methods=["GET"], summary="Meta's subscription handshake")
    routes.add_api_route("/meta", meta, methods=["POST"], status_code=202, summary="Messenger/Instagram delivery")
    routes.add_api_route("/webchat", webchat, methods=["POST"], status_code=202, summary="Our webchat widget")
    return routes


async def twilio(request: Request, account: Account) -> JSONResponse:
    """One inbound SMS (form-encoded), signed in ``X-Twilio-Signature`` over the public URL Twilio called
    (``HELPDESK_RR_PUBLIC_URL`` + this path and query) and the POST parameters. Twilio ignores a body that is
    not TwiML, so the JSON answer sends no reply SMS."""
    require_type(request, FORM)
    async with request.form() as form:
        params = _text_items(form)
    url, signature, now = _public_url(request), request.headers.get(TWILIO_SIGNATURE), _now(request)
    return await delivered(
        request,
        account,
        WebhookSecretName.TWILIO,
        lambda token: [twilio_ticket(account, token, url, params, signature, now)],
    )


async def mailgun(request: Request, account: Account) -> JSONResponse:
    """One inbound email from a Mailgun route's ``forward()``: url-encoded or multipart (attachments are not read),
    signed by its ``timestamp``, ``token`` and ``signature`` fields."""
    require_type(request, FORM, MULTIPART)
    async with request.form() as form:
        fields = dict(_text_items(form))
    now = _now(request)
    return await delivered(
        request, account, WebhookSecretName.MAILGUN, lambda key: [mailgun_ticket(account, key, fields, now)]
    )


async def meta_handshake(request: Request, account: Account) -> PlainTextResponse:
    """Meta's GET subscription check: ``hub.challenge`` back as plain text when ``hub.mode`` is ``subscribe`` and
    ``hub.verify_token`` is the account's; 403 otherwise."""
    token = await secret(request, account, WebhookSecretName.META_VERIFY_TOKEN)
    challenge = verify_subscription(dict(request.query_params), token)
    return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})


async def meta(request: Request, account: Account) -> JSONResponse:
    """A Messenger or Instagram delivery (JSON), ``X-Hub-Signature-256`` over the raw body: every customer message
    in it becomes a ticket, all enqueued in one ``enqueue_many``. The answer is a list (empty when the delivery
    held only echoes, receipts or reactions)."""
    require_type(request, JSON)
    body = await request.body()
    signature, now = request.headers.get(META_SIGNATURE), _now(request)
    return await delivered(
        request,
        account,
        WebhookSecretName.META,
        lambda key: meta_tickets(account, key, body, signature, now),
        one=False,
    )


async def webchat(request: Request, account: Account) -> JSONResponse:
    """A new conversation from our widget (JSON), signed with the account's webchat secret over
    ``X-Helpdesk-Timestamp`` + "." + the raw body; a timestamp over 5 minutes from now is refused."""
    require_type(request, JSON)
    body = await request.body()
    timestamp, signature = request.headers.get(WEBCHAT_TIMESTAMP), request.headers.get(WEBCHAT_SIGNATURE)
    now = _now(request)
    return await delivered(
        request,
        account,
        WebhookSecretName.WEBCHAT,
        lambda key: [webchat_ticket(account, key, body, timestamp, signature, now)],
    )


def require_type(request: Request, *allowed: str) -> None:
    """415 unless the request's media type is one of ``allowed`` (parameters such as ``charset`` aside), before
    any of the body is read."""
    given = request.headers.get("content-type", "")
    if given.split(";", 1)[0].strip().lower() not in allowed:
        sent = f"Content-Type {shown(given)}" if given else "no Content-Type"
        raise HTTPException(415, f"send the body as {' or '.join(allowed)} (got {sent}); nothing was enqueued")


def stored_secret(helpdesk: Helpdesk, account: str, name: WebhookSecretName) -> str:
    """The account's ``name`` secret; none set: a random one drawn for this request, which no signature matches
    (so the answer is the one a wrong signature gets), and a warning in the server's log. Blocking (Redis)."""
    stored = helpdesk.webhook_secret(account, name)
    if stored is not None:
        return stored
    log.warning("webhook.no_secret", account_id=account, secret=name.value)
    return secrets.token_hex(32)


async def secret(request: Request, account: str, name: WebhookSecretName) -> str:
    """``stored_secret`` off the event loop."""
    return await run_in_threadpool(stored_secret, request.app.state.helpdesk, account, name)


async def delivered(
    request: Request,
    account: str,
    name: WebhookSecretName,
    tickets_of: Callable[[str], list[TicketCreated]],
    *,
    one: bool = True,
) -> JSONResponse:
    """Read the account's ``name`` secret, verify and map the delivery with it (``tickets_of``, which raises the
    refusals), and push the tickets onto the account's lane (one ``push_many``: the burst intake, one round trip,
    no RQ job per ticket): all in **one** trip to the thread pool, as each trip costs more CPU than the check and
    the mapping together (measured: bench/PERFORMANCE_http.md). 202 with each ticket id and the drain job due on
    its lane — one object, or a list when the provider may send several."""
    helpdesk: Helpdesk = request.app.state.helpdesk

    def verify_and_push() -> list[Pushed]:
        tickets = tickets_of(stored_secret(helpdesk, account, name))
        if not tickets:
            return []
        return push_many(tickets, helpdesk.queue_for(tickets[0].account_id))

    pushed = await run_in_threadpool(verify_and_push)
    answers = [{"job_id": item.drain_job_id, "ticket_id": item.ticket_id} for item in pushed]
    for answer in answers:
        log.info("webhook.enqueued", account_id=pushed[0].account_id, **answer)
    return JSONResponse(answers[0] if one else answers, status_code=202)


def _text_items(form: FormData) -> list[tuple[str, str]]:
    """The form's text fields in order, repeats kept (a file part is not a field any provider signs or we read)."""
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


def _public_url(request: Request) -> str:
    """The URL Twilio called: the public base (behind a proxy, not what this server sees) + path + query."""
    helpdesk: Helpdesk = request.app.state.helpdesk
    query = request.url.query
    return helpdesk.config.public_url + request.url.path + (f"?{query}" if query else "")


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.now
    return clock()


__all__ = ["router"]
