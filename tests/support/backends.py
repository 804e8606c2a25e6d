"""Helpers for tests that run on every backend of tests/conftest.py (real Redis, fakeredis, Redis Cluster)."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster


def all_keys(client: redis.Redis | RedisCluster) -> list[bytes]:
    """Every key of the database. On a Redis Cluster KEYS goes to one node unless told to ask every
    primary, and a snapshot of one node would prove nothing."""
    if isinstance(client, RedisCluster):
        return client.keys("*", target_nodes=RedisCluster.PRIMARIES)  # type: ignore[return-value]
    return client.keys("*")  # type: ignore[return-value]


NOT_ON_CLUSTER = pytest.mark.parametrize("client", ["real", "fake"], indirect=True)
"""For a test of a cluster-enabled module that cannot run on a Redis Cluster (say why next to it)."""
