"""``Helpdesk.heartbeat`` and ``Helpdesk.set_presence_timeout`` (a mixin of worker/api/helpdesk.py's
``Helpdesk``): the presence timeout of issue 16 (docs/DESIGN.md, "Presence timeout"). The platform calls
``heartbeat`` while an agent's app is open; with a timeout set, the workers' sweep sets an Online agent
Offline once their heartbeats stop for that long. One Lua call each."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from schemas.common import check_id
from schemas.durations import MAX_SECONDS
from schemas.plain import shown
from worker.api.refusals import account_checked_on_refusal, refusing
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.errors import InvalidInput

GOOD_TIMEOUT = f"a whole number of seconds from 1 to {MAX_SECONDS} (365 days), e.g. 900 (15 minutes)"


class _Host(Protocol):
    """What the mixin needs from ``Helpdesk``."""

    @property
    def engine(self) -> Engine: ...

    @property
    def queries(self) -> Queries: ...

    def redis_location(self) -> str: ...


class PresenceApi:
    """Heartbeats and the presence timeout (docs/API.md), on a host with ``engine`` and ``queries``."""

    @refusing
    def heartbeat(self: _Host, account_id: str, user_id: str, now: datetime | None = None) -> bool:
        """Record that ``user_id``'s app is open now (any user; going Online counts as one too). Returns whether
        they are Online: a heartbeat never sets anyone Online. ``UnknownUser`` for a user not in the account."""
        _ids(account=account_id, user=user_id)
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.heartbeat(account_id, user_id, now or utc_now())

    @refusing
    def set_presence_timeout(
        self: _Host, account_id: str, seconds: int | None, actor_id: str, now: datetime | None = None
    ) -> bool:
        """Set (``seconds``: an ``int`` from 1 to ``MAX_SECONDS``, 365 days) or turn off (None) the account's
        presence timeout (owner, admin, manager): an Online agent without a heartbeat for that long is set
        Offline by the workers (``reason: presence_timeout``), never Online. Returns whether it changed; a change
        emits ``settings.changed`` with ``{"presence_timeout_seconds": N|null}``. ``Forbidden`` for an agent
        or viewer actor, ``InvalidInput`` for any other ``seconds``."""
        _ids(account=account_id, actor=actor_id)
        whole = isinstance(seconds, int) and not isinstance(seconds, bool)
        if seconds is not None and not (whole and 1 <= seconds <= MAX_SECONDS):
            raise InvalidInput(f"presence timeout: use {GOOD_TIMEOUT}, or None to turn it off (got {shown(seconds)})")
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_presence_timeout(account_id, seconds, actor_id, now or utc_now())


def _ids(**values: str) -> None:
    """Ids become parts of key names: refuse a bad one with a message naming the field."""
    for field, value in values.items():
        check_id(field, value)
