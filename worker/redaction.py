"""Credentials never leave the process as text: every Redis URL shown or logged goes through here.

A Redis URL may carry a password (``redis://:pw@host``, ``rediss://user:pw@host``,
``unix://:pw@/path/redis.sock``, ``redis://host/0?password=pw``). Error lines, the demo's header,
log lines and the ``repr`` of the objects holding URLs (``Settings``, ``Topology``) show the URL with
``user:password`` replaced by ``***`` and password-like query values masked, keeping the scheme,
host, port and database, so a message still says *which* Redis. The worker's child processes get
their URLs through the environment, not argv (worker/runtime/runner.py). See docs/SECURITY.md.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

SECRET = "***"

# scheme://userinfo@ — greedy up to the last '@' before the path, so an unencoded '@' in a password
# is covered too. Applied to free text as well (exception messages, log values, lists of URLs).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#]*@")
_SECRET_QUERY = re.compile(r"(?i)([?&;][a-z_]*(?:password|passwd|secret|token|auth)[a-z_]*=)[^&;#\s]*")


def redacted(text: str) -> str:
    """``text`` (a URL, a list of URLs, a message quoting URLs) with every credential replaced by ``***``.

    Idempotent, and a text without credentials comes back unchanged::

        >>> redacted("redis://user:pw@redis.internal:6380/2")
        'redis://***@redis.internal:6380/2'
    """
    if "://" not in text and "=" not in text:  # neither pattern can match: every log value passes here
        return text
    return _SECRET_QUERY.sub(rf"\g<1>{SECRET}", _USERINFO.sub(rf"\g<1>{SECRET}@", text))


def safe_repr(instance: Any) -> str:
    """A dataclass's ``repr`` with every field's value redacted (``Settings``, ``Topology`` use it)."""
    shown = (
        f"{f.name}={redacted(repr(getattr(instance, f.name)))}" for f in dataclasses.fields(instance) if f.repr
    )
    return f"{type(instance).__name__}({', '.join(shown)})"
