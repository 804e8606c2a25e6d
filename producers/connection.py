"""The Redis client every helpdesk-rr process uses: bounded retries of transient errors.

Producers, workers and the CLI share it. A call that still fails after the retries raises, so an
event is never dropped silently; retrying our scripts is safe because every decision is idempotent.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

RETRIES = 6
"""Attempts after the first; with the backoff below, a client gives up after roughly 5 s. helpdesk-rr's
own processes take ``HELPDESK_RR_REDIS_RETRIES`` (worker/config.py); an integration passes ``retries``."""


def connect(url: str, retries: int = RETRIES) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=2,
        socket_timeout=30,
        health_check_interval=30,
    )
