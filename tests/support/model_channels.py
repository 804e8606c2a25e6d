"""Per-channel pools (issue 16, part 4; docs/DESIGN.md, "Per-channel pools") in the reference model of
tests/support/model.py: a mixin of ``Model``.

What it mirrors from the engine:

* ``set_agent_channels``: the channels are checked first (none at all → ``InvalidInput``; all four are stored
  as "every channel"), then the actor may manage, then the target exists and is an agent or higher; the same
  value again is a no-op; else ``settings.changed`` with ``{"agent_channels": {"user_id", "channels"}}``.
* The pools are on while any agent is restricted. ``pick`` is the one pick of every decision
  (``pick_for_channel``): the least recently assigned Online agent with room (capacity) who takes the channel
  (pools on), other than ``skip``; nobody → the reason (``no_agent_online`` when nobody but ``skip`` is
  Online; pools on: ``all_agents_at_capacity`` when someone Online takes the channel, else
  ``no_agent_for_channel``; pools off: ``all_agents_at_capacity`` when capped, else ``no_agent_online``).
* ``pools`` is what ``pool:<channel>`` must hold: the Online agents who take the channel, at their place, times
  ``POOL_FULL`` while the account is capped and they are at capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from schemas.common import Channel
from worker.errors import Forbidden, InvalidInput

if TYPE_CHECKING:
    from tests.support.model import AccountModel, ModelEvent

POOL_FULL = 2**50


class ChannelRules:
    """``Model``'s per-channel operations and the pick."""

    if TYPE_CHECKING:  # provided by Model

        def account(self, account_id: str) -> AccountModel: ...

        def settle(self, account_id: str, opened_by: datetime | None = None) -> None: ...

        def _require_manager(self, account: AccountModel, actor_id: str) -> None: ...

        @staticmethod
        def _event(account_id: str, event_type: str, now: datetime, **payload: Any) -> ModelEvent: ...

        @staticmethod
        def _role_of(account: AccountModel, user_id: str) -> Any: ...

    @staticmethod
    def takes(account: AccountModel, agent_id: str, channel: str) -> bool:
        chosen = account.channels.get(agent_id)
        return chosen is None or channel in chosen

    def pick(self, account: AccountModel, channel: str, skip: str | None = None) -> tuple[str | None, str]:
        """Who gets a ticket of ``channel`` now, or None and why nobody (``pick_for_channel``)."""
        pools = bool(account.channels)
        for agent in account.with_room():
            if agent != skip and (not pools or self.takes(account, agent, channel)):
                return agent, ""
        others = account.online - {skip}
        if not others:
            return None, "no_agent_online"
        if pools:
            takers = [agent for agent in others if self.takes(account, agent, channel)]
            return None, "all_agents_at_capacity" if takers else "no_agent_for_channel"
        return None, "all_agents_at_capacity" if account.capped else "no_agent_online"

    def pools(self, account_id: str) -> dict[str, dict[str, int]]:
        """Channel → the pool's members and scores (empty while nobody is restricted)."""
        account = self.account(account_id)
        if not account.channels:
            return {channel.value: {} for channel in Channel}
        room = set(account.with_room())
        return {
            channel.value: {
                agent: account.places[agent] * (POOL_FULL if account.capped and agent not in room else 1)
                for agent in account.online
                if self.takes(account, agent, channel.value)
            }
            for channel in Channel
        }

    def set_agent_channels(
        self, account_id: str, agent_id: str, channels: Sequence[str] | None, actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        if channels is not None and not channels:
            raise InvalidInput("give at least one channel")
        chosen = None if channels is None else tuple(c.value for c in Channel if c.value in set(channels))
        if chosen is not None and len(chosen) == len(Channel):
            chosen = None
        account = self.account(account_id)
        self._require_manager(account, actor_id)
        if not self._role_of(account, agent_id).can_be_online:
            raise Forbidden(f"{agent_id} is a viewer")
        if account.channels.get(agent_id) == chosen:
            return False, []
        if chosen is None:
            del account.channels[agent_id]
        else:
            account.channels[agent_id] = chosen
        change = {"user_id": agent_id, "channels": None if chosen is None else list(chosen)}
        self.settle(account_id)
        changes = {"agent_channels": change}
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=changes)]
