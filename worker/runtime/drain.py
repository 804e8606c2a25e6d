"""The burst intake's drain job: decide a lane's pending tickets in batches, one Lua call per batch.

A drain takes the lane's lease (``take_lane``: one drain decides a lane at a time, so an account's tickets are
decided in the order they were pushed), reads a batch from the head of the pending list, decides it
(worker/core/decide_many.py: one ``decide_batch`` call per partition the batch spans, one with the default
lanes and partitions), sets aside what cannot be decided (worker/runtime/dead_letter.py), then confirms the
batch and takes the next in one more call. Crash-safe without a second copy of anything: a batch is dropped
from the list only after it was decided, and deciding a ticket again changes nothing, so a drain killed at
any point leaves its tickets pending for the next drain (rung by a producer, or by the workers' sweep once
its lease lapsed). It gives the lane up when the list is empty (atomically: a push after that rings a new
drain), or after ``DRAIN_BUDGET_SECONDS`` (handing the lane to a new job, so a lane that never empties
cannot starve RQ's other jobs or outlive the job timeout). Batches are sized from the measured duration of
the last call (about ``BATCH_TARGET_MS`` each), as the bulk job does: Redis is never held long.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
import structlog
from pydantic import ValidationError
from redis.commands.core import Script
from redis.exceptions import ResponseError

from producers.lanes import BELL_TTL_MS, LANES, LaneKeys, enqueue_drains, new_drain_job_id
from schemas.inbound import TicketCreated
from schemas.plain import shown
from worker.core.decide_many import Arrival, Refusal, decide_many
from worker.core.decision import Decision
from worker.core.engine import Engine, utc_now
from worker.core.script_sources import script_source
from worker.core.text import text
from worker.errors import HelpdeskError, StaleOfficeHours, validation_summary
from worker.runtime.dead_letter import DeadEntry, dead_letter

log = structlog.get_logger("helpdesk_rr.drain")

DRAIN_BUDGET_SECONDS = 5.0
LEASE_MS = 15_000
"""The lease a drain renews with every batch; a killed drain's lane is taken again after it lapses."""
FIRST_BATCH, MIN_BATCH, MAX_BATCH = 32, 4, 500
BATCH_TARGET_MS = 2.0
"""Each ``decide_batch`` round trip aims at about this long (a decision is ~25-60 µs of Redis time): under
issue 18's ~5 ms bound for any Redis call, with room for a Redis descheduled on shared cores
(bench/PERFORMANCE_burst.md)."""

_take_scripts: dict[int, Script] = {}


def take_script(connection: redis.Redis) -> Script:
    """``take_lane`` registered on the queue connection (once per client; redis-py reloads it after NOSCRIPT)."""
    script = _take_scripts.get(id(connection))
    if script is None or script.registered_client is not connection:
        script = _take_scripts[id(connection)] = connection.register_script(script_source("take_lane"))
    return script


@dataclass
class DrainResult:
    """What one drain job did (its RQ result)."""

    lane: int
    decided: int = 0
    set_aside: int = 0
    batches: int = 0
    longest_call_ms: float = 0.0
    ended: str = ""
    """How it ended: ``empty`` (gave the lane up), ``busy`` (another drain held it), ``handed``/``rang``
    (budget spent: the lane passed on), ``lost`` (its lease lapsed under it; the next drain goes on)."""
    dead_letter_ids: list[str] = field(default_factory=list)


