"""Follow every account's events through a consumer group on the partition streams (docs/CONSUMERS.md).

This is the library the toast service (or any cross-account consumer) uses: it reads all partition
streams ``{rr:pNN}:events`` with one ``XREADGROUP``, hands each parsed event to a handler, and
acknowledges it afterwards, so delivery is **at least once** — handlers must be idempotent (dedupe
on the event's unique ``id``). Entries a dead consumer left pending are taken over with
``XAUTOCLAIM`` (Redis >= 6.2) once they have been idle for ``claim_idle_ms``.

Acknowledging matters beyond this consumer: the workers trim a partition stream only up to what
every group has read *and* acknowledged (``trim_events-1.lua``), so an entry that is never acked
holds the whole stream back. That is why an unparseable ("poison") entry is acknowledged and logged
as dead-lettered after a few deliveries instead of being retried forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import redis
import structlog
from pydantic import ValidationError
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from schemas.events import Event, parse_event
from worker.core.keys import DEFAULT_PARTITIONS, partition_stream
from worker.core.text import text
from worker.errors import validation_summary

log = structlog.get_logger("helpdesk_rr.consumer")

Handler = Callable[[Event], object]
"""What ``run`` calls for each event. Raising leaves the entry pending so it is redelivered later."""

DEFAULT_BLOCK_MS = 5000
"""Below the shared client's 30 s socket timeout (producers/connection.py), so a quiet stream never
looks like a dead connection; also bounds how long ``run`` takes to notice its stop event."""
DEFAULT_BATCH = 100
DEFAULT_CLAIM_IDLE_MS = 60_000
"""Long enough that a slow-but-alive consumer is not robbed of its work (which would only duplicate
it), short enough that a crashed consumer's toasts are shown within about a minute."""
DEFAULT_MAX_DELIVERIES = 5
DEAD_LETTER_DATA_CHARS = 2000
"""How much of a poison entry's data goes into the dead-letter log line."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stream entry handed to this consumer.

    Exactly one of ``event`` and ``error`` is set. An entry that does not parse is still delivered
    (with the error) rather than raised, so one bad entry cannot stop the consumer from reading the
    entries behind it, and so it can be acknowledged (dead-lettered) by entry id.
    """

    stream: str
    """The partition stream the entry is on (needed to acknowledge it)."""
    entry_id: str
    account_id: str | None
    """From the entry's ``account_id`` field (routing without parsing); None if it has none."""
    event: Event | None
    error: str | None
    data: str
    """The raw event JSON, kept for the dead-letter log."""

    @classmethod
    def from_entry(cls, stream: str, entry_id: Any, fields: dict[Any, Any]) -> Delivery:
        decoded = {text(k): text(v) for k, v in fields.items()}
        data = decoded.get("data", "")
        event: Event | None = None
        error: str | None = None
        try:
            event = parse_event(data)
        except ValidationError as exc:
            error = f"unreadable event: {validation_summary(exc)}"
        account_id = decoded.get("account_id") or (event.account_id if event is not None else None)
        return cls(text(stream), text(entry_id), account_id, event, error, data)


