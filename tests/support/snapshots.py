"""Looking at raw state: a snapshot of every key (to prove a refused action changed nothing), per-agent counts."""

from __future__ import annotations

from typing import Any

import redis

from tests.support.backends import all_keys
from worker.core.keys import AccountKeys
from worker.core.text import text


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


def agent_counts(client: Any, account_id: str) -> dict[str, int]:
    """Tickets assigned per agent, straight from the counts hash (what ``users()`` reports as ``assigned``)."""
    raw = client.hgetall(AccountKeys.for_account(account_id).counts)
    return {text(agent): int(count) for agent, count in raw.items()}
