"""Meta's Messenger and Instagram webhook: the GET subscription handshake and signed POST deliveries
(docs/WEBHOOKS.md). One delivery may carry several messages: each becomes a ticket.

Handshake: ``hub.mode`` must be ``subscribe`` and ``hub.verify_token`` the account's verify token; the
answer is ``hub.challenge``. Delivery: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw
body)>``, checked on the raw bytes before the JSON is read. Echoes of our own page's messages and
events that are not messages (delivery and read receipts, reactions) make no ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from producers.webhooks.common import (
    BadSignature,
    BadVerifyToken,
    InvalidPayload,
    derived_ticket_id,
    hmac_hex,
    invalid,
    require,
    signatures_match,
    to_ticket,
)
from schemas.common import Channel
from schemas.inbound import TicketCreated

SIGNATURE_HEADER = "X-Hub-Signature-256"
PROVIDER = "meta"
NETWORKS = {"page": "facebook", "instagram": "instagram"}
"""Meta's ``object`` and the social network its messages are on."""

_LENIENT = ConfigDict(extra="ignore", frozen=True)
"""Meta adds fields over time: a delivery model keeps what we read and ignores the rest."""


class _Party(BaseModel):
    model_config = _LENIENT
    id: str = Field(min_length=1)


class _Message(BaseModel):
    model_config = _LENIENT
    mid: str = Field(min_length=1)
    text: str = ""
    is_echo: bool = False


class _Event(BaseModel):
    model_config = _LENIENT
    sender: _Party
    timestamp: int = Field(ge=0)
    message: _Message | None = None


class _Entry(BaseModel):
    model_config = _LENIENT
    messaging: list[_Event] = []


class _Delivery(BaseModel):
    model_config = _LENIENT
    object: Literal["page", "instagram"]
    entry: list[_Entry]


def verify_subscription(query: Mapping[str, str], verify_token: str) -> str:
    """The ``hub.challenge`` to answer Meta's GET handshake with; ``BadVerifyToken`` (403) when
    ``hub.mode`` is not ``subscribe`` or ``hub.verify_token`` is not the account's."""
    if query.get("hub.mode") != "subscribe":
        raise BadVerifyToken("hub.mode must be subscribe")
    if not signatures_match(verify_token, query.get("hub.verify_token", "")):
        raise BadVerifyToken("hub.verify_token does not match")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise InvalidPayload([("hub.challenge", "is missing (it is required)")])
    return challenge


def meta_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body``: ``sha256=`` + hex HMAC-SHA256(app_secret, body)."""
    return "sha256=" + hmac_hex(app_secret, body)


def verify_meta(app_secret: str, body: bytes, signature: str | None) -> None:
    """``BadSignature`` unless ``signature`` (the header) signs the raw ``body`` with ``app_secret``."""
    given = require(SIGNATURE_HEADER, signature)
    if not signatures_match(meta_signature(app_secret, body), given):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match this body")


def meta_tickets(
    account_id: str, app_secret: str, body: bytes, signature: str | None, now: datetime
) -> list[TicketCreated]:
    """Verify, then one ``TicketCreated`` per customer message in the delivery (ids from each ``mid``;
    a mid repeated within the delivery counts once). Raises ``BadSignature`` or ``InvalidPayload``
    (fields named by their path, e.g. ``entry.0.messaging.1.message.mid``); nothing is returned partly."""
    verify_meta(app_secret, body, signature)
    try:
        delivery = _Delivery.model_validate_json(body)
    except ValidationError as error:
        raise invalid(error) from None
    tickets: dict[str, TicketCreated] = {}
    for e, entry in enumerate(delivery.entry):
        for m, event in enumerate(entry.messaging):
            if event.message is None or event.message.is_echo:
                continue
            path = f"entry.{e}.messaging.{m}"
            ticket = _ticket(account_id, NETWORKS[delivery.object], event, event.message, path, now)
            tickets.setdefault(ticket.ticket_id, ticket)
    return list(tickets.values())


def _ticket(
    account_id: str, network: str, event: _Event, message: _Message, path: str, now: datetime
) -> TicketCreated:
    names = {
        "message_id": f"{path}.message.mid",
        "text": f"{path}.message.text",
        "author_handle": f"{path}.sender.id",
        "created_time": f"{path}.timestamp",
        "created_at": f"{path}.timestamp",
    }
    payload = {
        "ticket_id": derived_ticket_id(PROVIDER, message.mid),
        "network": network,
        "message_id": message.mid,
        "author_handle": event.sender.id,
        "text": message.text,
        "created_time": datetime.fromtimestamp(event.timestamp / 1000, UTC),
    }
    return to_ticket(Channel.SOCIAL, account_id, payload, names, now)
