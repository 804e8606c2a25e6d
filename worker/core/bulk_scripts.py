"""The bulk team-assign job's script calls (``bulk_assign``, ``bulk_finish``), mixed into ``Scripts``.

Kept apart from worker/core/scripts.py only for size: the job's calls are many per run (pipelined, sized
by measured duration: worker/core/bulk.py) and their keys are built once per job.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import redis

from schemas.common import utc_iso
from worker.core.keys import AccountKeys, day_of, hour_of
from worker.core.script_pipeline import ScriptPipeline
from worker.core.text import text

if TYPE_CHECKING:
    from redis.commands.core import Script

    from worker.config import Retention


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


class _Host(Protocol):
    """What the mixin needs from ``Scripts``."""

    _client: redis.Redis
    _retention: Retention

    def _call(self, name: str, keys: list[str], args: list[Any]) -> list[Any]: ...

    def _stream_args(self) -> list[int]: ...

    def stats_ttl(self, day: str, now: datetime) -> int: ...

    def loaded_script(self, name: str) -> Script: ...

    def bulk_assign_call(
        self, keys: AccountKeys, team_id: str, job_id: str, ticket_ids: list[str], first_position: int, now: datetime
    ) -> tuple[list[str], list[Any]]: ...


class BulkScripts:
    """The bulk calls, on a host (``Scripts``) with the loaded scripts, the client and the retention."""

    def bulk_assign_call(
        self: _Host,
        keys: AccountKeys,
        team_id: str,
        job_id: str,
        ticket_ids: list[str],
        first_position: int,
        now: datetime,
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
        self: _Host,
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
        args += BulkScripts.bulk_refresh_tail(members, keep_seconds)
        return BulkBatchReply.from_reply(self._call("bulk_assign", call_keys, args))

    def pipeline(
        self: _Host, name: str, routing_key: str, depth: int = 2) -> ScriptPipeline[Any]:
        """Calls of script ``name`` with up to ``depth`` in flight on one connection (worker/core/script_pipeline.py);
        ``routing_key``: any key of the calls (on a cluster, the calls go to the node serving its slot)."""
        return ScriptPipeline(self._client, self.loaded_script(name), routing_key, depth)

    def bulk_finish(
        self: _Host, keys: AccountKeys, team_id: str, job_id: str, now: datetime, keep_seconds: int, chunk: int = 50
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


@lru_cache(maxsize=16)
def _bulk_fixed_keys(keys: AccountKeys, team_id: str, job_id: str, day: str) -> tuple[str, ...]:
    """The 28 fixed KEYS of ``bulk_assign``: the same for every batch of a job (built once, not per batch)."""
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
        keys.bulk_queue(job_id),
        keys.load,
        keys.capacity,
        keys.ready,
        keys.waiting,
        keys.later,
        *keys.channel_block,
    )


