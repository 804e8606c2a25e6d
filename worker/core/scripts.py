"""Loads ``lua/*.lua`` once per client and exposes one typed wrapper per script.

Each file is named ``<name>-<number of keys>.lua``; the loader checks every call passes exactly
that many keys, so a wrapper cannot silently drift from its script's header. The text sent to Redis
for a script is, in order: a generated prelude (:func:`lua_prelude`), ``lua/_common.lua``, then the
script, keeping each one a single atomic EVALSHA. The wrappers only turn typed arguments into
KEYS/ARGV and replies into tuples; the decisions around them live in engine.py (and lifecycle.py).
How the text is put together, and why Lua and Python cannot drift: ``script_sources.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import redis
from redis.commands.core import Script
from redis.exceptions import ResponseError

from schemas.common import utc_iso
from worker.config import Retention
from worker.core.bulk_scripts import BulkBatchReply, BulkScripts
from worker.core.keys import AccountKeys, day_of, hour_of
from worker.core.script_sources import SCRIPT_FILES, key_count, script_source, takes_more_keys
from worker.core.shared_constants import RELEASE_LEASE_MS
from worker.core.text import text
from worker.errors import from_response_error

__all__ = ["BulkBatchReply", "DecideReply", "Scripts", "TicketArgs", "day_of", "hour_of"]

TEAM_SLICE = 500
"""Members one ``set_team`` call checks and stores (~1 ms of Redis time); larger teams take several calls."""
EVENT_MEMBERS_MAX = 1_000
"""A team's ``settings.changed`` event lists its members up to this many; beyond, only ``member_count``
(a 10,000-member list would make a 110 KB event; docs/EVENTS.md)."""


class DecideReply(NamedTuple):
    outcome: str
    """'assigned' or 'unassigned'."""
    agent_or_reason: str
    available_at: str
    duplicate: bool
    channel: str
    """The channel the ticket arrived on (the stored one, for a duplicate)."""
    ring: bool = False
    """The caller must enqueue a release of the account's waiting queue (worker/core/release.py)."""


class TicketArgs(NamedTuple):
    ticket_id: str
    channel: str
    created_at_iso: str
    created_at_ms: int


def decide_reply(reply: list[Any]) -> DecideReply:
    """``decide_ticket``'s reply (also each decided ticket's in ``decide_batch``'s)."""
    return DecideReply(
        text(reply[0]), text(reply[1]), text(reply[2]), int(reply[3]) == 1, text(reply[4]), int(reply[5]) == 1
    )


@dataclass
class _Loaded:
    script: Script
    keys: int
    variadic: bool


