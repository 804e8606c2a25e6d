"""Per-channel pools (issue 16, part 4; docs/DESIGN.md, "Per-channel pools"): which channels an agent takes.

An agent takes every channel unless restricted. While any agent of the account is restricted, the scripts keep
one pool zset per channel (the Online agents who take it, by rotation place) and the pick takes the head of the
ticket's channel's pool (``pick_for_channel`` in ``lua/_common.lua``); with nobody restricted, nothing changes
from the seed's and capacity's rules. Setting or clearing a restriction is one Lua call, ``set_agent_channels``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas.common import Channel, utc_iso
from schemas.events import new_event_id
from worker.core.keys import AccountKeys
from worker.core.scripts import Scripts
from worker.core.shared_constants import RELEASE_LEASE_MS
from worker.core.text import text
from worker.errors import InvalidInput

GOOD = ", ".join(channel.value for channel in Channel)


def canonical(channels: Iterable[Channel | str] | None) -> tuple[Channel, ...] | None:
    """Channels in ``Channel`` order without repeats; None (every channel) for None or all four: an agent
    restricted to every channel is not restricted (and keeps the pools off when nobody else is).
    ``InvalidInput`` in plain words for a value that is not a channel, or for none at all."""
    if channels is None:
        return None
    try:
        chosen = {Channel(channel) for channel in channels}
    except ValueError as error:
        raise InvalidInput(f"channels: {error}") from None
    if not chosen:
        raise InvalidInput(f"give at least one channel ({GOOD}), or none (None) for every channel")
    ordered = tuple(channel for channel in Channel if channel in chosen)
    return None if len(ordered) == len(Channel) else ordered


def set_agent_channels(
    scripts: Scripts,
    keys: AccountKeys,
    agent_id: str,
    channels: tuple[Channel, ...] | None,
    actor_id: str,
    now: datetime,
) -> tuple[bool, bool]:
    """Store ``agent_id``'s channels (None: every channel). Returns (whether it changed, whether a release
    must be enqueued). ``channels`` must be :func:`canonical`."""
    call_keys = [keys.users, keys.online, keys.capacity, keys.ready, keys.load, keys.settings, keys.waiting]
    call_keys += [keys.release_due, keys.release_lease, keys.events, keys.partition_events, *keys.channel_block]
    value = "" if channels is None else ",".join(channel.value for channel in channels)
    args: list[object] = [keys.account_id, actor_id, agent_id, value, utc_iso(now), new_event_id()]
    args += [*scripts.stream_args(), int(now.timestamp() * 1000), RELEASE_LEASE_MS]
    reply = scripts.call("set_agent_channels", call_keys, args)
    return int(reply[0]) == 1, int(reply[1]) == 1


def channels_of(value: bytes | str | None) -> list[Channel] | None:
    """An ``agent_channels`` hash value read back (None: the agent takes every channel)."""
    if value is None:
        return None
    return [Channel(part) for part in text(value).split(",") if part]
