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
from worker.core.keys import AccountKeys
from worker.core.script_pipeline import ScriptPipeline
from worker.core.script_sources import SCRIPT_FILES, key_count, script_source, takes_more_keys
from worker.core.text import text
from worker.errors import from_response_error

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


class TicketArgs(NamedTuple):
    ticket_id: str
    channel: str
    created_at_iso: str
    created_at_ms: int


@dataclass
class _Loaded:
    script: Script
    keys: int
    variadic: bool


class BulkBatchReply(NamedTuple):
    assigned: int
    unassigned: int
    unknown: int
    already_done: int
    redis_us: int
    """How long the call ran, by Redis's clock (0 where scripts see a frozen clock)."""
    again: int = 0
    """1: the call cleared stale entries of the job's rotation queue and touched no ticket: send it again."""
    closed: int = 0  # closed tickets skipped (never assigned)

    @classmethod
    def from_reply(cls, reply: list[Any]) -> BulkBatchReply:
        return cls(*(int(value) for value in reply))


class Scripts:
    """The scripts registered on one client (redis-py reloads them after a NOSCRIPT)."""

    def __init__(self, client: redis.Redis, retention: Retention | None = None) -> None:
        self._client = client
        self._retention = retention or Retention()
        self._scripts = {
            name: _Loaded(client.register_script(script_source(name)), key_count(name), takes_more_keys(name))
            for name in SCRIPT_FILES
        }

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

    def call(self, name: str, keys: list[str], args: list[Any]) -> list[Any]:  # for worker/core/lifecycle.py
        return self._call(name, keys, args)

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
        now: datetime,
        enqueued_ms: int | None = None,
        office_hours_unloadable: bool = False,
    ) -> DecideReply:
        day, hour = day_of(now), hour_of(now)
        created = _from_ms(ticket.created_at_ms)
        reply = self._call(
            "decide_ticket",
            [
                keys.settings,
                keys.online,
                keys.places,
                keys.seq,
                keys.unassigned,
                keys.ticket(ticket.ticket_id),
                keys.counts,
                keys.events,
                keys.partition_events,
                keys.stats(day),
                keys.stats_online(day, hour),
                keys.uq_depth,
                keys.metrics,
                keys.users,
                keys.stats(day_of(created)), keys.load,
            ],
            [
                keys.account_id,
                ticket.ticket_id,
                ticket.channel,
                ticket.created_at_iso,
                ticket.created_at_ms,
                now_iso,
                office_hours_version,
                "1" if open_at_arrival else "0",
                available_at_iso,
                event_ids[0],
                event_ids[1],
                *self._stream_args(),
                self._retention.assigned_record_ttl_seconds,
                hour,
                self.stats_ttl(day, now),
                "" if enqueued_ms is None else enqueued_ms,
                int(now.timestamp() * 1000),
                "1" if office_hours_unloadable else "0",
                self._retention.max_waiting_tickets,
                hour_of(created),
                self.stats_ttl(day_of(created), now),
            ],
        )
        return DecideReply(text(reply[0]), text(reply[1]), text(reply[2]), int(reply[3]) == 1, text(reply[4]))

    def set_status(
        self, keys: AccountKeys, user_id: str, status: str, actor_id: str, now: datetime, event_id: str
    ) -> bool:
        """Returns whether the status changed."""
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
            ],
        )
        return int(reply[0]) == 1

    def set_user(self, keys: AccountKeys, user_id: str, role: str, now_iso: str, event_id: str) -> tuple[str, bool]:
        """Returns (previous role or '', whether the user was taken Offline)."""
        reply = self._call(
            "set_user",
            [keys.users, keys.online, keys.events, keys.partition_events, keys.accounts],
            [keys.account_id, user_id, role, now_iso, event_id, *self._stream_args()],
        )
        return text(reply[0]), int(reply[1]) == 1

    def set_round_robin(self, keys: AccountKeys, actor_id: str, value: str, now_iso: str, event_id: str) -> bool:
        """Returns whether the setting changed."""
        reply = self._call(
            "set_round_robin",
            [keys.users, keys.settings, keys.events, keys.partition_events],
            [keys.account_id, actor_id, value, now_iso, event_id, *self._stream_args()],
        )
        return int(reply[0]) == 1

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

    def bulk_assign_call(
        self, keys: AccountKeys, team_id: str, job_id: str, ticket_ids: list[str], first_position: int, now: datetime
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of one bulk_assign batch (for ``bulk_assign`` or a ``pipeline``)."""
        fixed = _bulk_fixed_keys(keys, team_id, job_id, day_of(now))
        args = [
            keys.account_id,
            team_id,
            job_id,
            utc_iso(now),
            *self._stream_args(),
            self._retention.assigned_record_ttl_seconds,
            hour_of(now),
            self.stats_ttl(day_of(now), now),
            first_position,
        ]
        return [*fixed, *keys.tickets(ticket_ids)], args + ticket_ids

    @staticmethod
    def bulk_refresh_tail(members: list[str], keep_seconds: int) -> list[Any]:
        """The ARGV tail of a ``bulk_assign`` call that refreshes ``members`` in the job's rotation queue
        (appended to ``bulk_assign_call``'s arguments; keep slices small, each member costs a few commands)."""
        return [keep_seconds, *members]

    def bulk_assign(
        self,
        keys: AccountKeys,
        team_id: str,
        job_id: str,
        ticket_ids: list[str],
        first_position: int,
        now: datetime,
        members: list[str] | None = None,
        keep_seconds: int = 24 * 3600,
    ) -> BulkBatchReply:
        """One batch of a bulk team assignment (keep batches small: the call blocks Redis), refreshing
        ``members`` in the job's rotation queue first (None: the whole team, read here — small teams only;
        the job passes slices, worker/core/bulk.py)."""
        call_keys, args = self.bulk_assign_call(keys, team_id, job_id, ticket_ids, first_position, now)
        if members is None:
            members = sorted(text(m) for m in self._client.smembers(keys.team(team_id)))
        args += self.bulk_refresh_tail(members, keep_seconds)
        return BulkBatchReply.from_reply(self._call("bulk_assign", call_keys, args))

    def pipeline(self, name: str, routing_key: str, depth: int = 2) -> ScriptPipeline[Any]:
        """Calls of script ``name`` with up to ``depth`` in flight on one connection (worker/core/script_pipeline.py);
        ``routing_key``: any key of the calls (on a cluster, the calls go to the node serving its slot)."""
        return ScriptPipeline(self._client, self._scripts[name].script, routing_key, depth)

    def bulk_finish(
        self, keys: AccountKeys, team_id: str, job_id: str, now: datetime, keep_seconds: int, chunk: int = 50
    ) -> int:
        """Send the job's one-toast-per-agent summary (once), ``chunk`` agents per call. Returns the
        number of toasts sent now (0 when a previous attempt already sent them)."""
        fixed = [keys.bulk_progress(job_id), keys.bulk_done(job_id), keys.events, keys.partition_events]
        head: list[Any] = [keys.account_id, team_id, job_id, utc_iso(now), *self._stream_args(), keep_seconds]
        by_agent: dict[str, list[str]] = {}  # in order of first assignment
        for entry in self._client.lrange(fixed[1], 0, -1):
            agent_id, _, ticket_id = text(entry).partition(" ")
            by_agent.setdefault(agent_id, []).append(ticket_id)
        agents = list(by_agent.items())
        sent = 0
        for start in range(0, max(len(agents), 1), chunk):
            last = start + chunk >= len(agents)
            triples: list[Any] = []
            for agent_id, ticket_ids in agents[start : start + chunk]:
                triples += [agent_id, len(ticket_ids), ",".join(f'"{t}"' for t in ticket_ids)]
            reply = self._call("bulk_finish", fixed, [*head, "1" if last else "0", *triples])
            sent += int(reply[0])
        return sent

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
                [keys.ticket(ticket_id), keys.users, keys.stats(day), keys.metrics],
                [
                    agent_id,
                    utc_iso(replied_at),
                    int(replied_at.timestamp() * 1000),
                    self.stats_ttl(day, now),
                    int(start.timestamp() * 1000),
                    int((start + timedelta(days=1)).timestamp() * 1000),
                ],
            )
            if int(reply[0]) >= 0:
                return int(reply[0]), int(reply[1]) == 1
            day = day_of(_from_ms(int(reply[1])))
        raise RuntimeError(f"ticket {ticket_id}: its created_at keeps changing")  # pragma: no cover


@lru_cache(maxsize=16)
def _bulk_fixed_keys(keys: AccountKeys, team_id: str, job_id: str, day: str) -> tuple[str, ...]:
    """The 15 fixed KEYS of ``bulk_assign``: the same for every batch of a job (built once, not per batch)."""
    return (
        keys.online,
        keys.places,
        keys.seq,
        keys.unassigned,
        keys.counts,
        keys.team(team_id),
        keys.events,
        keys.partition_events,
        keys.bulk_done(job_id),
        keys.bulk_progress(job_id),
        keys.stats(day),
        keys.uq_depth,
        keys.metrics,
        keys.bulk_queue(job_id), keys.load,
    )


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def day_of(moment: datetime) -> str:
    """The UTC day figures are filed under (docs/STATS.md)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def hour_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H")