class Scripts(BulkScripts):
    """The scripts registered on one client (redis-py reloads them after a NOSCRIPT)."""

    def __init__(self, client: redis.Redis, retention: Retention | None = None) -> None:
        self._client = client
        self._retention = retention or Retention()
        self._scripts = {
            name: _Loaded(client.register_script(script_source(name)), key_count(name), takes_more_keys(name))
            for name in SCRIPT_FILES
        }

    @property
    def client(self) -> redis.Redis:
        return self._client

    @property
    def retention(self) -> Retention:
        return self._retention

    def _call(self, name: str, keys: list[str], args: list[Any]) -> list[Any]:
        loaded = self._scripts[name]
        if len(keys) != loaded.keys and not (loaded.variadic and len(keys) >= loaded.keys):
            raise ValueError(f"{name} takes {loaded.keys}{'+' if loaded.variadic else ''} keys, got {len(keys)}")
        try:
            reply: list[Any] = loaded.script(keys=keys, args=args)
        except ResponseError as error:
            raise from_response_error(error) from None
        return reply

    def call(self, name: str, keys: list[str], args: list[Any]) -> list[Any]:  # lifecycle.py, release.py, ...
        return self._call(name, keys, args)

    def loaded_script(self, name: str) -> Script:
        return self._scripts[name].script

    def stream_args(self) -> list[int]:
        """MAXLEN of the account stream and of the partition stream, the pair every emitting script takes."""
        return self._stream_args()

    def stats_ttl(self, day: str, now: datetime) -> int:
        """Seconds the per-day stats keys of ``day`` are kept, seen from ``now``: the retention counted from the
        end of the day they hold, not from their last write, so late writes (a backlog, a replay) do not extend
        it. At most 0 for a day older than the retention (the scripts then file nothing under it). Relative to
        the caller's clock, not Redis's (EXPIRE, not EXPIREAT), like every other time the scripts take."""
        end = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1 + self._retention.stats_retention_days)
        return int((end - now).total_seconds())

    def _stream_args(self) -> list[int]:
        return [self._retention.account_stream_maxlen, self._retention.partition_stream_maxlen]

    def decide_ticket(
        self,
        keys: AccountKeys,
        ticket: TicketArgs,
        *,
        now_iso: str,
        office_hours_version: str,
        open_at_arrival: bool,
        available_at_iso: str,
        event_ids: tuple[str, str],
        available_at_ms: int | None = None,
        now: datetime,
        enqueued_ms: int | None = None,
        office_hours_unloadable: bool = False,
    ) -> DecideReply:
        call_keys, args = self.decide_ticket_call(
            keys,
            ticket,
            now_iso=now_iso,
            office_hours_version=office_hours_version,
            open_at_arrival=open_at_arrival,
            available_at_iso=available_at_iso,
            event_ids=event_ids,
            available_at_ms=available_at_ms,
            now=now,
            enqueued_ms=enqueued_ms,
            office_hours_unloadable=office_hours_unloadable,
        )
        return decide_reply(self._call("decide_ticket", call_keys, args))

    def decide_ticket_call(
        self,
        keys: AccountKeys,
        ticket: TicketArgs,
        *,
        now_iso: str,
        office_hours_version: str,
        open_at_arrival: bool,
        available_at_iso: str,
        event_ids: tuple[str, str],
        available_at_ms: int | None = None,
        now: datetime,
        enqueued_ms: int | None = None,
        office_hours_unloadable: bool = False,
    ) -> tuple[list[str], list[Any]]:
        """The KEYS and ARGV of one ticket's decision (``decide_ticket``; ``decide_batch`` takes them per ticket)."""
        day, hour = day_of(now), hour_of(now)
        created = _from_ms(ticket.created_at_ms)
        call_keys = list(_account_decide_keys(keys, day, hour))
        call_keys[_TICKET_KEY], call_keys[_ARRIVALS_KEY] = keys.ticket(ticket.ticket_id), keys.stats(day_of(created))
        args: list[Any] = [keys.account_id, ticket.ticket_id, ticket.channel, ticket.created_at_iso]
        args += [ticket.created_at_ms, now_iso, office_hours_version, "1" if open_at_arrival else "0"]
        args += [available_at_iso, event_ids[0], event_ids[1], *self._stream_args()]
        args += [self._retention.assigned_record_ttl_seconds, hour, self.stats_ttl(day, now)]
        args += ["" if enqueued_ms is None else enqueued_ms, _ms(now), "1" if office_hours_unloadable else "0"]
        args += [self._retention.max_waiting_tickets, hour_of(created), self.stats_ttl(day_of(created), now)]
        args += ["" if available_at_ms is None else available_at_ms, RELEASE_LEASE_MS]
        return call_keys, args

    def set_status(
        self, keys: AccountKeys, user_id: str, status: str, actor_id: str, now: datetime, event_id: str
    ) -> tuple[bool, bool]:
        """Returns (whether the status changed, whether a release must be enqueued)."""
        reply = self._call(
            "set_status",
            [
                keys.users,
                keys.online,
                keys.places,
                keys.seq,
                keys.events,
                keys.partition_events,
                keys.stats_online(day_of(now), hour_of(now)),
                keys.load,
                keys.capacity,
                keys.ready,
                keys.settings,
                keys.waiting,
                keys.release_due,
                keys.release_lease,
                keys.heartbeats,
                keys.presence_due,
                keys.offline_since,
                *keys.channel_block,
            ],
            [
                keys.account_id,
                user_id,
                status,
                actor_id,
                utc_iso(now),
                event_id,
                *self._stream_args(),
                self.stats_ttl(day_of(now), now),
                _ms(now),
                RELEASE_LEASE_MS,
            ],
        )
        return int(reply[0]) == 1, int(reply[2]) == 1

    def set_user(self, keys: AccountKeys, user_id: str, role: str, now_iso: str, event_id: str) -> tuple[str, bool]:
        """Returns (previous role or '', whether the user was taken Offline)."""
        reply = self._call(
            "set_user",
            [keys.users, keys.online, keys.events, keys.partition_events, keys.accounts, keys.ready, keys.presence_due]
            + [keys.offline_since, *keys.channel_block],
            [keys.account_id, user_id, role, now_iso, event_id, *self._stream_args()]
            + [_ms(datetime.fromisoformat(now_iso))],
        )
        return text(reply[0]), int(reply[1]) == 1

    def set_round_robin(
        self, keys: AccountKeys, actor_id: str, value: str, now: datetime, event_id: str
    ) -> tuple[bool, bool]:
        """Returns (whether the setting changed, whether a release must be enqueued)."""
        reply = self._call(
            "set_round_robin",
            [keys.users, keys.settings, keys.events, keys.partition_events]
            + [keys.waiting, keys.ready, keys.release_due, keys.release_lease, keys.later],
            [keys.account_id, actor_id, value, utc_iso(now), event_id, *self._stream_args(), _ms(now)]
            + [RELEASE_LEASE_MS],
        )
        return int(reply[0]) == 1, int(reply[1]) == 1

    def set_office_hours(
        self, keys: AccountKeys, actor_id: str, hours_json: str, now_iso: str, event_id: str
    ) -> tuple[bool, str]:
        """Returns (whether they changed, the office-hours version now stored)."""
        reply = self._call(
            "set_office_hours",
            [keys.users, keys.settings, keys.events, keys.partition_events],
            [keys.account_id, actor_id, hours_json, now_iso, event_id, *self._stream_args()],
        )
        return int(reply[0]) == 1, text(reply[1])

    def trim_events(self, partition_stream: str, horizon_ms: int) -> tuple[int, str]:
        """Trim one partition stream up to ``horizon_ms`` but never past what a group has not read.
        Returns (entries removed, the MINID used or '')."""
        reply = self._call("trim_events", [partition_stream], [f"{horizon_ms}-0"])
        return int(reply[0]), text(reply[1])

    def set_team(
        self, keys: AccountKeys, team_id: str, members: list[str], actor_id: str, now_iso: str, event_id: str
    ) -> bool:
        """Replace a team's members (sorted, deduplicated, non-empty). Returns whether they changed.

        At most ``TEAM_SLICE`` members per call: a larger team is staged over several calls and swapped
        in by the last (``set_team-7.lua``), so no call grows with the team."""
        call_keys = [
            keys.users,
            keys.teams,
            keys.team(team_id),
            keys.events,
            keys.partition_events,
            keys.team_staging(team_id),
            keys.team_meta(team_id),
        ]
        listed = json.dumps(members) if len(members) <= EVENT_MEMBERS_MAX else ""
        slices = [members[i : i + TEAM_SLICE] for i in range(0, len(members), TEAM_SLICE)] or [[]]
        same = 0
        for n, part in enumerate(slices):
            last = n == len(slices) - 1
            step = "only" if len(slices) == 1 else "first" if n == 0 else "last" if last else "more"
            head = [keys.account_id, team_id, actor_id, now_iso, event_id, *self._stream_args()]
            reply = self._call("set_team", call_keys, [*head, step, len(members), same, listed if last else "", *part])
            same += int(reply[1])
        return int(reply[0]) == 1

    def record_first_reply(
        self, keys: AccountKeys, ticket_id: str, agent_id: str, replied_at: datetime, now: datetime
    ) -> tuple[int, bool]:
        """Returns (TTFR seconds, whether a first reply was already recorded).

        The TTFR is filed under the day the ticket arrived: that day's stats key must be in KEYS, so the
        ticket's ``created_ms`` is read first; the script checks it (a record replaced in between is
        answered with its new ``created_ms`` and the call is made again)."""
        created_ms = self._client.hget(keys.ticket(ticket_id), "created_ms")
        day = day_of(_from_ms(int(created_ms)) if created_ms is not None else now)
        for _ in range(3):
            start = datetime.fromisoformat(day).replace(tzinfo=UTC)
            reply = self._call(
                "record_first_reply",
                [keys.ticket(ticket_id), keys.users, keys.stats(day), keys.metrics, keys.unanswered_due],
                [
                    agent_id,
                    utc_iso(replied_at),
                    int(replied_at.timestamp() * 1000),
                    self.stats_ttl(day, now),
                    int(start.timestamp() * 1000),
                    int((start + timedelta(days=1)).timestamp() * 1000),
                    keys.account_id,
                    ticket_id,
                ],
            )
            if int(reply[0]) >= 0:
                return int(reply[0]), int(reply[1]) == 1
            day = day_of(_from_ms(int(reply[1])))
        raise RuntimeError(f"ticket {ticket_id}: its created_at keeps changing")  # pragma: no cover


