"""Our webchat widget's webhook: its JSON signed with the account's webchat secret (docs/WEBHOOKS.md).

``X-Helpdesk-Signature`` = hex(HMAC-SHA256(secret, timestamp + "." + raw body)) and
``X-Helpdesk-Timestamp`` = the Unix time in whole seconds at signing; a timestamp more than
``REPLAY_WINDOW`` (5 minutes) from now is refused. The body is the ``WebchatWebhook`` of
producers/channels.py without ``ticket_id`` (derived from ``conversation_id``); ``started_at`` defaults
to the signed time.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from producers.webhooks.common import (
    BadSignature,
    InvalidPayload,
    check_fresh,
    derived_ticket_id,
    hmac_hex,
    require,
    signatures_match,
    to_ticket,
)
from schemas.common import Channel
from schemas.inbound import TicketCreated

SIGNATURE_HEADER = "X-Helpdesk-Signature"
TIMESTAMP_HEADER = "X-Helpdesk-Timestamp"
PROVIDER = "webchat"
FIELD_NAMES = {"created_at": "started_at"}


def webchat_signature(secret: str, timestamp: str, body: bytes) -> str:
    """hex(HMAC-SHA256(secret, timestamp + "." + body))."""
    return hmac_hex(secret, timestamp.encode("utf-8") + b"." + body)


def verify_webchat(secret: str, body: bytes, timestamp: str | None, signature: str | None, now: datetime) -> datetime:
    """When the widget signed (UTC); ``BadSignature`` if a header is missing, the signature does not match
    the body, or the timestamp lies outside the replay window of ``now``."""
    signed = require(TIMESTAMP_HEADER, timestamp)
    given = require(SIGNATURE_HEADER, signature)
    if not signatures_match(webchat_signature(secret, signed, body), given):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match this body")
    return check_fresh(signed, now, TIMESTAMP_HEADER)


def _conversation(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidPayload([("body", "is not valid JSON")]) from None
    if not isinstance(data, dict):
        raise InvalidPayload([("body", "must be a JSON object")])
    if "ticket_id" in data:
        raise InvalidPayload([("ticket_id", "is set by helpdesk-rr from conversation_id (remove it)")])
    if not isinstance(data.get("conversation_id"), str) or not data["conversation_id"]:
        raise InvalidPayload([("conversation_id", "is missing (it is required)")])
    return data


def webchat_ticket(
    account_id: str, secret: str, body: bytes, timestamp: str | None, signature: str | None, now: datetime
) -> TicketCreated:
    """Verify, then the ``TicketCreated`` for one new conversation (ticket id from ``conversation_id``).
    Raises ``BadSignature`` or ``InvalidPayload``."""
    signed_at = verify_webchat(secret, body, timestamp, signature, now)
    data = _conversation(body)
    payload = {"started_at": signed_at, **data, "ticket_id": derived_ticket_id(PROVIDER, data["conversation_id"])}
    return to_ticket(Channel.WEBCHAT, account_id, payload, FIELD_NAMES, now)
