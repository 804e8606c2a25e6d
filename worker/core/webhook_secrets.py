"""Webhook secrets (docs/HTTP.md, "Webhooks in"): the key each provider's webhook of an account is verified with.

Stored in plain text in the account's ``webhook_secrets`` hash, because an HMAC check needs the key itself
(a hash of it would verify nothing; docs/SECURITY.md). Setting or clearing one is one Lua call,
``set_webhook_secret-5``, that checks the actor's role and writes in the same step. What a listing reads is a
second hash of {set_at, set_by} per name, so listing never loads a secret; the HTTP edge reads one secret with
one ``HGET`` per delivery.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from schemas.common import WebhookSecretName, utc_iso
from schemas.events import new_event_id
from schemas.views import WebhookSecretView
from worker.core.keys import AccountKeys
from worker.core.scripts import Scripts
from worker.core.text import text


def set_webhook_secret(
    scripts: Scripts, keys: AccountKeys, name: WebhookSecretName, secret: str | None, actor_id: str, now: datetime
) -> bool:
    """Store ``secret`` under ``name`` (None: clear it). Returns whether anything changed."""
    call_keys = [keys.users, keys.webhook_secrets, keys.webhook_secrets_set, keys.events, keys.partition_events]
    named = {"name": name.value, "provider": name.provider, "kind": name.kind, "set": secret is not None}
    changes = json.dumps({"webhook_secret": named}, separators=(",", ":"))
    record = json.dumps({"set_at": utc_iso(now), "set_by": actor_id}, separators=(",", ":"))
    args: list[object] = [keys.account_id, actor_id, name.value, secret or "", utc_iso(now), new_event_id()]
    args += [*scripts.stream_args(), changes, record]
    return int(scripts.call("set_webhook_secret", call_keys, args)[0]) == 1


def webhook_secret(client: Any, keys: AccountKeys, name: WebhookSecretName) -> str | None:
    """The secret stored under ``name``, or None when none is set (one ``HGET``)."""
    value = client.hget(keys.webhook_secrets, name.value)
    return None if value is None else text(value)


def webhook_secret_views(client: Any, keys: AccountKeys) -> list[WebhookSecretView]:
    """Every secret name, set or not, with when and by whom it was set (one ``HGETALL`` of the records)."""
    records = {text(field): json.loads(raw) for field, raw in client.hgetall(keys.webhook_secrets_set).items()}
    views = []
    for name in WebhookSecretName:
        record = records.get(name.value)
        views.append(
            WebhookSecretView(
                name=name,
                provider=name.provider,
                kind=name.kind,
                is_set=record is not None,
                set_at=None if record is None else record["set_at"],
                set_by=None if record is None else record["set_by"],
            )
        )
    return views