class EventConsumer:
    """One named consumer of a consumer group over the partition streams.

    Args:
        client: a redis-py client (bytes or ``decode_responses``); give it a ``socket_timeout``
            above ``block_ms``.
        group: the consumer group; each group gets every event once (the toast service is one group,
            an analytics feed would be another).
        consumer: this process's name inside the group; entries it reads stay attributed to it until
            acknowledged. Keep it stable across restarts of the same instance (e.g. the pod name).
        partitions: the partition count (default ``HELPDESK_RR_PARTITIONS``); must match the workers'.
        only: read just these partition numbers (default: all). Splitting the partitions among a
            group's consumers keeps each account's events on one consumer, hence in order.
        block_ms: how long ``poll`` waits for new entries; None returns at once (drain, then stop).
        batch: entries read (and claimed) per stream per call.
        claim_idle_ms: pending entries idle longer than this are taken over by ``claim_stale``.
        max_deliveries: deliveries after which an unparseable entry is dead-lettered (acked, logged).
    """

    def __init__(
        self,
        client: redis.Redis,
        group: str,
        consumer: str,
        partitions: int | None = None,
        *,
        only: Collection[int] | None = None,
        block_ms: int | None = DEFAULT_BLOCK_MS,
        batch: int = DEFAULT_BATCH,
        claim_idle_ms: int = DEFAULT_CLAIM_IDLE_MS,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
    ) -> None:
        if not group or not consumer:
            raise ValueError("a consumer needs a group and a consumer name")
        if block_ms is not None and block_ms <= 0:
            # BLOCK 0 means "forever" to Redis: run() could then never see its stop event.
            raise ValueError("block_ms must be positive (or None for no blocking)")
        if batch < 1 or claim_idle_ms < 0 or max_deliveries < 1:
            raise ValueError("batch and max_deliveries must be >= 1, claim_idle_ms >= 0")
        count = partitions or DEFAULT_PARTITIONS
        numbers = sorted(set(only)) if only is not None else list(range(count))
        if not numbers or any(not 0 <= p < count for p in numbers):
            raise ValueError(f"only must name partitions between 0 and {count - 1}")
        self.client = client
        self.group = group
        self.consumer = consumer
        self.streams: list[str] = [partition_stream(p) for p in numbers]
        self.block_ms = block_ms
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self._claim_cursor: dict[str, str] = dict.fromkeys(self.streams, "0-0")

    def ensure_groups(self, start: Literal["$", "0"] = "$") -> None:
        """Create the group on every stream (and the stream itself if no event was written yet).

        ``start`` only matters when the group is new: ``$`` = events from now on (a toast service
        does not want yesterday's toasts), ``0`` = everything still retained. An existing group keeps
        its position (BUSYGROUP is ignored), so calling this on every start is safe.
        """
        pipe = self.client.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xgroup_create(stream, self.group, id=start, mkstream=True)
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, ResponseError) and "BUSYGROUP" not in str(reply):
                raise reply

    def poll(self) -> list[Delivery]:
        """One ``XREADGROUP`` of new entries (``>``) over all streams, waiting up to ``block_ms``.

        Entries of one stream come in stream order, so one account's events come in order. If a
        group is missing (the stream key was deleted, e.g. FLUSHDB), the groups are recreated from
        ``0`` so that whatever is written from then on is not skipped.
        """
        try:
            reply: Any = self._read_new()
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            log.warning("consumer.group_recreated", group=self.group, error=str(error))
            self.ensure_groups("0")
            return []
        if isinstance(reply, dict):  # RESP3 client: {stream: [[(id, fields), ...]]}
            items = [(stream, wrapped[0] if wrapped else []) for stream, wrapped in reply.items()]
        else:  # RESP2: [[stream, [(id, fields), ...]], ...]
            items = reply or []
        deliveries = []
        for stream, entries in items:
            for entry_id, fields in entries:
                if fields is not None:
                    deliveries.append(Delivery.from_entry(text(stream), entry_id, fields))
        return deliveries

    def _read_new(self) -> Any:
        if not isinstance(self.client, RedisCluster):
            return self.client.xreadgroup(
                self.group, self.consumer, dict.fromkeys(self.streams, ">"), count=self.batch, block=self.block_ms
            )
        # On Redis Cluster one XREADGROUP cannot span hash slots (each partition stream has its own):
        # read each stream without blocking, and wait only when all were empty.
        merged: list[Any] = []
        for stream in self.streams:
            part = self.client.xreadgroup(self.group, self.consumer, {stream: ">"}, count=self.batch)
            merged.extend(part.items() if isinstance(part, dict) else (part or []))
        if not merged and self.block_ms:
            time.sleep(min(self.block_ms, 200) / 1000)
        return merged

    def ack(self, deliveries: Iterable[Delivery]) -> int:
        """Acknowledge entries (one round trip): they leave the group's pending list and become
        trimmable. Returns how many were still pending (already-acked ones count 0)."""
        by_stream: dict[str, list[str]] = {}
        for delivery in deliveries:
            by_stream.setdefault(delivery.stream, []).append(delivery.entry_id)
        if not by_stream:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for stream, entry_ids in by_stream.items():
            pipe.xack(stream, self.group, *entry_ids)
        return sum(int(n) for n in pipe.execute())

    def claim_stale(self) -> list[Delivery]:
        """Take over entries pending longer than ``claim_idle_ms`` in this group, whoever holds them.

        That covers a dead consumer's entries and this consumer's own failed ones (a handler raised),
        which is how both get redelivered. One ``XAUTOCLAIM`` per stream in one round trip; each
        stream's scan cursor is kept between calls so a long pending list is walked, not rescanned.
        Claiming increments the entry's delivery count (what poison detection counts).
        """
        pipe = self.client.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xautoclaim(
                stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=self._claim_cursor[stream],
                count=self.batch,
            )
        deliveries = []
        for stream, reply in zip(self.streams, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(reply, ResponseError):
                if "NOGROUP" in str(reply):
                    continue  # poll() recreates the group; nothing can be pending in a new one
                raise reply
            self._claim_cursor[stream] = text(reply[0])
            for entry_id, fields in reply[1]:
                # Redis 6.2 returns entries deleted (trimmed) while pending as nil: nothing to deliver.
                if entry_id is not None and fields is not None:
                    deliveries.append(Delivery.from_entry(stream, entry_id, fields))
        return deliveries

    def delivery_count(self, delivery: Delivery) -> int:
        """How many times the group has delivered this entry (XPENDING); 0 if it is not pending."""
        rows: Any = self.client.xpending_range(
            delivery.stream, self.group, min=delivery.entry_id, max=delivery.entry_id, count=1
        )
        return int(rows[0]["times_delivered"]) if rows else 0

    def handle(self, deliveries: list[Delivery], handler: Handler) -> int:
        """Call ``handler`` for each parsed event, then acknowledge the ones it did not raise on.

        A handler exception is logged and the entry stays pending: ``claim_stale`` redelivers it
        after ``claim_idle_ms`` (a downstream outage must not lose toasts). An unparseable entry is
        left pending until it has been delivered ``max_deliveries`` times — during a rolling
        upgrade a newer consumer of the group may understand a new event type — then acknowledged
        and logged as ``consumer.dead_lettered`` so it stops holding back retention.
        Returns the number of entries acknowledged.
        """
        done: list[Delivery] = []
        for delivery in deliveries:
            where = {"stream": delivery.stream, "entry_id": delivery.entry_id, "account_id": delivery.account_id}
            if delivery.event is None:
                times = self.delivery_count(delivery)
                if times >= self.max_deliveries:
                    log.error(
                        "consumer.dead_lettered",
                        group=self.group,
                        deliveries=times,
                        error=delivery.error,
                        data=delivery.data[:DEAD_LETTER_DATA_CHARS],
                        **where,
                    )
                    done.append(delivery)
                else:
                    log.warning(
                        "consumer.unparseable", group=self.group, deliveries=times, error=delivery.error, **where
                    )
                continue
            try:
                handler(delivery.event)
            except Exception:
                log.exception(
                    "consumer.handler_failed",
                    group=self.group,
                    event_id=delivery.event.id,
                    type=delivery.event.type,
                    **where,
                )
                continue
            done.append(delivery)
        return self.ack(done)

    def drain(self, handler: Handler) -> int:
        """Handle everything new until a poll comes back empty (ops tools, tests). Returns entries
        acknowledged. Needs ``block_ms=None`` to return promptly once the streams are quiet."""
        acked = 0
        while deliveries := self.poll():
            acked += self.handle(deliveries, handler)
        return acked

    def run(self, handler: Handler, stop: threading.Event | None = None) -> None:
        """Consume until ``stop`` is set: claim stale entries → handle → ack; poll → handle → ack.

        Creates the groups first (from ``$`` if new). Stale entries are claimed at most every
        ``claim_idle_ms / 2`` — nothing can become claimable faster. A lost Redis connection is
        logged and retried with backoff instead of ending the service; other errors propagate.
        """
        stop = stop or threading.Event()
        self.ensure_groups()
        next_claim = 0.0
        backoff = 0.5
        while not stop.is_set():
            try:
                if time.monotonic() >= next_claim:
                    self.handle(self.claim_stale(), handler)
                    next_claim = time.monotonic() + self.claim_idle_ms / 2000
                self.handle(self.poll(), handler)
                backoff = 0.5
            except (RedisConnectionError, RedisTimeoutError) as error:
                log.warning("consumer.redis_unavailable", group=self.group, error=str(error), retry_in_s=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
