"""Redis replies as ``str``: the one bytes→str helper.

Our clients do not set ``decode_responses`` (RQ needs bytes), so replies arrive as ``bytes``; a client
that does set it hands back ``str``. Every reader turns both into ``str`` here, the same way.
"""

from __future__ import annotations


def text(value: object, errors: str = "strict") -> str:
    """``value`` as ``str``: bytes decoded as UTF-8 (``errors`` as for ``bytes.decode``), else ``str()``."""
    return value.decode("utf-8", errors) if isinstance(value, bytes) else str(value)


def optional_text(value: object) -> str | None:
    """``text(value)``, keeping ``None`` (a missing hash field) as ``None``."""
    return None if value is None else text(value)