def _parse(raw: Any, now: datetime) -> Arrival | DeadEntry:
    """One lane entry as a ticket to decide, or as an entry to set aside with why (validated again: a lane
    entry may have bypassed producers)."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return DeadEntry(text(raw), f"InvalidJob: lane entry is not JSON (got {shown(text(raw))})")
    payload = entry.get("ticket") if isinstance(entry, dict) else None
    if not isinstance(payload, dict):
        return DeadEntry(entry, f"InvalidJob: lane entry has no ticket object (got {shown(entry)})")
    enqueued_ms = entry.get("enqueued_ms")
    try:
        ticket = TicketCreated.model_validate(payload, context={"now": now})
    except ValidationError as error:
        account, ticket_id = payload.get("account_id"), payload.get("ticket_id")
        reason = f"InvalidJob: invalid ticket.created event: {validation_summary(error)}"
        return DeadEntry(
            payload,
            reason,
            account if isinstance(account, str) else None,
            ticket_id if isinstance(ticket_id, str) else None,
        )
    return Arrival(ticket, enqueued_ms if isinstance(enqueued_ms, int) and enqueued_ms > 0 else None)


class LaneDrain:
    """One drain of one lane: ``run()`` once. ``engine`` decides on the state Redis, ``queue`` holds the lane."""

    def __init__(
        self,
        engine: Engine,
        queue: redis.Redis,
        lane: int,
        *,
        budget_seconds: float = DRAIN_BUDGET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= lane < LANES:
            raise ValueError(f"lane must be 0..{LANES - 1}, got {lane}")
        self.engine, self.queue, self.keys = engine, queue, LaneKeys(lane)
        self.token = uuid.uuid4().hex
        self.budget, self.clock = budget_seconds, clock
        self.size = FIRST_BATCH
        self.result = DrainResult(lane)

    def _take(self, mode: str, done: int, next_job: str = "") -> list[Any]:
        keys = [self.keys.pending, self.keys.bell, self.keys.lease]
        args: list[str | int] = [mode, self.token, done, self.size, LEASE_MS, BELL_TTL_MS, next_job]
        reply: list[Any] = take_script(self.queue)(keys=keys, args=args)
        return reply

    def run(self) -> DrainResult:
        started = self.clock()
        reply = self._take("start", 0)
        while text(reply[0]) == "batch":
            entries = reply[1:]
            self._decide(entries)
            if self.clock() - started >= self.budget:
                successor = new_drain_job_id()
                reply = self._take("handoff", len(entries), successor)
                if text(reply[0]) == "rang":
                    enqueue_drains({self.result.lane: successor}, self.queue)
                break
            reply = self._take("next", len(entries))
        self.result.ended = text(reply[0])
        log.info(
            "lane.drained",
            lane=self.result.lane,
            decided=self.result.decided,
            set_aside=self.result.set_aside,
            batches=self.result.batches,
            longest_call_ms=round(self.result.longest_call_ms, 2),
            ended=self.result.ended,
        )
        return self.result

    def _decide(self, entries: list[Any]) -> None:
        """Decide one batch: each partition's tickets in one call, in lane order; set aside the rest."""
        now = utc_now()
        by_partition: dict[int, list[Arrival]] = {}
        dead: list[DeadEntry] = []
        for raw in entries:
            parsed = _parse(raw, now)
            if isinstance(parsed, DeadEntry):
                dead.append(parsed)
                continue
            by_partition.setdefault(self.engine.keys(parsed.ticket.account_id).partition, []).append(parsed)
        for arrivals in by_partition.values():
            for arrival, outcome in zip(arrivals, self._decide_group(arrivals, now), strict=True):
                if isinstance(outcome, Decision):
                    self.result.decided += 1
                else:
                    dead.append(_set_aside(arrival, outcome))
        if dead:
            self.result.dead_letter_ids += dead_letter(self.queue, dead)
            self.result.set_aside += len(dead)
            for entry in dead:
                log.warning(
                    "ticket.set_aside", account_id=entry.account_id, ticket_id=entry.ticket_id, reason=entry.reason
                )

    def _decide_group(self, arrivals: list[Arrival], now: datetime) -> list[Decision | Refusal | Exception]:
        """One call for the group; if it fails in a way that retrying cannot fix (a ticket whose state is
        corrupt makes the script fail: ``WRONGTYPE``, a Lua error), each ticket alone, in order, so the one at
        fault is set aside with its error and the others are decided (those the failed call decided before
        failing are found decided: a script's writes before an error stay). Transient errors propagate: the job
        is retried and the batch is still pending."""
        calls: list[float] = []
        try:
            outcomes: list[Decision | Refusal | Exception] = list(decide_many(self.engine, arrivals, now, calls))
        except Exception as error:
            if not is_poison(error):
                raise
            log.warning("lane.batch_failed", lane=self.result.lane, tickets=len(arrivals), error=str(error))
            return [self._decide_alone(arrival, now) for arrival in arrivals]
        self._measured(len(arrivals), max(calls))
        return outcomes

    def _decide_alone(self, arrival: Arrival, now: datetime) -> Decision | Refusal | Exception:
        try:
            return decide_many(self.engine, [arrival], now)[0]
        except Exception as error:
            if not is_poison(error):
                raise
            return error

    def _measured(self, count: int, call_ms: float) -> None:
        """The next batch's size from this call's duration: at most doubling, shrinking at once."""
        self.result.batches += 1
        self.result.longest_call_ms = max(self.result.longest_call_ms, call_ms)
        if count < self.size or call_ms <= 0:  # a short batch measures the list, not the call
            return
        wanted = int(count * BATCH_TARGET_MS / call_ms)
        self.size = max(MIN_BATCH, min(MAX_BATCH, 2 * self.size, wanted))


def is_poison(error: Exception) -> bool:
    """An error that deciding the same ticket again would raise again: the script failed on the ticket's own
    state (``WRONGTYPE``, a Lua runtime error) or the engine refused its input. Connection trouble, a
    failover (``READONLY``, ``MOVED``, ``TRYAGAIN``, ``CLUSTERDOWN``), ``OOM`` or office hours changing
    faster than a batch are not: the job is retried."""
    if isinstance(error, HelpdeskError):
        return not isinstance(error, StaleOfficeHours)
    if isinstance(error, ResponseError):
        message = str(error)
        return not message.startswith("BUSY") and (
            message.startswith(("WRONGTYPE", "Error running script")) or "user_script" in message
        )
    return isinstance(error, ValueError)


def _set_aside(arrival: Arrival, outcome: Refusal | Exception) -> DeadEntry:
    payload = arrival.ticket.model_dump(mode="json")
    ticket = arrival.ticket
    reason = outcome.reason if isinstance(outcome, Refusal) else f"{type(outcome).__name__}: {outcome}"
    return DeadEntry(payload, reason, ticket.account_id, ticket.ticket_id)


def ring_stranded_lanes(queue: redis.Redis) -> list[int]:
    """The sweep's part (every second, every worker): a lane with tickets, no drain holding it and no bell
    (a drain killed and its lease lapsed, a producer that died before enqueueing the job) is rung again."""
    pipe = queue.pipeline(transaction=False)
    for lane in range(LANES):
        keys = LaneKeys(lane)
        pipe.llen(keys.pending)
        pipe.exists(keys.lease, keys.bell)
    replies = pipe.execute()
    stranded = [lane for lane in range(LANES) if replies[2 * lane] > 0 and replies[2 * lane + 1] == 0]
    offered = {lane: new_drain_job_id() for lane in stranded}
    rung = [lane for lane in stranded if queue.set(LaneKeys(lane).bell, offered[lane], nx=True, px=BELL_TTL_MS)]
    if rung:
        enqueue_drains({lane: offered[lane] for lane in rung}, queue)
        log.info("lanes.rung", lanes=rung, reason="stranded: tickets pending, no drain, no bell")
    return rung
