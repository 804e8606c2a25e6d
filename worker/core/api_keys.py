"""API keys of the HTTP control API: made, stored hashed, checked, revoked (docs/SECURITY.md).

A key reads ``rrk_<key id>_<secret>``: the key id (12 hex characters) is public (``api-key list`` shows
it, ``revoke`` takes it) and finds the record in one ``HGET``; the secret is 256 random bits. Only the
SHA-256 of the whole key is stored: a key has the entropy of a random secret, so a plain hash is as strong
as a slow password hash would be, and checking it costs microseconds per request. A key belongs to one
account (the hash lives under the account's keys): a key can never be checked against another account.

Each operation is one Redis command (HSET NX, HGET, HGETALL, HDEL), atomic on its own: no script needed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import redis

from schemas.common import utc_iso
from worker.core.keys import AccountKeys

PREFIX = "rrk"
KEY_ID_HEX = 12
KEY_SHAPE = re.compile(rf"^{PREFIX}_(?P<key_id>[0-9a-f]{{{KEY_ID_HEX}}})_(?P<secret>[A-Za-z0-9_-]{{43}})$")
KEY_ID_SHAPE = re.compile(rf"^[0-9a-f]{{{KEY_ID_HEX}}}$")
MAX_LABEL = 80


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_id: str
    label: str
    created_at: str


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def new_key() -> tuple[str, str]:
    """(key id, the whole key). ``token_urlsafe(32)`` is 43 characters of 256 random bits."""
    key_id = secrets.token_hex(KEY_ID_HEX // 2)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(presented: str) -> str | None:
    """The key id of a well-formed key, else None (a malformed key is never looked up)."""
    match = KEY_SHAPE.match(presented)
    return match.group("key_id") if match else None


class ApiKeyStore:
    """The API keys of accounts on one state Redis."""

    def __init__(self, client: redis.Redis, partitions: int | None = None) -> None:
        self._client = client
        self._partitions = partitions

    def _hash(self, account_id: str) -> str:
        return AccountKeys.for_account(account_id, self._partitions).api_keys

    def create(self, account_id: str, label: str, now: datetime) -> tuple[StoredKey, str]:
        """A new key (returned once, whole) and its record; a key id clash (1 in 2^48) draws again."""
        while True:
            key_id, key = new_key()
            record = {"sha256": _digest(key), "label": label, "created_at": utc_iso(now)}
            if self._client.hsetnx(self._hash(account_id), key_id, json.dumps(record, separators=(",", ":"))):
                return StoredKey(key_id, label, record["created_at"]), key

    def list(self, account_id: str) -> list[StoredKey]:
        """Every key of the account, oldest first (never the hash)."""
        stored = self._client.hgetall(self._hash(account_id))
        keys = []
        for raw_id, raw in stored.items():
            record = json.loads(raw)
            key_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            keys.append(StoredKey(key_id, str(record.get("label", "")), str(record["created_at"])))
        return sorted(keys, key=lambda key: (key.created_at, key.key_id))

    def revoke(self, account_id: str, key_id: str) -> bool:
        """Whether a key was removed (False: no such key in this account)."""
        return bool(self._client.hdel(self._hash(account_id), key_id))

    def check(self, account_id: str, presented: str) -> str | None:
        """The key id when ``presented`` is a live key of ``account_id``, else None. The compare is
        constant-time over the digests."""
        key_id = key_id_of(presented)
        if key_id is None:
            return None
        raw = self._client.hget(self._hash(account_id), key_id)
        if raw is None:
            return None
        stored = str(json.loads(raw)["sha256"])
        return key_id if hmac.compare_digest(stored.encode(), _digest(presented).encode()) else None
