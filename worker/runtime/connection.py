"""Where the Redis connection comes from: ``--redis-url``, then ``REDIS_URL``, then the embedded server."""

from __future__ import annotations

import os

from producers.connection import connect

__all__ = ["connect", "resolve_redis_url"]


def resolve_redis_url(explicit: str | None = None) -> str:
    """The URL to use; with none configured, start (once) and return the per-user embedded server."""
    url = explicit or os.environ.get("REDIS_URL", "").strip()
    if url:
        return url
    from worker.ops.embedded import ensure_embedded_server

    return ensure_embedded_server()
