"""A snapshot of every key and its value, to prove that a refused action changed nothing."""

from __future__ import annotations

import redis

from tests.support.backends import all_keys


def snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every key and its value: used to prove a refused action changed nothing."""
    state: dict[bytes, object] = {}
    for key in sorted(all_keys(client)):
        kind = client.type(key)
        if kind == b"hash":
            state[key] = client.hgetall(key)
        elif kind == b"zset":
            state[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"stream":
            state[key] = client.xrange(key)
        elif kind == b"set":
            state[key] = client.smembers(key)
        elif kind == b"list":
            state[key] = client.lrange(key, 0, -1)
        else:
            state[key] = client.get(key)
    return state
