"""Where state and queues live: one Redis by default, or a Redis Cluster for state plus sharded queues.

Resolved from ``Settings`` (worker/config.py reads the variables):

| variable | meaning |
|---|---|
| ``REDIS_URL`` | the single Redis for everything (the default; the embedded server when unset) |
| ``REDIS_STATE_URL`` | decision state and event streams; ``redis+cluster://host:port`` for a Redis Cluster |
| ``REDIS_QUEUE_URLS`` | comma-separated standalone Redis URLs for the RQ queues (queue shards) |

An explicit ``--redis-url`` means "one Redis for everything" and ignores the two split variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from redis.cluster import RedisCluster

from producers.connection import RETRIES, connect
from producers.routing import shard_of
from worker.config import Settings
from worker.redaction import safe_repr

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def connect_state(url: str, retries: int = RETRIES) -> Any:
    """A client for the state Redis: ``RedisCluster`` for a ``redis+cluster://`` URL."""
    if is_cluster_url(url):
        plain = url.replace("+cluster", "", 1)
        return RedisCluster.from_url(plain, socket_connect_timeout=2, socket_timeout=30)
    return connect(url, retries)


@dataclass
class Topology:
    state_url: str
    queue_urls: tuple[str, ...]
    retries: int = RETRIES
    _state: Any = field(default=None, repr=False)
    _queues: list[redis.Redis] | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # the URLs may hold a password (worker/redaction.py)
        return safe_repr(self)

    @classmethod
    def resolve(cls, settings: Settings) -> Topology:
        """A Redis URL (``--redis-url`` or ``REDIS_URL``) means one Redis for everything; else the split
        variables when both are set; else the embedded server for what is missing."""
        retries = settings.redis_retries
        if settings.redis_url:
            return cls(settings.redis_url, (settings.redis_url,), retries)
        state, queues = settings.state_url, settings.queue_urls
        if state and queues:
            return cls(state, queues, retries)
        from worker.runtime.connection import resolve_redis_url

        base = resolve_redis_url(settings)
        return cls(state or base, queues or (base,), retries)

    @property
    def single(self) -> bool:
        """One Redis for state and queues (the default)."""
        return self.queue_urls == (self.state_url,)

    def state(self) -> Any:
        if self._state is None:
            self._state = connect_state(self.state_url, self.retries)
        return self._state

    @classmethod
    def over_client(cls, client: Any, label: str = "(given client)") -> Topology:
        """One Redis for state and queues, on a client the caller already has."""
        topology = cls(label, (label,))
        topology._state = client
        return topology

    def queues(self) -> list[redis.Redis]:
        if self._queues is None:
            self._queues = [self.state()] if self.single else [connect(u, self.retries) for u in self.queue_urls]
        return self._queues

    def queue_for(self, account_id: str) -> redis.Redis:
        return self.queues()[shard_of(account_id, len(self.queue_urls))]


_state_client: Any = None


def use_state_client(client: Any) -> None:
    """Set by a worker process at start: the jobs decide on this client, not on the queue's."""
    global _state_client
    _state_client = client


def state_client_or(fallback: Any) -> Any:
    return _state_client if _state_client is not None else fallback
