"""Who gets the next ticket, and every other state change: thin Python around one Lua call each.

The Lua scripts make the decisions atomically; this module validates input, supplies time (always
passed in, never read here), computes the webchat office-hours gate from a per-process cache of
the account's office hours (kept honest by a version the script checks), and logs one line per
decision. Both per-account caches are bounded LRUs (a worker lives for days and sees every account
of its queue); an evicted account is simply loaded again on its next ticket.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import redis
import structlog
from pydantic import ValidationError

from schemas.common import AgentStatus, Channel, Role, utc_iso
from schemas.events import new_event_id
from schemas.inbound import AgentFirstReply, BulkAssignRequest, TicketCreated
from schemas.office_hours import OfficeHours
from worker.config import Retention
from worker.core.capacity import set_auto_assign, set_capacity
from worker.core.channels import canonical, set_agent_channels
from worker.core.checks import check_ids, member_of, team_members
from worker.core.decision import Decision, decision_of
from worker.core.keys import AccountKeys
from worker.core.lifecycle import LifecycleChange, close_or_reopen
from worker.core.lru import LRUCache
from worker.core.office_hours import gate
from worker.core.presence import heartbeat, set_presence_timeout
from worker.core.reassign import ReassignEngine
from worker.core.scripts import DecideReply, Scripts, TicketArgs
from worker.core.text import optional_text
from worker.errors import InvalidInput, StaleOfficeHours, UnknownAccount, WaitingCeiling, validation_summary

log = structlog.get_logger("helpdesk_rr.engine")

_STALE_RETRIES = 5

ACCOUNT_KEYS_CACHE_SIZE = 10_000
"""Accounts whose key names an engine keeps. An entry (``AccountKeys``, the id string, the LRU slot)
is about 0.2 KB, so about 2 MB at the bound; a miss costs only an id check and a crc32 (no Redis),
so the bound is about memory, not speed."""

OFFICE_HOURS_CACHE_SIZE = 1_000
"""Accounts whose parsed office hours an engine keeps (webchat only). A typical entry (one interval a
weekday, no closed dates) is about 7 KB, so about 7 MB at the bound; the largest allowed (48 intervals
on each of 7 days, 1,000 closed dates) is about 310 KB, so even a worst case stays near 310 MB. A miss
costs one HMGET and a parse before the decision call; correctness never depends on a hit, because
``decide_ticket`` checks the version the gate was computed from."""


class StoredOfficeHours(NamedTuple):
    """An account's office hours as this process read them, and the version they were read at."""

    version: str
    hours: OfficeHours | None
    """None: no office hours (always open), or unloadable ones."""
    unloadable: bool = False
    """Stored and active, but this process could not load them: decided as if there were none."""


_NO_OFFICE_HOURS = StoredOfficeHours("", None)


