"""Where the Redis connection comes from: ``--redis-url`` / ``REDIS_URL``, else the embedded server."""

from __future__ import annotations

from producers.connection import connect
from worker.config import Settings

__all__ = ["connect", "resolve_redis_url"]


def resolve_redis_url(settings: Settings) -> str:
    """The URL to use; with none configured, start (once) and return the per-user embedded server."""
    if settings.redis_url:
        return settings.redis_url
    from worker.ops.embedded import ensure_embedded_server

    return ensure_embedded_server(settings.state_dir)
