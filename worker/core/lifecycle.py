"""Closing and reopening tickets, and the load they move (docs/DESIGN.md, "Ticket lifecycle and load").

Each is one Lua call (``close_ticket-26.lua``, ``reopen_ticket-30.lua``), idempotent: a second close or
reopen changes nothing and emits nothing. ``Engine.close_ticket`` / ``Engine.reopen_ticket`` call these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog

from schemas.common import utc_iso
from schemas.events import new_event_id
from worker.core.keys import AccountKeys
from worker.core.scripts import Scripts, day_of, hour_of
from worker.core.shared_constants import RELEASE_LEASE_MS
from worker.core.text import text

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LifecycleChange:
    """What a close or reopen did."""

    account_id: str
    ticket_id: str
    action: Literal["close", "reopen"]
    changed: bool
    """False: the ticket already was closed (close) or was not closed (reopen); nothing was written."""
    agent_id: str | None
    """The ticket's assignee (whose load moved when ``changed``), or None; after a reopen that reassigned it
    (its assignee was away), the new assignee (None: it waits)."""
    reassigned_from: str | None = None
    """A reopen found the assignee away (reassign-away): the assignee the ticket left, else None."""


def close_or_reopen(
    scripts: Scripts,
    keys: AccountKeys,
    ticket_id: str,
    action: Literal["close", "reopen"],
    now: datetime,
    at: datetime | None = None,
    rang: Callable[[str, bool], None] | None = None,
) -> LifecycleChange:
    """One ``close_ticket`` or ``reopen_ticket`` call; ids are checked by the caller (the engine).

    ``at`` (when it happened, as the integration reported it; default ``now``) becomes the event's
    ``occurred_at`` and the record's ``closed_at``; the figures (the queue depth of the hour, the day's
    stats key and its lifetime) go by ``now``, when helpdesk-rr changed the queue, so a late report
    never rewrites a past hour or revives an expired day."""
    call_keys = [keys.ticket(ticket_id), keys.users, keys.unassigned, keys.load, keys.uq_depth]
    call_keys += [keys.stats(day_of(now)), keys.events, keys.partition_events]
    call_keys += [keys.settings, keys.online, keys.capacity, keys.ready, keys.waiting, keys.later]
    call_keys += [keys.release_due, keys.release_lease]
    if action == "close":
        call_keys.append(keys.unanswered_due)
    else:
        call_keys += [keys.places, keys.seq, keys.counts, keys.unanswered_due, keys.offline_since]
    call_keys += keys.channel_block
    retention = scripts.retention
    args: list[object] = [keys.account_id, ticket_id, utc_iso(at or now), new_event_id()]
    args += [retention.account_stream_maxlen, retention.partition_stream_maxlen, hour_of(now)]
    args.append(scripts.stats_ttl(day_of(now), now))
    if action == "close":
        args.append(retention.assigned_record_ttl_seconds)
    args += [int(now.timestamp() * 1000), RELEASE_LEASE_MS]
    if action == "reopen":
        args += [int((at or now).timestamp() * 1000), new_event_id(), new_event_id()]
        args.append(retention.assigned_record_ttl_seconds)
    reply = scripts.call(f"{action}_ticket", call_keys, list(args))
    if rang is not None:
        rang(keys.account_id, int(reply[2]) == 1)
    agent_id = text(reply[1]) or None
    away_from = text(reply[3]) or None if len(reply) > 3 else None
    change = LifecycleChange(keys.account_id, ticket_id, action, int(reply[0]) == 1, agent_id, away_from)
    log.info(f"ticket.{action}", account_id=keys.account_id, ticket_id=ticket_id, agent_id=agent_id,
             changed=change.changed, reassigned_from=away_from, reason="assignee_away" if away_from else None)
    return change
