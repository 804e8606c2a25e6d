"""``Helpdesk.set_webhook_secret``/``clear_webhook_secret``/``webhook_secrets``/``webhook_secret`` (a mixin): the
secrets the HTTP edge verifies each provider's webhooks with (docs/HTTP.md, "Webhooks in"; docs/SECURITY.md).

Setting or clearing one is a settings change like any other (owner, admin or manager, checked in the same Lua
call as the write, ``settings.changed`` naming the secret but never its value). The listing says which are set,
when and by whom; only ``webhook_secret`` — the HTTP edge's read — ever returns a secret. No message, log line
or event carries one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import structlog

from schemas.common import WebhookSecretName, check_id
from schemas.plain import shown
from schemas.views import WebhookSecretView
from worker.api.refusals import account_checked_on_refusal, known_account, refusing
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.core.webhook_secrets import set_webhook_secret, webhook_secret, webhook_secret_views
from worker.errors import InvalidInput

log = structlog.get_logger("helpdesk_rr.webhook_secrets")

MAX_SECRET = 512
GOOD_SECRET = f"1 to {MAX_SECRET} printable characters on one line, without spaces around them (it is not shown)"
NAMES = ", ".join(name.value for name in WebhookSecretName)


class _Host(Protocol):
    """What the mixin needs from ``Helpdesk``."""

    @property
    def engine(self) -> Engine: ...

    @property
    def queries(self) -> Queries: ...

    def redis_location(self) -> str: ...


def secret_name(name: WebhookSecretName | str) -> WebhookSecretName:
    """``name`` as a ``WebhookSecretName``; ``InvalidInput`` naming the good ones otherwise."""
    try:
        return WebhookSecretName(name)
    except ValueError:
        raise InvalidInput(f"webhook secret: {shown(name)} is not one: use {NAMES}") from None


def _checked_secret(secret: object) -> str:
    """The secret when it is one line of printable text; the refusal never shows it, not even cut."""
    if isinstance(secret, str) and 1 <= len(secret) <= MAX_SECRET and secret.isprintable() and secret == secret.strip():
        return secret
    raise InvalidInput(f"secret: use {GOOD_SECRET}")


class WebhookSecretsApi:
    """The account's webhook secrets (docs/API.md), on a host with ``engine`` and ``queries``."""

    @refusing
    def set_webhook_secret(
        self: _Host,
        account_id: str,
        name: WebhookSecretName | str,
        secret: str,
        actor_id: str,
        now: datetime | None = None,
    ) -> bool:
        """Store ``secret`` as the account's ``name`` secret (owner, admin or manager): twilio (the Auth Token),
        mailgun (the HTTP webhook signing key), meta (the app secret), meta-verify-token (the verify token of
        Meta's handshake) or webchat (the widget's secret). Returns whether it changed; a change emits
        ``settings.changed`` ``{"webhook_secret": {"name", "provider", "kind", "set": true}}``."""
        return _write(self, account_id, name, _checked_secret(secret), actor_id, now)

    @refusing
    def clear_webhook_secret(
        self: _Host, account_id: str, name: WebhookSecretName | str, actor_id: str, now: datetime | None = None
    ) -> bool:
        """Remove the account's ``name`` secret (owner, admin or manager): that provider's webhooks are then
        refused (401). Returns whether one was set; a change emits ``settings.changed`` with ``"set": false``."""
        return _write(self, account_id, name, None, actor_id, now)

    @refusing
    def webhook_secrets(self: _Host, account_id: str) -> list[WebhookSecretView]:
        """Every webhook secret of the account, set or not, with when and by whom it was set: never a value."""
        known_account(self.queries, account_id)
        return webhook_secret_views(self.engine.client, self.engine.keys(account_id))

    @refusing
    def webhook_secret(self: _Host, account_id: str, name: WebhookSecretName | str) -> str | None:
        """The secret the HTTP edge verifies ``name``'s webhooks of the account with, or None when none is set
        (one ``HGET``). The account is not looked up: an unknown account simply has no secret, so a caller
        answering the webhook learns nothing more about which accounts exist."""
        check_id("account", account_id)
        return webhook_secret(self.engine.client, self.engine.keys(account_id), secret_name(name))


def _write(
    host: _Host, account_id: str, name: WebhookSecretName | str, secret: str | None, actor_id: str, now: datetime | None
) -> bool:
    check_id("account", account_id)
    check_id("actor", actor_id)
    chosen = secret_name(name)
    with account_checked_on_refusal(host.queries, account_id):
        changed = set_webhook_secret(
            host.engine.scripts, host.engine.keys(account_id), chosen, secret, actor_id, now or utc_now()
        )
    log.info(
        "settings.webhook_secret",
        account_id=account_id,
        name=chosen.value,
        set=secret is not None,
        actor_id=actor_id,
        changed=changed,
    )
    return changed
