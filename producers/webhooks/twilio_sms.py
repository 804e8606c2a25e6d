"""Twilio's inbound SMS webhook: ``X-Twilio-Signature`` checked exactly as Twilio documents it, then the
form's ``MessageSid``, ``From``, ``To`` and ``Body`` handed to the SMS adapter (docs/WEBHOOKS.md).

The signature is base64(HMAC-SHA1(Auth Token, URL + name + value for every POST parameter, sorted by
name)). Twilio's own ``RequestValidator`` (the ``twilio`` package, a test-only dependency) is the oracle
in tests/test_webhooks_twilio.py; where Twilio's signing is loose we accept what it accepts: the URL
with or without its port, and a name given several times contributes each distinct value once, the
values sorted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from producers.webhooks.common import (
    BadSignature,
    InvalidPayload,
    derived_ticket_id,
    require,
    signatures_match,
    to_ticket,
)
from schemas.common import Channel
from schemas.inbound import TicketCreated

SIGNATURE_HEADER = "X-Twilio-Signature"
PROVIDER = "twilio"
FIELD_NAMES = {"message_sid": "MessageSid", "from_number": "From", "to_number": "To", "body": "Body"}
"""The SMS adapter's fields and the Twilio parameters they come from (a 422 names the latter)."""

Params = Iterable[tuple[str, str]] | Mapping[str, str]
"""POST parameters as parsed from the form: ``(name, value)`` pairs (repeats kept) or a plain mapping."""


def _pairs(params: Params) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def twilio_signature(auth_token: str, url: str, params: Params) -> str:
    """base64(HMAC-SHA1(auth_token, url + each name+value)): names sorted by code point, a repeated
    name's distinct values sorted, each pair once (as Twilio's ``RequestValidator`` signs)."""
    text = url + "".join(name + value for name, value in sorted(set(_pairs(params))))
    mac = hmac.new(auth_token.encode("utf-8"), text.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def _url_variants(url: str) -> tuple[str, str]:
    """The URL without and with its port (default 443/80 added when absent): Twilio signs either."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    bare_host = host.rsplit(":", 1)[0] if parts.port else host
    port = parts.port or (443 if parts.scheme == "https" else 80)
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    without = urlunsplit(parts._replace(netloc=userinfo + bare_host))
    with_port = urlunsplit(parts._replace(netloc=f"{userinfo}{bare_host}:{port}"))
    return without, with_port


def verify_twilio(auth_token: str, url: str, params: Params, signature: str | None) -> None:
    """``BadSignature`` unless ``signature`` (the header) signs ``url`` and ``params`` with ``auth_token``.

    ``url`` is the full URL Twilio requested, query string included, as Twilio saw it (behind a proxy,
    the public one)."""
    given = require(SIGNATURE_HEADER, signature)
    pairs = _pairs(params)
    if not any(signatures_match(twilio_signature(auth_token, variant, pairs), given) for variant in _url_variants(url)):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match this request")


def _single_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The parameters we map, each given at most once (a repeat is refused, never guessed)."""
    wanted = set(FIELD_NAMES.values())
    values: dict[str, str] = {}
    repeated = []
    for name, value in pairs:
        if name in wanted and name in values:
            repeated.append((name, "is given more than once"))
        values[name] = value
    if repeated:
        raise InvalidPayload(repeated)
    return values


def twilio_ticket(
    account_id: str, auth_token: str, url: str, params: Params, signature: str | None, now: datetime
) -> TicketCreated:
    """Verify, then the ``TicketCreated`` for one inbound SMS. Its ticket id derives from ``MessageSid``;
    it arrived ``now`` (Twilio sends no time). Raises ``BadSignature`` or ``InvalidPayload``."""
    verify_twilio(auth_token, url, params, signature)
    values = _single_values(_pairs(params))
    sid = values.get("MessageSid")
    if not sid:
        raise InvalidPayload([("MessageSid", "is missing (it is required)")])
    payload = {
        "ticket_id": derived_ticket_id(PROVIDER, sid),
        "message_sid": sid,
        "from_number": values.get("From"),
        "to_number": values.get("To"),
        "body": values.get("Body", ""),
        "received_at": now,
    }
    return to_ticket(Channel.SMS, account_id, payload, FIELD_NAMES, now)
