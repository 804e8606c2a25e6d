"""Mailgun's inbound route (a POST to our URL): its ``signature`` checked as Mailgun documents it, then
``sender``, ``recipient``, ``subject`` and ``Message-Id`` handed to the email adapter (docs/WEBHOOKS.md).

signature = hex(HMAC-SHA256(the account's Mailgun HTTP webhook signing key, timestamp + token)). A
``timestamp`` more than ``REPLAY_WINDOW`` (5 minutes) from now is refused, so a captured delivery
cannot be replayed later; within the window a replay derives the same ticket id and is decided once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

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

PROVIDER = "mailgun"
FIELD_NAMES = {
    "message_id": "Message-Id",
    "from_address": "sender",
    "to_address": "recipient",
    "subject": "subject",
    "received_at": "timestamp",
    "created_at": "timestamp",
}
"""The email adapter's fields and the Mailgun fields they come from (a 422 names the latter)."""


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    """hex(HMAC-SHA256(signing_key, timestamp + token)), as Mailgun signs every webhook."""
    return hmac_hex(signing_key, (timestamp + token).encode("utf-8"))


def verify_mailgun(
    signing_key: str, timestamp: str | None, token: str | None, signature: str | None, now: datetime
) -> datetime:
    """When Mailgun signed (UTC); ``BadSignature`` if a field is missing, the signature does not match,
    or ``timestamp`` lies outside the replay window of ``now``. The signature is checked first."""
    signed = require("timestamp", timestamp)
    nonce = require("token", token)
    given = require("signature", signature)
    if not signatures_match(mailgun_signature(signing_key, signed, nonce), given):
        raise BadSignature("signature does not match timestamp and token")
    return check_fresh(signed, now, "timestamp")


def mailgun_ticket(account_id: str, signing_key: str, form: Mapping[str, str], now: datetime) -> TicketCreated:
    """Verify, then the ``TicketCreated`` for one inbound email; its ticket id derives from ``Message-Id``
    and it arrived when Mailgun signed. Raises ``BadSignature`` or ``InvalidPayload``."""
    signed_at = verify_mailgun(signing_key, form.get("timestamp"), form.get("token"), form.get("signature"), now)
    message_id = form.get("Message-Id")
    if not message_id:
        raise InvalidPayload([("Message-Id", "is missing (it is required)")])
    payload = {
        "ticket_id": derived_ticket_id(PROVIDER, message_id),
        "message_id": message_id,
        "from_address": form.get("sender"),
        "to_address": form.get("recipient"),
        "subject": form.get("subject"),
        "received_at": signed_at,
    }
    return to_ticket(Channel.EMAIL, account_id, payload, FIELD_NAMES, now)
