"""The presence timeout (issue 16, part 1; docs/DESIGN.md, "Presence timeout") in the reference model of
tests/support/model.py: a mixin of ``Model``.

What it mirrors from the engine:

* ``heartbeat`` records the time for any known user (``UnknownUser`` otherwise), Online or not, and returns
  whether they are Online; it never sets anyone Online. Going Online (``Model.set_status`` when it changes
  the status) records a heartbeat too; setting Online an agent who is already Online does not.
* ``set_presence_timeout`` checks the value (whole seconds ≥ 1, or None to clear: ``InvalidInput`` first),
  then the actor may manage; the same value again is a no-op; else ``settings.changed`` with
  ``{"presence_timeout_seconds": N|null}``.
* An Online agent of an account with a timeout is *due* at their last heartbeat + the timeout (ms); the
  engine's ``presence_due`` zset must hold exactly those (``presence_due``).
* ``sweep_presence`` at ``now`` (``worker.core.presence.sweep_presence``): every due agent whose time is at
  or before ``now`` goes Offline — place, tickets and counts kept — with ``agent.status_changed``,
  ``actor_id`` null and ``reason`` ``presence_timeout``, in the zset's order (time, then member). Nobody is
  set Online; a release is never rung by it (Offline agents make no room), which ``settle`` re-checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from worker.errors import InvalidInput

if TYPE_CHECKING:
    from tests.support.model import AccountModel, ModelEvent


def epoch_ms(moment: datetime) -> int:
    """A time as the scripts get it (``worker.core.presence._ms``)."""
    return int(moment.timestamp() * 1000)


def due_member(account_id: str, user_id: str) -> str:
    """The ``presence_due`` member (``worker.core.keys.presence_member``)."""
    return f"{account_id} {user_id}"


@dataclass
class PresenceState:
    """One account's presence timeout and its users' last heartbeats."""

    timeout: int | None = None
    """Seconds, or None (off: the seed's rules)."""
    heartbeats: dict[str, int] = field(default_factory=dict)
    """User → ms of the last heartbeat (going Online counts as one)."""

    def due(self, online: set[str]) -> dict[str, int]:
        """Agent → ms their presence times out: every Online agent while a timeout is set, else nobody."""
        if self.timeout is None:
            return {}
        return {agent: self.heartbeats[agent] + self.timeout * 1000 for agent in online}


class PresenceRules:
    """``Model``'s presence operations; each returns ``(result, events)`` like the others."""

    accounts: dict[str, AccountModel]

    if TYPE_CHECKING:  # provided by Model

        def account(self, account_id: str) -> AccountModel: ...

        def settle(self, account_id: str, opened_by: datetime | None = None) -> None: ...

        def _require_manager(self, account: AccountModel, actor_id: str) -> None: ...

        @staticmethod
        def _event(account_id: str, event_type: str, now: datetime, **payload: Any) -> ModelEvent: ...

        @staticmethod
        def _role_of(account: AccountModel, user_id: str) -> Any: ...

    def heartbeat(self, account_id: str, user_id: str, now: datetime) -> tuple[bool, list[ModelEvent]]:
        account = self.account(account_id)
        self._role_of(account, user_id)
        account.presence.heartbeats[user_id] = epoch_ms(now)
        self.settle(account_id)
        return user_id in account.online, []

    def set_presence_timeout(
        self, account_id: str, seconds: int | None, actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        if seconds is not None and seconds < 1:
            raise InvalidInput(f"the presence timeout must be a whole number of seconds, at least 1 (got {seconds})")
        account = self.account(account_id)
        self._require_manager(account, actor_id)
        if account.presence.timeout == seconds:
            return False, []
        account.presence.timeout = seconds
        changes = {"presence_timeout_seconds": seconds}
        self.settle(account_id)
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=changes)]

    def presence_due(self) -> dict[str, int]:
        """The ``presence_due`` zset of the accounts' partition: member → ms."""
        return {
            due_member(account_id, agent): at
            for account_id, account in self.accounts.items()
            for agent, at in account.presence.due(account.online).items()
        }

    def sweep_presence(self, now: datetime) -> tuple[list[tuple[str, str]], dict[str, list[ModelEvent]]]:
        """Every agent due at or before ``now`` goes Offline. Returns ``(account, agent)`` of each in the sweep's
        order, and the events by account."""
        now_ms = epoch_ms(now)
        due = sorted((at, member) for member, at in self.presence_due().items() if at <= now_ms)
        expired: list[tuple[str, str]] = []
        events: dict[str, list[ModelEvent]] = {}
        for _, member in due:
            account_id, _, agent = member.partition(" ")
            went_offline, offline_events = self.expire_presence(account_id, agent, now)
            assert went_offline, member
            expired.append((account_id, agent))
            events.setdefault(account_id, []).extend(offline_events)
        return expired, events

    def expire_presence(self, account_id: str, user_id: str, now: datetime) -> tuple[bool, list[ModelEvent]]:
        """The sweep's step for one entry (``worker.core.presence.expire``), also for an entry the sweep read
        before a heartbeat, a status change or a new timeout moved it: Offline only if the agent is still due
        at or before ``now``; else nothing changes (the entry stays where the zset invariant puts it)."""
        account = self.account(account_id)
        at = account.presence.due(account.online).get(user_id)
        if at is None or at > epoch_ms(now):
            return False, []
        account.online.discard(user_id)  # place, tickets and counts are kept
        account.reassign.offline_since[user_id] = epoch_ms(now)
        event = self._event(
            account_id,
            "agent.status_changed",
            now,
            user_id=user_id,
            status="offline",
            actor_id=None,
            reason="presence_timeout",
        )
        self.settle(account_id)
        return True, [event]
