"""Capacity and auto-assign: the settings of the waiting queue's release (docs/DESIGN.md, "Capacity and the
waiting queue"). One Lua call each (``set_capacity-20.lua``, ``set_auto_assign-10.lua``); both may ring a
release (room appeared, or auto-assign turned on while tickets wait), which the engine passes on."""

from __future__ import annotations

from datetime import datetime

from schemas.common import utc_iso
from schemas.events import new_event_id
from worker.core.keys import AccountKeys
from worker.core.scripts import Scripts
from worker.core.shared_constants import RELEASE_LEASE_MS
from worker.core.text import text

ACCOUNT = "*"
"""The capacity hash's field for the account's own value (not a valid user id, so it never collides)."""


def set_capacity(
    scripts: Scripts, keys: AccountKeys, capacity: int | None, agent_id: str | None, actor_id: str, now: datetime
) -> tuple[bool, bool]:
    """Set (``capacity``) or clear (None) the account's capacity, or ``agent_id``'s override.
    Returns (whether it changed, whether a release must be enqueued)."""
    call_keys = [keys.users, keys.capacity, keys.online, keys.load, keys.ready, keys.settings, keys.waiting]
    call_keys += [keys.release_due, keys.release_lease, keys.events, keys.partition_events, *keys.channel_block]
    value = "" if capacity is None else str(capacity)
    args: list[object] = [keys.account_id, actor_id, agent_id or ACCOUNT, value, utc_iso(now), new_event_id()]
    args += [*scripts.stream_args(), int(now.timestamp() * 1000), RELEASE_LEASE_MS]
    reply = scripts.call("set_capacity", call_keys, args)
    return int(reply[0]) == 1, int(reply[1]) == 1


def set_auto_assign(
    scripts: Scripts, keys: AccountKeys, enabled: bool, actor_id: str, now: datetime
) -> tuple[bool, bool]:
    """Turn the release of the waiting queue on or off. Returns (changed, whether a release must be enqueued)."""
    call_keys = [keys.users, keys.settings, keys.capacity, keys.waiting, keys.later, keys.ready]
    call_keys += [keys.release_due, keys.release_lease, keys.events, keys.partition_events]
    args: list[object] = [keys.account_id, actor_id, "on" if enabled else "off", utc_iso(now), new_event_id()]
    args += [*scripts.stream_args(), int(now.timestamp() * 1000), RELEASE_LEASE_MS]
    reply = scripts.call("set_auto_assign", call_keys, args)
    return int(reply[0]) == 1, int(reply[1]) == 1


def claim(scripts: Scripts, keys: AccountKeys, now: datetime) -> bool:
    """Whether the account owes a release now that nobody is running: then the lease is taken and the
    caller must enqueue it (``claim_release-17.lua``)."""
    call_keys = [keys.settings, keys.capacity, keys.waiting, keys.later, keys.ready, keys.release_due]
    args = [keys.account_id, int(now.timestamp() * 1000), RELEASE_LEASE_MS]
    call_keys += [keys.release_lease, keys.release_toasts, *keys.channel_block]
    reply = scripts.call("claim_release", call_keys, args)
    return int(reply[0]) == 1


def agents_above_capacity(scripts: Scripts, keys: AccountKeys, agents: list[str]) -> list[str]:
    """Which of ``agents`` hold more open tickets than their capacity now (a bulk job's result names them:
    bulk ignores capacity). Empty when the account has no capacity."""
    if not agents:
        return []
    client = scripts.client
    capacity = client.hgetall(keys.capacity)
    if not capacity:
        return []
    caps = {text(k): int(v) for k, v in capacity.items()}
    loads = client.hmget(keys.load, agents)
    above = []
    for agent_id, load in zip(agents, loads, strict=True):
        cap = caps.get(agent_id, caps.get(ACCOUNT))
        if cap is not None and int(load or 0) > cap:
            above.append(agent_id)
    return above
