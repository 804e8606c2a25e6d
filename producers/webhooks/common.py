"""What every provider's webhook check shares (docs/WEBHOOKS.md).

Typed refusals an HTTP layer turns into a status (401 signature, 403 handshake, 422 field), the
constant-time HMAC compare, the replay window, the ticket id derived from a provider's message id, and
the hand-off to the channel adapters (producers/channels.py): a provider module only checks the
signature and renames the provider's fields; the adapters validate and map, as for any integration.

No secret ever reaches a message: refusals are fixed words plus the header or field they name.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from producers.channels import ADAPTERS
from schemas.common import Channel
from schemas.inbound import TicketCreated
from schemas.plain import pattern_problem, shown

REPLAY_WINDOW = timedelta(minutes=5)
"""A signed timestamp (Mailgun, webchat) further than this from now, either way, is refused as a replay."""

TICKET_ID_HASH_CHARS = 32
"""Hex characters of SHA-256 kept in a derived ticket id (128 bits: no collision in practice)."""

MAX_PROBLEMS = 5
"""A 422 message names at most this many fields, then counts the rest (one line, however bad the input)."""


class WebhookError(Exception):
    """A refused webhook delivery; ``status`` is the HTTP answer, the message one plain line."""

    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadSignature(WebhookError):
    """Missing or wrong signature, or a signed timestamp outside the replay window: nothing is read further."""

    status: ClassVar[int] = 401


class BadVerifyToken(WebhookError):
    """Meta's subscription handshake with the wrong mode or verify token (Meta expects 403)."""

    status: ClassVar[int] = 403


class InvalidPayload(WebhookError):
    """A signed delivery whose fields are wrong: ``problems`` pairs each field (the provider's name) with
    what is wrong. Nothing is enqueued."""

    status: ClassVar[int] = 422

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        parts = [f"{field}: {problem}" for field, problem in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            parts.append(f"and {len(problems) - MAX_PROBLEMS} more problems")
        super().__init__("; ".join(parts))

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields named, in order."""
        return tuple(field for field, _problem in self.problems)


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    """Lower-case hex of HMAC-``digest`` of ``message`` keyed with ``secret`` (UTF-8)."""
    return hmac.new(secret.encode("utf-8"), message, digest).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time compare (``hmac.compare_digest`` on the UTF-8 bytes: any header text is safe)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def require(header: str, value: str | None) -> str:
    """The signature-bearing ``value``, or ``BadSignature`` naming the ``header`` that is missing."""
    if value is None or not value.strip():
        raise BadSignature(f"missing {header}")
    return value.strip()


def check_fresh(timestamp: str, now: datetime, field: str) -> datetime:
    """The signed Unix ``timestamp`` as a UTC datetime; ``BadSignature`` when it is not whole seconds or
    lies outside ``REPLAY_WINDOW`` of ``now`` (a replayed or far-future delivery)."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise BadSignature(f"{field} is not a Unix time in whole seconds")
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > REPLAY_WINDOW:
        minutes = int(REPLAY_WINDOW.total_seconds() // 60)
        raise BadSignature(f"{field} is more than {minutes} minutes from now: refused as a replay")
    return signed_at


def derived_ticket_id(provider: str, message_id: str) -> str:
    """``<provider>-<32 hex of SHA-256(provider NUL message id)>``: valid under our id rule whatever the
    provider's id looks like (``<a@b>``, ``m_…==``), and the same for a provider's retry of a delivery,
    so the retry is decided once."""
    digest = hashlib.sha256(f"{provider}\0{message_id}".encode()).hexdigest()
    return f"{provider}-{digest[:TICKET_ID_HASH_CHARS]}"


def to_ticket(
    channel: Channel, account_id: str, payload: Mapping[str, Any], names: Mapping[str, str], now: datetime
) -> TicketCreated:
    """The channel adapter's ``TicketCreated`` for ``payload``; a refusal becomes ``InvalidPayload`` naming
    each field by the provider's name (``names`` maps an adapter field to it; ``account_id`` keeps its own)."""
    try:
        return ADAPTERS[channel].to_ticket(account_id, payload, now)
    except ValidationError as error:
        raise invalid(error, names) from None


def invalid(error: ValidationError, names: Mapping[str, str] | None = None) -> InvalidPayload:
    """``error`` as an ``InvalidPayload``: each field by the provider's name, each problem in plain words."""
    return InvalidPayload([(_field(item, names or {}), _problem(item)) for item in error.errors()])


def _field(item: ErrorDetails, names: Mapping[str, str]) -> str:
    loc = [str(part) for part in item["loc"]]
    if not loc:
        return "body"
    return ".".join([names.get(loc[0], loc[0]), *loc[1:]])


def _problem(item: ErrorDetails) -> str:
    """One pydantic error in plain words (schemas/plain.py's helpers; no regex, no pydantic wording)."""
    kind, value, ctx = item["type"], item.get("input"), item.get("ctx") or {}
    if kind == "missing":
        return "is missing (it is required)"
    if kind == "string_pattern_mismatch":
        return pattern_problem(str(ctx.get("pattern", "")), value)
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length', 0):,} characters)"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "json_invalid":
        return "is not valid JSON"
    if kind == "value_error":
        text = item["msg"].removeprefix("Value error, ")
        return text if shown(value) in text else f"{shown(value)} {text}"
    return f"{shown(value)} is not accepted here"