class Engine(ReassignEngine):
    """Decisions for any number of accounts over one Redis client. Safe to share within a process."""

    def __init__(self, client: redis.Redis, retention: Retention | None = None, partitions: int | None = None) -> None:
        self.client = client
        self.scripts = Scripts(client, retention)
        self._partitions = partitions
        self._keys: LRUCache[str, AccountKeys] = LRUCache(ACCOUNT_KEYS_CACHE_SIZE)
        self._office_hours: LRUCache[str, StoredOfficeHours] = LRUCache(OFFICE_HOURS_CACHE_SIZE)
        self.on_release: Callable[[str], None] | None = None
        """Enqueues a release of an account's waiting queue (set by whoever owns a queue: jobs, the API)."""

    @property
    def partitions(self) -> int | None:
        """The deployment's partition count (None: the default), for callers that walk partitions."""
        return self._partitions

    def keys(self, account_id: str) -> AccountKeys:
        """The account's key names; the id is validated on first use, since it becomes part of them."""
        keys = self._keys.get(account_id)
        if keys is None:
            check_ids(account_id=account_id)
            keys = AccountKeys.for_account(account_id, self._partitions)
            self._keys.put(account_id, keys)
        return keys

    # --- tickets -------------------------------------------------------------------------------

    def decide(self, ticket: TicketCreated, now: datetime, enqueued_at: datetime | None = None) -> Decision:
        """Assign ``ticket`` or leave it unassigned with a reason; a repeat returns the first decision.

        ``enqueued_at`` (when the producer enqueued it) feeds the enqueue-to-event latency metric.

        Raises:
            InvalidInput: an id or the channel is not valid (a model built with ``model_copy`` or
                ``model_construct`` skips validation; the ids go into key names and event JSON).
        """
        keys = self.keys(ticket.account_id)
        check_ids(ticket_id=ticket.ticket_id)
        channel = member_of(Channel, ticket.channel, "channel")
        args = TicketArgs(
            ticket.ticket_id,
            channel.value,
            utc_iso(ticket.created_at),
            int(ticket.created_at.timestamp() * 1000),
        )
        try:
            reply = self._decide_call(keys, args, ticket.created_at, now, enqueued_at)
        except (UnknownAccount, WaitingCeiling) as error:  # into RQ's failed registry, with this reason
            log.warning("ticket.refused", account_id=keys.account_id, ticket_id=args.ticket_id, error=str(error))
            raise
        self.rang(keys.account_id, reply.ring)
        return decision_of(ticket.account_id, ticket.ticket_id, reply)

    def _decide_call(
        self, keys: AccountKeys, args: TicketArgs, created_at: datetime, now: datetime, enqueued_at: datetime | None
    ) -> DecideReply:
        """The decision script, with the webchat gate computed from this process's copy of the office
        hours; a stale copy (``RR_STALE_OFFICE_HOURS``) is reloaded and the call made again."""
        now_iso = utc_iso(now)
        event_ids = (new_event_id(), new_event_id())
        for _ in range(_STALE_RETRIES):
            stored, is_open, available_at, next_open = self.webchat_gate(keys.account_id, args.channel, created_at)
            try:
                return self.scripts.decide_ticket(
                    keys,
                    args,
                    now_iso=now_iso,
                    office_hours_version=stored.version,
                    open_at_arrival=is_open,
                    available_at_iso=available_at,
                    event_ids=event_ids,
                    available_at_ms=int(next_open.timestamp() * 1000) if next_open else None,
                    now=now,
                    enqueued_ms=int(enqueued_at.timestamp() * 1000) if enqueued_at else None,
                    office_hours_unloadable=stored.unloadable,
                )
            except StaleOfficeHours:
                self.forget_office_hours(keys.account_id)
        raise StaleOfficeHours("changing faster than this worker can decide")  # pragma: no cover - 5 changes mid-call

    def webchat_gate(
        self, account_id: str, channel: str, created_at: datetime
    ) -> tuple[StoredOfficeHours, bool, str, datetime | None]:
        """(office hours as cached, open at ``created_at``, next opening ISO or '', next opening): always open
        for a channel other than webchat."""
        if channel != Channel.WEBCHAT.value:
            return _NO_OFFICE_HOURS, True, "", None
        stored = self._cached_office_hours(account_id)
        is_open, next_open = gate(stored.hours, created_at)
        return stored, is_open, utc_iso(next_open) if next_open else "", next_open

    def forget_office_hours(self, account_id: str) -> None:
        """The script found the cached copy stale: the next ticket loads them again."""
        self._office_hours.pop(account_id)

    def _cached_office_hours(self, account_id: str) -> StoredOfficeHours:
        """The account's office hours from the LRU, loaded from Redis on a miss (first use, eviction, stale)."""
        cached = self._office_hours.get(account_id)
        if cached is None:
            cached = self.load_office_hours(account_id)
            self._office_hours.put(account_id, cached)
        return cached

    def load_office_hours(self, account_id: str) -> StoredOfficeHours:
        """The office hours as stored in Redis (``hours`` None: none set, or cleared).

        Stored office hours this process cannot load (a zone its ``tzdata`` lacks, a JSON written by
        hand) must not cost the ticket: they count as none (always open), ``unloadable`` is set so the
        decision counts it in the metrics, and ``office_hours.unloadable`` is logged once per load."""
        raw, version, active = self.client.hmget(
            self.keys(account_id).settings, ["office_hours", "office_hours_version", "oh_active"]
        )
        version_text = optional_text(version) or ""
        if not raw or active not in (b"1", "1"):
            return StoredOfficeHours(version_text, None)
        try:
            return StoredOfficeHours(version_text, OfficeHours.model_validate_json(raw))
        except (ValueError, KeyError, OSError) as error:  # ValidationError; a zone that fails to load
            reason = validation_summary(error) if isinstance(error, ValidationError) else repr(error)
            log.warning("office_hours.unloadable", account_id=account_id, version=version_text, error=reason)
            return StoredOfficeHours(version_text, None, unloadable=True)

    # --- users, status, settings -----------------------------------------------------------------

    def upsert_user(self, account_id: str, user_id: str, role: Role, now: datetime) -> tuple[Role | None, bool]:
        """Create or update a user. Returns (previous role, whether a demotion took them Offline)."""
        check_ids(user_id=user_id)
        role = member_of(Role, role, "role")
        previous, went_offline = self.scripts.set_user(
            self.keys(account_id), user_id, role.value, utc_iso(now), new_event_id()
        )
        log.info("user.saved", account_id=account_id, user_id=user_id, role=role.value, went_offline=went_offline)
        return (Role(previous) if previous else None), went_offline

    def set_status(self, account_id: str, user_id: str, status: AgentStatus, actor_id: str, now: datetime) -> bool:
        """Set Online/Offline under the role rules. Returns whether anything changed."""
        check_ids(user_id=user_id, actor_id=actor_id)
        status = member_of(AgentStatus, status, "status")
        changed, ring = self.scripts.set_status(
            self.keys(account_id), user_id, status.value, actor_id, now, new_event_id()
        )
        self.rang(account_id, ring)
        log.info(
            "agent.status",
            account_id=account_id,
            user_id=user_id,
            status=status.value,
            actor_id=actor_id,
            changed=changed,
        )
        return changed

    def set_round_robin(self, account_id: str, enabled: bool, actor_id: str, now: datetime) -> bool:
        check_ids(actor_id=actor_id)
        value = "on" if enabled else "off"
        changed, ring = self.scripts.set_round_robin(self.keys(account_id), actor_id, value, now, new_event_id())
        log.info("settings.round_robin", account_id=account_id, round_robin=value, actor_id=actor_id, changed=changed)
        self.rang(account_id, ring)
        return changed

    def set_capacity(
        self, account_id: str, capacity: int | None, actor_id: str, now: datetime, agent_id: str | None = None
    ) -> bool:
        """Set or clear (None) the account's capacity, or ``agent_id``'s override. Returns whether it changed."""
        check_ids(actor_id=actor_id, **({"agent_id": agent_id} if agent_id else {}))
        if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
            raise InvalidInput(f"capacity must be a whole number of at least 1 (got {capacity!r})")
        changed, ring = set_capacity(self.scripts, self.keys(account_id), capacity, agent_id, actor_id, now)
        log.info("settings.capacity", account_id=account_id, agent_id=agent_id, capacity=capacity, changed=changed)
        self.rang(account_id, ring)
        return changed

    def set_auto_assign(self, account_id: str, enabled: bool, actor_id: str, now: datetime) -> bool:
        check_ids(actor_id=actor_id)
        changed, ring = set_auto_assign(self.scripts, self.keys(account_id), enabled, actor_id, now)
        log.info("settings.auto_assign", account_id=account_id, auto_assign=enabled, actor_id=actor_id, changed=changed)
        self.rang(account_id, ring)
        return changed

    def set_agent_channels(
        self, account_id: str, agent_id: str, channels: Sequence[Channel | str] | None, actor_id: str, now: datetime
    ) -> bool:
        """Restrict ``agent_id`` to ``channels`` (None: every channel again). Returns whether it changed."""
        check_ids(actor_id=actor_id, agent_id=agent_id)
        chosen = canonical(channels)
        changed, ring = set_agent_channels(self.scripts, self.keys(account_id), agent_id, chosen, actor_id, now)
        log.info("settings.agent_channels", account_id=account_id, agent_id=agent_id, channels=chosen, changed=changed)
        self.rang(account_id, ring)
        return changed

    def heartbeat(self, account_id: str, user_id: str, now: datetime) -> bool:
        """Record that ``user_id``'s app is open. Returns whether they are Online (never sets them Online)."""
        check_ids(user_id=user_id)
        return heartbeat(self.scripts, self.keys(account_id), user_id, now)

    def set_presence_timeout(self, account_id: str, seconds: int | None, actor_id: str, now: datetime) -> bool:
        """Set (whole seconds ≥ 1) or clear (None) the account's presence timeout. Returns whether it changed."""
        check_ids(actor_id=actor_id)
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1):
            raise InvalidInput(f"the presence timeout must be a whole number of seconds, at least 1 (got {seconds!r})")
        changed = set_presence_timeout(self.scripts, self.keys(account_id), seconds, actor_id, now)
        log.info("settings.presence", account_id=account_id, seconds=seconds, actor_id=actor_id, changed=changed)
        return changed

    def rang(self, account_id: str, ring: bool) -> None:
        """A script took the account's release lease: hand the release to ``on_release`` (enqueue it). Without
        one, or if it fails, the lease lapses and the workers' sweep starts the release (worker/core/release.py)."""
        if not ring:
            return
        if self.on_release is None:
            log.info("release.unrung", account_id=account_id, reason="no enqueuer: the sweep starts it")
            return
        try:
            self.on_release(account_id)
        except Exception as error:  # the sweep retries once the lease lapses
            log.warning("release.enqueue_failed", account_id=account_id, error=repr(error))

    def set_office_hours(self, account_id: str, hours: OfficeHours | None, actor_id: str, now: datetime) -> bool:
        """Replace the office hours (``None`` clears them: always open)."""
        check_ids(actor_id=actor_id)
        hours_json = ""
        if hours is not None:  # validated again: model_copy/model_construct skip validation
            hours_json = hours.model_dump_json()
            try:
                hours = OfficeHours.model_validate_json(hours_json)
            except ValidationError as error:
                raise InvalidInput(f"office hours: {validation_summary(error)}") from None
        changed, version = self.scripts.set_office_hours(
            self.keys(account_id), actor_id, hours_json, utc_iso(now), new_event_id()
        )
        self._office_hours.put(account_id, StoredOfficeHours(version, hours))
        log.info("settings.office_hours", account_id=account_id, actor_id=actor_id, changed=changed, version=version)
        return changed

    def record_first_reply(self, reply: AgentFirstReply, now: datetime) -> tuple[int, bool]:
        """Record an agent's first reply (TTFR); returns (seconds, whether it was already recorded)."""
        check_ids(ticket_id=reply.ticket_id, agent_id=reply.agent_id)
        ttfr, duplicate = self.scripts.record_first_reply(
            self.keys(reply.account_id), reply.ticket_id, reply.agent_id, reply.replied_at, now
        )
        log.info(
            "ticket.first_reply",
            account_id=reply.account_id,
            ticket_id=reply.ticket_id,
            agent_id=reply.agent_id,
            ttfr_seconds=ttfr,
            duplicate=duplicate,
        )
        return ttfr, duplicate

    def close_ticket(
        self, account_id: str, ticket_id: str, now: datetime, at: datetime | None = None
    ) -> LifecycleChange:
        """Close a ticket (idempotent; a close before its ticket is kept). Raises UnknownAccount.
        ``at``: when it was closed (the event's time); the figures go by ``now``."""
        keys = self.keys(account_id)
        check_ids(ticket_id=ticket_id)
        return close_or_reopen(self.scripts, keys, ticket_id, "close", now, at, self.rang)

    def reopen_ticket(
        self, account_id: str, ticket_id: str, now: datetime, at: datetime | None = None
    ) -> LifecycleChange:
        """Reopen a closed ticket (idempotent). Raises UnknownAccount. ``at`` as for ``close_ticket``."""
        keys = self.keys(account_id)
        check_ids(ticket_id=ticket_id)
        return close_or_reopen(self.scripts, keys, ticket_id, "reopen", now, at, self.rang)

    def set_team(self, account_id: str, team_id: str, members: list[str], actor_id: str, now: datetime) -> bool:
        """Set a team's members (owner, admin, manager). Returns whether the team changed."""
        check_ids(team_id=team_id, actor_id=actor_id)
        unique = team_members(members)
        changed = self.scripts.set_team(self.keys(account_id), team_id, unique, actor_id, utc_iso(now), new_event_id())
        shown = unique if len(unique) <= 20 else [*unique[:20], f"... {len(unique) - 20} more"]
        log.info(
            "team.saved",
            account_id=account_id,
            team_id=team_id,
            members=shown,
            member_count=len(unique),
            actor_id=actor_id,
            changed=changed,
        )
        return changed


    def check_bulk_request(self, request: BulkAssignRequest) -> None:
        """Re-check a bulk request's ids before they reach Lua (worker/core/bulk.py calls it first)."""
        self.keys(request.account_id)
        check_ids(team_id=request.team_id, actor_id=request.actor_id)
        for n, ticket_id in enumerate(request.ticket_ids or ()):
            check_ids(**{f"ticket_ids[{n}]": ticket_id})


def utc_now() -> datetime:
    """The wall clock, for entry points only (jobs, CLI); logic takes time as an argument."""
    return datetime.now(UTC)
