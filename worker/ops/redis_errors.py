"""The one error every ``redis-server`` helper raises (finding, starting, reaching, stopping).

Its own module so that :mod:`worker.ops.redis_binary`, :mod:`worker.ops.redis_process` and
:mod:`worker.ops.embedded` can all raise it without importing each other.
"""

from __future__ import annotations

__all__ = ["RedisServerError", "UnsafeDirectory"]


class RedisServerError(RuntimeError):
    """A redis-server binary could not be found, started, reached or stopped."""


class UnsafeDirectory(RedisServerError):
    """A directory for a server's files (or its socket) that another user owns or can write: refused,
    as ssh refuses such a directory for its keys. The message is one line, fit for a CLI user."""
