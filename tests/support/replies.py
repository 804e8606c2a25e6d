"""Redis replies typed as the tests' clients return them: bytes.

redis-py types a reply ``bytes | str`` (a client may set ``decode_responses``) and XRANGE's reply as
possibly ``None``. The clients of tests/conftest.py never decode responses, and XRANGE of a missing
stream is an empty list; these readers say so once, named after the command they send, instead of a
cast at every call.
"""

from __future__ import annotations

from typing import cast

import redis

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]
"""XRANGE's reply: ``(entry id, fields)`` for each entry, oldest first."""


def xrange(client: redis.Redis, name: str) -> StreamEntries:
    """Every entry of the stream ``name``."""
    return cast(StreamEntries, client.xrange(name))


def hgetall(client: redis.Redis, name: str) -> dict[bytes, bytes]:
    return cast(dict[bytes, bytes], client.hgetall(name))


def hkeys(client: redis.Redis, name: str) -> list[bytes]:
    return cast(list[bytes], client.hkeys(name))


def smembers(client: redis.Redis, name: str) -> set[bytes]:
    return cast(set[bytes], client.smembers(name))


def zrange(client: redis.Redis, name: str) -> list[bytes]:
    """Every member of the sorted set ``name``, lowest score first (no scores)."""
    return cast(list[bytes], client.zrange(name, 0, -1))
