"""Presence timeout (docs/DESIGN.md, "Presence timeout"): heartbeats, the account's timeout, and the sweep
that sets Offline the Online agents whose heartbeats stopped. Opt-in per account; nobody is ever set Online
automatically. One Lua call each (``heartbeat-5``, ``set_presence-7``, ``expire_presence-18``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from schemas.common import utc_iso
from schemas.events import new_event_id
from worker.core.keys import AccountKeys, partition_presence_due
from worker.core.scripts import Scripts
from worker.core.text import text

log = structlog.get_logger("helpdesk_rr.presence")

SWEEP_LIMIT = 200
"""Due entries one sweep handles per partition (the rest are due in the next sweep, a second later)."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def heartbeat(scripts: Scripts, keys: AccountKeys, user_id: str, now: datetime) -> bool:
    """Record a heartbeat of ``user_id``. Returns whether they are Online (a heartbeat never sets anyone Online)."""
    call_keys = [keys.users, keys.online, keys.heartbeats, keys.settings, keys.presence_due]
    return int(scripts.call("heartbeat", call_keys, [keys.account_id, user_id, _ms(now)])[0]) == 1


def set_presence_timeout(
    scripts: Scripts, keys: AccountKeys, seconds: int | None, actor_id: str, now: datetime
) -> bool:
    """Set (``seconds`` ≥ 1) or clear (None) the account's presence timeout. Returns whether it changed."""
    call_keys = [keys.users, keys.settings, keys.online, keys.heartbeats, keys.presence_due]
    call_keys += [keys.events, keys.partition_events]
    value = "" if seconds is None else str(seconds)
    args: list[object] = [keys.account_id, actor_id, value, utc_iso(now), new_event_id(), *scripts.stream_args()]
    return int(scripts.call("set_presence", call_keys, [*args, _ms(now)])[0]) == 1


def expire(scripts: Scripts, keys: AccountKeys, user_id: str, now: datetime) -> bool:
    """The sweep's step for one due agent: Offline if their presence timed out. Returns whether they went Offline."""
    call_keys = [keys.users, keys.online, keys.ready, keys.heartbeats, keys.settings, keys.presence_due]
    call_keys += [keys.events, keys.partition_events, keys.offline_since, *keys.channel_block]
    args: list[object] = [keys.account_id, user_id, _ms(now), utc_iso(now), new_event_id(), *scripts.stream_args()]
    return int(scripts.call("expire_presence", call_keys, args)[0]) == 1


def sweep_presence(
    scripts: Scripts, keys_of: Callable[[str], AccountKeys], partitions: int, now: datetime
) -> list[tuple[str, str]]:
    """Set Offline every Online agent whose presence timed out by ``now``; returns (account, agent) of each.
    Cheap when nothing is due: one ZRANGEBYSCORE per partition (the zset holds only Online agents of
    accounts with a timeout, so its size never slows the sweep: O(log n) per look)."""
    expired = []
    for partition in range(partitions):
        due_key = partition_presence_due(partition)
        due = scripts.client.zrangebyscore(due_key, "-inf", _ms(now), start=0, num=SWEEP_LIMIT)
        for member in (text(m) for m in due):
            account_id, _, user_id = member.partition(" ")
            if expire(scripts, keys_of(account_id), user_id, now):
                log.info("agent.presence_timeout", account_id=account_id, user_id=user_id, reason="presence_timeout")
                expired.append((account_id, user_id))
    return expired
