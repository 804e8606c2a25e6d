"""Where the Redis connection comes from: ``--redis-url``, then ``REDIS_URL``, then the embedded server."""

from __future__ import annotations

import os

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry


def resolve_redis_url(explicit: str | None = None) -> str:
    """The URL to use; with none configured, start (once) and return the per-user embedded server."""
    url = explicit or os.environ.get("REDIS_URL", "").strip()
    if url:
        return url
    from worker.redis_server import ensure_embedded_server

    return ensure_embedded_server()


def connect(url: str) -> redis.Redis:
    """A client that retries transient connection errors with backoff (our scripts are idempotent,
    so a retried call whose first attempt did run changes nothing)."""
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=5),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=5,
        health_check_interval=30,
    )
