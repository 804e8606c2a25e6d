"""Signed provider deliveries for the HTTP webhook tests: each built as the provider builds it, signed with the
producers' own ``*_signature`` functions (Twilio's also cross-checked with the ``twilio`` package where a test
asks), plus the set-up of an account with its secrets and the looks at the queue and state a refusal must
leave alone."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import redis
from rq import Queue

from producers.lanes import LANES, LaneKeys
from producers.queue import PROCESS_TICKET, QUEUE_NAME, SERIALIZER
from producers.webhooks import mailgun_signature, meta_signature, twilio_signature, webchat_signature
from tests.support.snapshots import snapshot
from worker.api import Helpdesk

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"

SECRETS = {
    "twilio": "tw_auth_8c1e5b7a0f3d4e2b9a6c",
    "mailgun": "key-mg-3b9f1e7d5c2a8e4f6b0d",
    "meta": "meta_app_7e2d9c4b1a8f5e3d",
    "meta-verify-token": "verify-me-4711",
    "webchat": "wc_5f0c8e2a9b7d4c1e",
}
"""Each test account's secrets (never to appear in an answer or a log line)."""


@dataclass(frozen=True)
class Delivery:
    """A request as a provider sends it: path under ``/v1/webhooks/<account>/``, headers, raw body."""

    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)

    def send(self, http: Any, account: str = "acme") -> Any:
        url = f"/v1/webhooks/{account}/{self.path}"
        return http.request(self.method, url, headers=self.headers, content=self.body, params=self.params)


def setup(helpdesk: Helpdesk, account: str = "acme", names: tuple[str, ...] = tuple(SECRETS)) -> None:
    """The account with a manager ``mia``, an agent ``ana`` and the secrets ``names`` set by mia."""
    helpdesk.save_user(account, "mia", "manager")
    helpdesk.save_user(account, "ana", "agent")
    for name in names:
        helpdesk.set_webhook_secret(account, name, SECRETS[name], "mia")


def now_stamp(offset: int = 0) -> str:
    return str(int(time.time()) + offset)


def webchat(conversation: str = "conv-8812", stamp: str | None = None, secret: str = SECRETS["webchat"]) -> Delivery:
    body = json.dumps({"conversation_id": conversation, "visitor_id": "v-4410", "first_message": "I can't log in"})
    raw = body.encode()
    signed = stamp or now_stamp()
    headers = {
        "Content-Type": "application/json",
        "X-Helpdesk-Timestamp": signed,
        "X-Helpdesk-Signature": webchat_signature(secret, signed, raw),
    }
    return Delivery("webchat", headers, raw)


def twilio_params(sid: str = "SM0123456789abcdef0123456789abcdef") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": "+14155550100",
        "To": "+14155550199",
        "Body": "Where is my order?",
        "NumMedia": "0",
    }


def twilio(
    public_url: str,
    params: dict[str, str] | None = None,
    secret: str = SECRETS["twilio"],
    account: str = "acme",
    signature: str | None = None,
) -> Delivery:
    """Signed over the public URL (``HELPDESK_RR_PUBLIC_URL``), as Twilio signs the URL it called."""
    form = params or twilio_params()
    url = f"{public_url}/v1/webhooks/{account}/twilio"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature or twilio_signature(secret, url, form),
    }
    return Delivery("twilio", headers, urlencode(form).encode())


def mailgun_fields(message_id: str = "<CAF1@mail.example.com>", secret: str = SECRETS["mailgun"]) -> dict[str, str]:
    stamp, token = now_stamp(), "a3f9c2e1b7d84f60a3f9c2e1b7d84f60a3f9c2e1b7d84f60ab"
    return {
        "sender": "sam@example.com",
        "recipient": "support@acme.example",
        "subject": "Refund",
        "body-plain": "Hello, I would like a refund.",
        "Message-Id": message_id,
        "timestamp": stamp,
        "token": token,
        "signature": mailgun_signature(secret, stamp, token),
    }


def mailgun(fields: dict[str, str] | None = None) -> Delivery:
    form = fields or mailgun_fields()
    return Delivery("mailgun", {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(form).encode())


def meta_body(*mids: str, obj: str = "page") -> bytes:
    stamp = int(time.time() * 1000)
    events = [
        {"sender": {"id": f"PSID-{n}"}, "recipient": {"id": "PAGE"}, "timestamp": stamp, "message": {"mid": mid}}
        for n, mid in enumerate(mids or ("m_1",))
    ]
    return json.dumps({"object": obj, "entry": [{"id": "PAGE", "time": stamp, "messaging": events}]}).encode()


def meta(*mids: str, secret: str = SECRETS["meta"], body: bytes | None = None) -> Delivery:
    raw = body if body is not None else meta_body(*mids)
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(secret, raw)}
    return Delivery("meta", headers, raw)


def meta_handshake(token: str = SECRETS["meta-verify-token"], challenge: str = "1158201444") -> Delivery:
    params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": challenge}
    return Delivery("meta", {}, b"", method="GET", params=params)


def queued(client: redis.Redis) -> int:
    """Distinct tickets waiting to be decided: pushed onto a lane (what the webhooks do) or queued as ticket jobs.
    A retried delivery pushes its ticket again, and it is decided once: it counts once."""
    waiting: set[tuple[str, str]] = set()
    for lane in range(LANES):
        for raw in client.lrange(LaneKeys(lane).pending, 0, -1):
            ticket = json.loads(raw)["ticket"]
            waiting.add((ticket["account_id"], ticket["ticket_id"]))
    for job in Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).get_jobs():
        if job.func_name == PROCESS_TICKET:
            waiting.add((job.args[0]["account_id"], job.args[0]["ticket_id"]))
    return len(waiting)


def state_without_queue(client: redis.Redis) -> dict[bytes, object]:
    """Every key but RQ's (a refusal must change none of them, and enqueue nothing: checked apart)."""
    return {key: value for key, value in snapshot(client).items() if not key.startswith(b"rq:")}
