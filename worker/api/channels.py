"""``Helpdesk.set_agent_channels`` (a mixin of worker/api/helpdesk.py's ``Helpdesk``): per-channel pools of
issue 16, part 4 (docs/DESIGN.md, "Per-channel pools"). One Lua call; a change that gives a waiting ticket an
agent with room rings a release (auto-assign on), which the host's engine enqueues."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from schemas.common import Channel, check_id
from schemas.plain import shown
from worker.api.refusals import account_checked_on_refusal, refusing
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.errors import InvalidInput


class _Host(Protocol):
    """What the mixin needs from ``Helpdesk``."""

    @property
    def engine(self) -> Engine: ...

    @property
    def queries(self) -> Queries: ...

    def redis_location(self) -> str: ...


class ChannelsApi:
    """Which channels each agent takes (docs/API.md), on a host with ``engine`` and ``queries``."""

    @refusing
    def set_agent_channels(
        self: _Host,
        account_id: str,
        user_id: str,
        channels: Sequence[Channel | str] | None,
        actor_id: str,
        now: datetime | None = None,
    ) -> bool:
        """Let ``user_id`` take only tickets of ``channels`` (None, or all four: every channel, the default).
        Owner, admin or manager. Returns whether it changed; a change emits ``settings.changed`` with
        ``{"agent_channels": {"user_id": ..., "channels": [...] | null}}``.

        ``Forbidden`` for an actor below manager or a target below agent; ``InvalidInput`` for an empty list or
        a value that is not a channel (the message names the good ones)."""
        for field, value in (("account", account_id), ("user", user_id), ("actor", actor_id)):
            check_id(field, value)
        if isinstance(channels, str):  # "email" would otherwise be read as five one-letter channels
            raise InvalidInput(f"channels must be a list of channels, e.g. ['email', 'sms'] (got {shown(channels)})")
        with account_checked_on_refusal(self.queries, account_id):
            listed = None if channels is None else list(channels)
            return self.engine.set_agent_channels(account_id, user_id, listed, actor_id, now or utc_now())
