"""Periodic upkeep run by the workers: trimming the partition event streams safely."""

from __future__ import annotations

from datetime import datetime

import redis
import structlog

from worker.config import Retention
from worker.core.keys import all_partition_streams
from worker.core.scripts import Scripts

log = structlog.get_logger("helpdesk_rr.maintenance")

TRIM_EVERY_SECONDS = 60
TRIM_LOCK_KEY = "rr:maintenance:trim-lock"
"""Not hash-tagged on purpose: a plain SET NX lock, never used inside a script."""


def trim_partition_streams(
    scripts: Scripts, retention: Retention, now: datetime, partitions: int | None = None
) -> dict[str, int]:
    """Trim every partition stream up to ``now - min_age`` but never past an unread or unacked entry."""
    horizon_ms = int(now.timestamp() * 1000) - retention.partition_stream_min_age_seconds * 1000
    removed = {}
    for stream in all_partition_streams(partitions):
        count, minid = scripts.trim_events(stream, horizon_ms)
        if count:
            removed[stream] = count
            log.info("events.trimmed", stream=stream, removed=count, minid=minid)
    return removed


def maybe_trim(
    client: redis.Redis, scripts: Scripts, retention: Retention, now: datetime, partitions: int | None = None
) -> bool:
    """Trim at most once a minute across all workers (the first worker to take the lock does it)."""
    if not client.set(TRIM_LOCK_KEY, 1, nx=True, ex=TRIM_EVERY_SECONDS):
        return False
    trim_partition_streams(scripts, retention, now, partitions)
    return True
