"""``Helpdesk.create_api_key``/``api_keys``/``revoke_api_key``/``authenticate`` (a mixin): the HTTP control
API's per-account keys (docs/SECURITY.md, "API keys").

Keys are an operator's verbs, like ``reset_account``: whoever holds the Redis (the CLI, a platform's
backend) makes and revokes them; the HTTP API never does, so a leaked key cannot mint more keys or outlive
its revocation. ``authenticate`` is what the HTTP edge calls on every request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from schemas.common import check_id
from schemas.plain import shown
from schemas.views import ApiKeyView, CreatedApiKey
from worker.api.refusals import known_account, refusing
from worker.config import Settings
from worker.core.api_keys import KEY_ID_SHAPE, MAX_LABEL, ApiKeyStore, StoredKey
from worker.core.engine import utc_now
from worker.core.queries import Queries
from worker.errors import InvalidInput, Unauthorized

NOT_VALID = "the API key is missing, malformed, revoked or not a key of account {account}"


class _Host(Protocol):
    config: Settings

    @property
    def state(self) -> Any: ...

    @property
    def queries(self) -> Queries: ...

    def redis_location(self) -> str: ...


def _store(host: _Host) -> ApiKeyStore:
    return ApiKeyStore(host.state, host.config.partitions)


def _view(key: StoredKey) -> ApiKeyView:
    return ApiKeyView(key_id=key.key_id, label=key.label, created_at=key.created_at)


class ApiKeysApi:
    """Per-account API keys, on a host with ``state``, ``queries`` and ``config``."""

    @refusing
    def create_api_key(self: _Host, account_id: str, label: str = "", now: datetime | None = None) -> CreatedApiKey:
        """A new key for ``account_id`` (which must have users): the whole key is in the answer and nowhere
        else, ever. ``label`` says what it is for (at most 80 printable characters)."""
        known_account(self.queries, account_id)
        if len(label) > MAX_LABEL or not label.isprintable():
            raise InvalidInput(f"label: use at most {MAX_LABEL} printable characters on one line (got {shown(label)})")
        stored, key = _store(self).create(account_id, label, now or utc_now())
        return CreatedApiKey(key_id=stored.key_id, label=stored.label, created_at=stored.created_at, key=key)

    @refusing
    def api_keys(self: _Host, account_id: str) -> list[ApiKeyView]:
        """The account's keys, oldest first: ids, labels and dates only."""
        known_account(self.queries, account_id)
        return [_view(key) for key in _store(self).list(account_id)]

    @refusing
    def revoke_api_key(self: _Host, account_id: str, key_id: str) -> bool:
        """Remove a key at once (the next request with it is refused). False: no such key in the account."""
        known_account(self.queries, account_id)
        if not KEY_ID_SHAPE.match(key_id):
            raise InvalidInput(f"key id: use the 12 hexadecimal characters `api-key list` shows (got {shown(key_id)})")
        return _store(self).revoke(account_id, key_id)

    @refusing
    def authenticate(self: _Host, account_id: str, presented: str | None) -> str:
        """The key id when ``presented`` is a live key of ``account_id``; ``Unauthorized`` otherwise, in the
        same words whether the key is malformed, unknown, revoked or another account's (one ``HGET``)."""
        check_id("account", account_id)
        key_id = _store(self).check(account_id, presented) if presented else None
        if key_id is None:
            raise Unauthorized(NOT_VALID.format(account=account_id))
        return key_id
