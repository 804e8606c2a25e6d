"""Configuration from the environment, read once at the entry points and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Retention:
    """How much history Redis keeps (see docs/DESIGN.md, "Retention").

    Account streams are trimmed approximately (``MAXLEN ~``) at append time: nobody consumes them
    with a group. Partition streams feed consumer groups, so they are trimmed by the workers'
    maintenance (``trim_events``) only past what every group has read and acknowledged, and only
    once older than ``partition_stream_min_age_seconds``; ``partition_stream_maxlen`` (0 = none) is
    an emergency cap that *can* drop unread events, so it is off by default.
    """

    account_stream_maxlen: int = 100_000
    partition_stream_maxlen: int = 0
    partition_stream_min_age_seconds: int = 24 * 3600
    assigned_record_ttl_seconds: int = 30 * 24 * 3600
    stats_retention_days: int = 400

    @classmethod
    def from_env(cls) -> Retention:
        return cls(
            account_stream_maxlen=_int_env("HELPDESK_RR_ACCOUNT_STREAM_MAXLEN", cls.account_stream_maxlen),
            partition_stream_maxlen=_int_env("HELPDESK_RR_PARTITION_STREAM_MAXLEN", cls.partition_stream_maxlen),
            partition_stream_min_age_seconds=_int_env(
                "HELPDESK_RR_PARTITION_STREAM_MIN_AGE_SECONDS", cls.partition_stream_min_age_seconds
            ),
            assigned_record_ttl_seconds=_int_env("HELPDESK_RR_RECORD_TTL_SECONDS", cls.assigned_record_ttl_seconds),
            stats_retention_days=_int_env("HELPDESK_RR_STATS_RETENTION_DAYS", cls.stats_retention_days),
        )
