"""``helpdesk-rr metrics``: a Prometheus endpoint that reads the truth from Redis at scrape time.

Workers are separate processes (and may run on other hosts), so nothing is counted in this process:
the Lua scripts keep the counters in Redis (docs/STATS.md, ``{rr:pNN}:metrics`` and
``{rr:pNN}:accounts``) and :class:`HelpdeskCollector` reads them when Prometheus scrapes.

Cost of one scrape: one pipelined round trip for the RQ queue, its registries and every partition's
metrics hash and account set, then one pipelined round trip for the per-account figures (split into
chunks of :data:`PIPELINE_CHUNK` commands for very many accounts). Nothing is written. When Redis
cannot be reached the scrape still succeeds, with ``helpdesk_rr_redis_up 0`` as its only series.
Missing keys (e.g. before the scripts write the metrics hash) read as zero or absent series.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import WSGIServer

import redis
import structlog
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import ValidationError
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from rq.queue import Queue
from rq.registry import StartedJobRegistry

from producers.lanes import LANES, LaneKeys
from producers.queue import QUEUE_NAME
from schemas.office_hours import OfficeHours
from worker.core.keys import (
    DEFAULT_PARTITIONS,
    AccountKeys,
    malformed_queue_entries,
    partition_accounts,
    partition_metrics,
    partition_stream,
)
from worker.core.office_hours import is_open
from worker.core.shared_constants import LATENCY_BUCKETS_MS as LATENCY_BUCKETS_MS  # always exposed, even at 0
from worker.core.text import text
from worker.ops.metrics_snapshot import AccountFigures as AccountFigures
from worker.ops.metrics_snapshot import Snapshot as Snapshot
from worker.runtime.failures import failed_registry

log = structlog.get_logger("helpdesk_rr.metrics")

PREFIX = "helpdesk_rr"
PIPELINE_CHUNK = 3000
"""Most commands sent in one pipeline of the per-account round trip (3 per account)."""
_OFFICE_HOURS_CACHE = 10_000


QUEUE_COMMANDS = 6 + LANES
"""Replies per queue Redis in a scrape: depth, two registries (size, live), malformed entries, lane depths."""


def metrics_client(url: str) -> redis.Redis:
    """A client for scrapes: fail fast (one quick retry) so a scrape with Redis down stays short."""
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=2,
        socket_timeout=5,
    )


def _number(value: Any) -> float:
    """A stored counter; anything unreadable counts as 0 rather than breaking the scrape."""
    try:
        number = float(text(value, "replace"))
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _bound(text: str) -> float | None:
    if text.strip().lower() in ("inf", "+inf"):
        return math.inf
    try:
        bound = float(text)
    except ValueError:
        return None
    return bound if bound >= 0 and not math.isnan(bound) else None


def _registry_size(pipe_results: Sequence[Any]) -> int:
    """ZCARD minus the entries already expired (score in (0, now]) that RQ's cleanup would drop."""
    total, expired = pipe_results
    return max(int(total) - int(expired), 0)


