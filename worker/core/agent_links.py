"""Agent links: tokens naming an account, a user and an expiry, signed with the account's own key.

A token reads ``rra1.<payload>.<signature>``: the payload is base64url JSON ``{"a": account, "u": user,
"x": expiry in Unix seconds}``, the signature base64url HMAC-SHA256 of ``rra1.<payload>`` keyed by the account's
signing key (32 random bytes, kept as hex at ``AccountKeys.agent_link_key``). Each account has its own key, so
a token can never be checked against another account, and replacing the key (``--revoke-all``) voids every link
of that account at once. The key is made on first use with ``SET NX`` (two processes making the first link at
once agree on one key) and is only ever read when a token is checked: a forged token never creates one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from worker.core.keys import AccountKeys
from worker.core.text import text

VERSION = "rra1"
MAX_TOKEN_CHARS = 1024
TOKEN_SHAPE = re.compile(rf"^{VERSION}\.([A-Za-z0-9_-]{{8,900}})\.([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token says (only trusted once its signature was checked)."""

    account_id: str
    user_id: str
    expires: int
    """Unix seconds."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _signature(key_hex: str, signed: str) -> str:
    return _b64(hmac.new(bytes.fromhex(key_hex), signed.encode("ascii"), hashlib.sha256).digest())


def claims_of(token: str) -> TokenClaims | None:
    """The claims a well-formed token carries, unverified (None: not a token at all). Only used to find
    which account's key checks it."""
    match = TOKEN_SHAPE.match(token) if len(token) <= MAX_TOKEN_CHARS else None
    if match is None:
        return None
    try:
        payload: Any = json.loads(_unb64(match.group(1)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    account, user, expires = payload.get("a"), payload.get("u"), payload.get("x")
    if not isinstance(account, str) or not isinstance(user, str) or type(expires) is not int:
        return None
    return TokenClaims(account, user, expires)


class AgentLinkKeys:
    """The agent-link signing keys of accounts on one state Redis."""

    def __init__(self, client: Any, partitions: int | None = None) -> None:
        self._client = client
        self._partitions = partitions

    def _key(self, account_id: str) -> str:
        return AccountKeys.for_account(account_id, self._partitions).agent_link_key

    def ensure(self, account_id: str) -> str:
        """The account's signing key, made now if it has none (SET NX: concurrent first links agree)."""
        self._client.set(self._key(account_id), secrets.token_hex(32), nx=True)
        return text(self._client.get(self._key(account_id)))

    def rotate(self, account_id: str) -> None:
        """Replace the account's signing key: every link made before stops working at once."""
        self._client.set(self._key(account_id), secrets.token_hex(32))

    def current(self, account_id: str) -> str | None:
        raw = self._client.get(self._key(account_id))
        return None if raw is None else text(raw)

    def sign(self, account_id: str, user_id: str, expires: int) -> str:
        payload = _b64(json.dumps({"a": account_id, "u": user_id, "x": expires}, separators=(",", ":")).encode())
        signed = f"{VERSION}.{payload}"
        return f"{signed}.{_signature(self.ensure(account_id), signed)}"

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a token signed with its account's current key, expired or not; None otherwise (malformed,
        forged, signed with a key since rotated, or of an account that never made a link)."""
        claims = claims_of(token)
        if claims is None:
            return None
        key = self.current(claims.account_id)
        if key is None:
            return None
        signed, _, presented = token.rpartition(".")
        return claims if hmac.compare_digest(_signature(key, signed), presented) else None