_TICKET_KEY, _ARRIVALS_KEY = 5, 14
"""Where ``decide_ticket``'s two per-ticket keys go (KEYS[6] ticket, KEYS[15] arrivals) in the account's list."""


@lru_cache(maxsize=1_024)
def _account_decide_keys(keys: AccountKeys, day: str, hour: str) -> tuple[str, ...]:
    """``decide_ticket``'s 32 KEYS for an account at one hour, with placeholders for the two per-ticket keys: a
    burst decides thousands of one account's tickets an hour, and building 30 key names each time showed up
    as a third of the drain's Python time."""
    head = [keys.settings, keys.online, keys.places, keys.seq, keys.unassigned, "", keys.counts, keys.events]
    head += [keys.partition_events, keys.stats(day), keys.stats_online(day, hour), keys.uq_depth, keys.metrics]
    head += [keys.users, "", keys.load]
    return (*head, *_release_keys(keys), *keys.channel_block)


def _release_keys(keys: AccountKeys) -> list[str]:
    """KEYS 17-23 of ``decide_ticket``: what capacity, the waiting queue's release and the no-first-reply
    timer need."""
    return [
        keys.capacity, keys.ready, keys.waiting, keys.later, keys.release_due, keys.release_lease, keys.unanswered_due,
    ]  # fmt: skip


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