class HelpdeskCollector(Collector):
    """Reads helpdesk-rr's figures from Redis on every ``collect()`` (i.e. every scrape)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        partitions: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        queues: Sequence[redis.Redis] | None = None,
    ) -> None:
        self.client = client
        self.queues = list(queues) if queues is not None else None
        """Queue shards read separately when state and queues are split (worker/runtime/topology.py)."""
        self.partitions = partitions or DEFAULT_PARTITIONS
        self.clock = clock
        self.queue_key = f"{Queue.redis_queue_namespace_prefix}{QUEUE_NAME}"
        self.started_key: str = StartedJobRegistry(QUEUE_NAME, connection=client).key
        self.failed_key: str = failed_registry(client).key
        self._hours_cache: dict[bytes, OfficeHours | None] = {}

    # --- reading ----------------------------------------------------------------------------------

    def read(self) -> Snapshot:
        """One snapshot of Redis (raises ``RedisError`` when Redis cannot be read)."""
        now = self.clock()
        snapshot = Snapshot()
        pipe = self.client.pipeline(transaction=False)
        if self.queues is None:
            self._queue_commands(pipe)
        for partition in range(self.partitions):
            pipe.hgetall(partition_metrics(partition))
            pipe.smembers(partition_accounts(partition))
        results = pipe.execute()

        offset = 0
        if self.queues is None:
            self._add_queue_figures(snapshot, results[:QUEUE_COMMANDS])
            offset = QUEUE_COMMANDS
        else:
            for queue in self.queues:
                queue_pipe = queue.pipeline(transaction=False)
                self._queue_commands(queue_pipe)
                self._add_queue_figures(snapshot, queue_pipe.execute())
        accounts: list[AccountKeys] = []
        for partition in range(self.partitions):
            counters, members = results[offset + 2 * partition], results[offset + 1 + 2 * partition]
            self._add_counters(snapshot, counters)
            accounts.extend(AccountKeys(text(m, "replace"), partition) for m in sorted(members))
        self._read_accounts(snapshot, accounts, now)
        self._read_groups(snapshot)
        return snapshot

    def _read_groups(self, snapshot: Snapshot) -> None:
        """Consumer groups on the partition streams: how far behind each is (what holds trimming back)."""
        pipe = self.client.pipeline(transaction=False)
        for partition in range(self.partitions):
            pipe.xinfo_groups(partition_stream(partition))
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception):  # the stream does not exist yet
                continue
            for group in reply:
                name = text(group.get("name") or group.get(b"name") or "", "replace")
                snapshot.group_pending[name] = snapshot.group_pending.get(name, 0.0) + _number(group.get("pending"))
                lag = group.get("lag")
                if lag is not None:
                    snapshot.group_lag[name] = snapshot.group_lag.get(name, 0.0) + _number(lag)

    def _queue_commands(self, pipe: Any) -> None:
        pipe.llen(self.queue_key)
        for key in (self.started_key, self.failed_key):
            pipe.zcard(key)
            pipe.zcount(key, "(0", time.time())  # RQ's own clock, not the office-hours clock
        pipe.zcard(malformed_queue_entries(QUEUE_NAME))
        for lane in range(LANES):
            pipe.llen(LaneKeys(lane).pending)

    @staticmethod
    def _add_queue_figures(snapshot: Snapshot, results: Sequence[Any]) -> None:
        snapshot.queue_depth += int(results[0])
        snapshot.jobs_started += _registry_size(results[1:3])
        snapshot.jobs_failed += _registry_size(results[3:5])
        snapshot.malformed_entries += int(results[5])
        snapshot.intake_pending += sum(int(depth) for depth in results[6:QUEUE_COMMANDS])

    @staticmethod
    def _add_counters(snapshot: Snapshot, counters: dict[bytes, bytes]) -> None:
        for raw_field, raw_value in counters.items():
            name, value = text(raw_field, "replace"), _number(raw_value)
            if name.startswith("decisions:"):
                parts = name.split(":", 2)
                if len(parts) == 3:
                    key = (parts[1], parts[2])
                    snapshot.decisions[key] = snapshot.decisions.get(key, 0.0) + value
            elif name.startswith("latency_ms:"):
                bound = _bound(name.removeprefix("latency_ms:"))
                if bound is not None:
                    snapshot.latency_buckets_ms[bound] = snapshot.latency_buckets_ms.get(bound, 0.0) + value
            elif name == "latency_ms_sum":
                snapshot.latency_sum_ms += value
            elif name == "latency_ms_count":
                snapshot.latency_count += value
            elif name == "office_hours_unloadable":
                snapshot.office_hours_unloadable += value
            elif name.startswith("refused:"):
                reason = name.removeprefix("refused:")
                snapshot.refused[reason] = snapshot.refused.get(reason, 0.0) + value

    def _read_accounts(self, snapshot: Snapshot, accounts: list[AccountKeys], now: datetime) -> None:
        per_chunk = max(PIPELINE_CHUNK // 3, 1)
        for start in range(0, len(accounts), per_chunk):
            chunk = accounts[start : start + per_chunk]
            pipe = self.client.pipeline(transaction=False)
            for keys in chunk:
                pipe.zcard(keys.online)
                pipe.zcard(keys.unassigned)
                pipe.hmget(keys.settings, ["office_hours", "oh_active"])
            results = pipe.execute()
            for index, keys in enumerate(chunk):
                online, unassigned, (hours_json, active) = results[3 * index : 3 * index + 3]
                hours = self._office_hours(keys.account_id, hours_json, active)
                snapshot.accounts[keys.account_id] = AccountFigures(
                    online=int(online),
                    unassigned=int(unassigned),
                    office_open=None if hours is None else is_open(hours, now),
                )

    def _office_hours(self, account_id: str, raw: bytes | None, active: bytes | None) -> OfficeHours | None:
        """The account's office hours as ``Engine.load_office_hours`` reads them (parsed once per value)."""
        if not raw or active not in (b"1", "1"):
            return None
        if raw not in self._hours_cache:
            if len(self._hours_cache) >= _OFFICE_HOURS_CACHE:
                self._hours_cache.clear()
            try:
                self._hours_cache[raw] = OfficeHours.model_validate_json(raw)
            except ValidationError as error:
                log.warning("metrics.bad_office_hours", account_id=account_id, error=str(error).splitlines()[0])
                self._hours_cache[raw] = None
        return self._hours_cache[raw]

    # --- exposing ---------------------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        """The families, without touching Redis (so registering the collector needs no connection)."""
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        try:
            snapshot = self.read()
        except RedisError as error:
            log.warning("metrics.redis_unreachable", error=str(error))
            return [_gauge("redis_up", "1 if Redis answered this scrape, else 0 (and no other series).", 0)]
        return self._families(snapshot)

    def _families(self, snapshot: Snapshot | None) -> list[Metric]:
        s = snapshot or Snapshot()
        online = GaugeMetricFamily(f"{PREFIX}_online_agents", "Agents Online in the account.", labels=["account"])
        unassigned = GaugeMetricFamily(
            f"{PREFIX}_unassigned_tickets", "Tickets waiting in the account's unassigned set.", labels=["account"]
        )
        office = GaugeMetricFamily(
            f"{PREFIX}_office_open",
            "1 if the account's office hours are open now, 0 if closed; absent without office hours.",
            labels=["account"],
        )
        pending = GaugeMetricFamily(
            f"{PREFIX}_consumer_group_pending",
            "Events delivered to a consumer group but not acknowledged (all partition streams).",
            labels=["group"],
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_consumer_group_lag",
            "Events not yet delivered to a consumer group (Redis >= 7 only).",
            labels=["group"],
        )
        for group, value in sorted(s.group_pending.items()):
            pending.add_metric([group], value)
        for group, value in sorted(s.group_lag.items()):
            lag.add_metric([group], value)
        for account, figures in sorted(s.accounts.items()):
            online.add_metric([account], figures.online)
            unassigned.add_metric([account], figures.unassigned)
            if figures.office_open is not None:
                office.add_metric([account], 1 if figures.office_open else 0)
        return [
            _gauge("redis_up", "1 if Redis answered this scrape, else 0 (and no other series).", 1),
            _gauge("queue_depth", "Jobs waiting in the helpdesk-rr RQ queue.", s.queue_depth),
            _gauge("jobs_started", "Jobs a worker is executing now (RQ started registry).", s.jobs_started),
            _gauge("jobs_failed", "Jobs in RQ's failed registry (kept 7 days; see helpdesk-rr failed).", s.jobs_failed),
            _gauge("malformed_queue_entries", "Queue entries moved aside unread (failed --all).", s.malformed_entries),
            _gauge("intake_pending", "Tickets pushed onto the burst intake's lanes, undecided.", s.intake_pending),
            *_decision_families(s),
            online,
            unassigned,
            office,
            pending,
            lag,
        ]


