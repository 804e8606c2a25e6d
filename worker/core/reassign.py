"""Reassignment (issue 16, parts 2 and 3; docs/DESIGN.md, "Reassignment (away, unanswered)"): a customer
reply (or reopen) on a ticket whose assignee is away, and a ticket without a first reply in time, go through
the rotation again, skipping the assignee. Opt-in per account. One Lua call each: ``customer_reply-29``,
``expire_unanswered-25`` (the workers' sweep of ``unanswered_due``), ``set_reassign-4``; the shared steps are
``reassign`` / ``reassign_to_waiting`` / ``pick_for_channel`` in ``lua/_common.lua``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog

from schemas.common import utc_iso
from schemas.events import new_event_id
from worker.core.checks import check_ids
from worker.core.keys import AccountKeys, partition_unanswered_due
from worker.core.scripts import Scripts, day_of, hour_of
from worker.core.shared_constants import RELEASE_LEASE_MS
from worker.core.text import text
from worker.errors import InvalidInput

log = structlog.get_logger("helpdesk_rr.reassign")

SWEEP_LIMIT = 200
"""Due timers one sweep handles per partition (the rest are due in the next sweep, a second later)."""
MAX_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What a customer reply did."""

    account_id: str
    ticket_id: str
    outcome: str
    """``reassigned``, ``waiting`` (nobody else available), ``kept``, ``recorded`` or ``duplicate``."""
    agent_id: str | None
    """The assignee now (``reassigned``, ``kept``), else None."""
    reason: str | None
    """Why it waits (``waiting``), else None."""
    previous_agent_id: str | None
    """The away assignee the ticket left (``reassigned``, ``waiting``), else None."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def reassign_keys(keys: AccountKeys, ticket_id: str, now: datetime) -> list[str]:
    """KEYS[1..13] of every reassigning script (``reassign_context`` in ``lua/_common.lua``)."""
    return [
        keys.ticket(ticket_id), keys.settings, keys.online, keys.ready, keys.places, keys.seq, keys.capacity,
        keys.load, keys.counts, keys.stats(day_of(now)), keys.events, keys.partition_events, keys.unanswered_due,
    ]  # fmt: skip


def reassign_args(scripts: Scripts, keys: AccountKeys, ticket_id: str, now: datetime) -> list[object]:
    """ARGV[1..12] of every reassigning script."""
    retention = scripts.retention
    return [
        keys.account_id, ticket_id, _ms(now), utc_iso(now), hour_of(now), new_event_id(), new_event_id(),
        *scripts.stream_args(), scripts.stats_ttl(day_of(now), now), retention.assigned_record_ttl_seconds,
        RELEASE_LEASE_MS,
    ]  # fmt: skip


def customer_reply(
    scripts: Scripts, keys: AccountKeys, ticket_id: str, at: datetime, now: datetime
) -> tuple[ReplyOutcome, bool]:
    """One ``customer_reply`` call. Returns what it did and whether a release must be enqueued."""
    call_keys = reassign_keys(keys, ticket_id, now)
    call_keys += [keys.unassigned, keys.waiting, keys.uq_depth, keys.release_due, keys.release_lease]
    call_keys += [keys.offline_since, keys.users, *keys.channel_block]
    args = [*reassign_args(scripts, keys, ticket_id, now), _ms(at), utc_iso(at)]
    reply = scripts.call("customer_reply", call_keys, args)
    outcome, value, previous = text(reply[0]), text(reply[1]), text(reply[2])
    waiting = outcome == "waiting"
    result = ReplyOutcome(
        keys.account_id,
        ticket_id,
        outcome,
        agent_id=None if waiting or not value else value,
        reason=value if waiting else None,
        previous_agent_id=previous or None,
    )
    return result, int(reply[3]) == 1


def set_reassign(scripts: Scripts, keys: AccountKeys, kind: str, values: tuple[str, str], actor_id: str,
                 now: datetime) -> bool:  # fmt: skip
    """One ``set_reassign`` call (``kind`` 'away' or 'unanswered'). Returns whether anything changed."""
    call_keys = [keys.users, keys.settings, keys.events, keys.partition_events]
    args = [keys.account_id, actor_id, kind, utc_iso(now), new_event_id(), *scripts.stream_args(), *values]
    return int(scripts.call("set_reassign", call_keys, args)[0]) == 1


def expire_unanswered(
    scripts: Scripts, keys: AccountKeys, ticket_id: str, now: datetime, ring: Callable[[str], None] | None = None
) -> tuple[str, str, str]:
    """The sweep's step for one due timer: (outcome, new or kept assignee or '', previous assignee or '').
    ``ring`` enqueues a release when the reassignment gave the previous assignee room for waiting tickets (it
    took the release lease; without ``ring`` the lease lapses and the release sweep starts it)."""
    call_keys = [*reassign_keys(keys, ticket_id, now), *keys.channel_block]
    call_keys += [keys.waiting, keys.release_due, keys.release_lease]
    reply = scripts.call("expire_unanswered", call_keys, reassign_args(scripts, keys, ticket_id, now))
    if int(reply[3]) == 1 and ring is not None:
        ring(keys.account_id)
    return text(reply[0]), text(reply[1]), text(reply[2])


def sweep_unanswered(
    scripts: Scripts,
    keys_of: Callable[[str], AccountKeys],
    partitions: int,
    now: datetime,
    ring: Callable[[str], None] | None = None,
) -> list[tuple[str, str, str]]:
    """Reassign every automatically assigned ticket whose first reply is overdue by ``now``; returns (account,
    ticket, new agent) of each reassignment. One ZRANGEBYSCORE per partition: O(log n) however many timers wait."""
    reassigned = []
    for partition in range(partitions):
        due = scripts.client.zrangebyscore(partition_unanswered_due(partition), "-inf", _ms(now), start=0,
                                           num=SWEEP_LIMIT)  # fmt: skip
        for member in (text(m) for m in due):
            account_id, _, ticket_id = member.partition(" ")
            outcome, agent_id, previous = expire_unanswered(scripts, keys_of(account_id), ticket_id, now, ring)
            if outcome in ("reassigned", "stays"):
                log.info("ticket.unanswered", account_id=account_id, ticket_id=ticket_id, agent_id=agent_id,
                         previous_agent_id=previous or None, reason="no_first_reply", outcome=outcome)  # fmt: skip
            if outcome == "reassigned":
                reassigned.append((account_id, ticket_id, agent_id))
    return reassigned


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


class _Host(Protocol):
    """What the mixin needs from ``Engine``."""

    scripts: Scripts

    def keys(self, account_id: str) -> AccountKeys: ...

    def rang(self, account_id: str, ring: bool) -> None: ...


class ReassignEngine:
    """The engine's reassignment verbs (a mixin of ``worker.core.engine.Engine``)."""

    def customer_reply(self: _Host, account_id: str, ticket_id: str, at: datetime, now: datetime) -> ReplyOutcome:
        """A customer wrote again on ``ticket_id`` at ``at``: reassign it when its assignee is away (reassign-away).
        Raises UnknownTicket (never seen, or its record expired), UnknownAccount."""
        keys = self.keys(account_id)
        check_ids(ticket_id=ticket_id)
        result, ring = customer_reply(self.scripts, keys, ticket_id, at, now)
        self.rang(account_id, ring)
        log.info("ticket.customer_reply", account_id=account_id, ticket_id=ticket_id, outcome=result.outcome,
                 agent_id=result.agent_id, previous_agent_id=result.previous_agent_id,
                 reason="assignee_away" if result.previous_agent_id else result.reason)  # fmt: skip
        return result

    def set_reassign_away(self: _Host, account_id: str, enabled: bool, grace_seconds: int, actor_id: str,
                          now: datetime) -> bool:  # fmt: skip
        """Turn reassign-away on or off, with its grace (whole seconds, 0 to a year). Returns whether it changed."""
        check_ids(actor_id=actor_id)
        if not isinstance(enabled, bool) or not _whole(grace_seconds, 0, MAX_SECONDS):
            raise InvalidInput(f"reassign-away: enabled true/false and a grace of 0 to {MAX_SECONDS} whole seconds "
                               f"(got {enabled!r}, {grace_seconds!r})")  # fmt: skip
        values = ("on" if enabled else "off", str(grace_seconds))
        changed = set_reassign(self.scripts, self.keys(account_id), "away", values, actor_id, now)
        log.info("settings.reassign_away", account_id=account_id, enabled=enabled, grace_seconds=grace_seconds,
                 actor_id=actor_id, changed=changed)  # fmt: skip
        return changed

    def set_reassign_unanswered(self: _Host, account_id: str, after_seconds: int | None, max_times: int,
                                actor_id: str, now: datetime) -> bool:  # fmt: skip
        """Set (``after_seconds`` ≥ 1, ``max_times`` ≥ 1) or turn off (None) reassign-unanswered."""
        check_ids(actor_id=actor_id)
        if after_seconds is not None and not (_whole(after_seconds, 1, MAX_SECONDS) and _whole(max_times, 1, 1000)):
            raise InvalidInput(f"reassign-unanswered: after 1 to {MAX_SECONDS} whole seconds and a max of 1 to 1000 "
                               f"(got {after_seconds!r}, {max_times!r})")  # fmt: skip
        values = ("", "") if after_seconds is None else (str(after_seconds), str(max_times))
        changed = set_reassign(self.scripts, self.keys(account_id), "unanswered", values, actor_id, now)
        log.info("settings.reassign_unanswered", account_id=account_id, after_seconds=after_seconds,
                 max_times=max_times, actor_id=actor_id, changed=changed)  # fmt: skip
        return changed
