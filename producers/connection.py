"""The Redis client every helpdesk-rr process uses: bounded retries of transient errors.

Producers, workers and the CLI share it. A call that still fails after the retries raises, so an
event is never dropped silently; retrying our scripts is safe because every decision is idempotent.
"""

from __future__ import annotations

import os

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

RETRIES = 6
"""Attempts after the first; with the backoff below, a client gives up after roughly 5 s.
``HELPDESK_RR_REDIS_RETRIES`` overrides it (e.g. more to ride out a slow failover)."""
RETRIES_ENV = "HELPDESK_RR_REDIS_RETRIES"


def retries_from_env() -> int:
    """``HELPDESK_RR_REDIS_RETRIES`` if set to a whole number ≥ 0, else ``RETRIES``."""
    text = os.environ.get(RETRIES_ENV, "").strip()
    if not text:
        return RETRIES
    if not text.isdigit():
        raise ValueError(f"{RETRIES_ENV} must be a whole number ≥ 0, not {text!r}")
    return int(text)


def connect(url: str, retries: int | None = None) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=retries_from_env() if retries is None else retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=2,
        socket_timeout=30,
        health_check_interval=30,
    )