def _decision_families(s: Snapshot) -> list[Metric]:
    """The counters the decision scripts keep (``{rr:pNN}:metrics``, summed over partitions)."""
    decisions = CounterMetricFamily(
        f"{PREFIX}_decisions",
        "Ticket decisions made, summed over partitions.",
        labels=["outcome", "reason"],
    )
    for (outcome, reason), value in sorted(s.decisions.items()):
        decisions.add_metric([outcome, reason], value)
    latency = HistogramMetricFamily(
        f"{PREFIX}_decision_latency_seconds",
        "Time from enqueue to the decision's event (decisions with a known enqueue time).",
        buckets=s.cumulative_latency_buckets(),
        sum_value=s.latency_sum_ms / 1000,
    )
    unloadable = CounterMetricFamily(
        f"{PREFIX}_office_hours_unloadable",
        "Webchat tickets decided as if there were no office hours: a worker could not load the stored ones.",
        value=s.office_hours_unloadable,
    )
    refused = CounterMetricFamily(
        f"{PREFIX}_tickets_refused",
        "Tickets refused into RQ's failed registry: account with no users, or its waiting-ticket ceiling reached.",
        labels=["reason"],
    )
    for reason in sorted({"unknown_account", "waiting_ceiling"} | set(s.refused)):  # both always exposed
        refused.add_metric([reason], s.refused.get(reason, 0.0))
    return [decisions, latency, unloadable, refused]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def build_registry(client: redis.Redis, **options: Any) -> CollectorRegistry:
    """A registry holding only helpdesk-rr's collector (no process/platform metrics)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(HelpdeskCollector(client, **options))
    return registry


def serve(
    url: str, host: str, port: int, queue_urls: Sequence[str] | None = None, partitions: int | None = None
) -> tuple[WSGIServer, threading.Thread]:
    """Start the HTTP endpoint in a daemon thread (``port`` 0 picks a free one: see ``server_port``).

    ``url`` is the state Redis (``redis+cluster://`` for a cluster); ``queue_urls`` the queue shards
    when they are separate (worker/runtime/topology.py)."""
    from worker.runtime.topology import connect_state, is_cluster_url

    state = connect_state(url) if is_cluster_url(url) else metrics_client(url)
    queues = [metrics_client(u) for u in queue_urls] if queue_urls else None
    registry = build_registry(state, queues=queues, partitions=partitions)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread


def endpoint_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"
