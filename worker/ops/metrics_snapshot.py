"""What one ``helpdesk-rr metrics`` scrape read from Redis (worker/ops/metrics.py turns it into series)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from worker.core.shared_constants import LATENCY_BUCKETS_MS


@dataclass
class AccountFigures:
    online: int
    unassigned: int
    office_open: bool | None
    """None when the account has no (active) office hours."""


@dataclass
class Snapshot:
    """Everything one scrape read from Redis."""

    queue_depth: int = 0
    jobs_started: int = 0
    jobs_failed: int = 0
    malformed_entries: int = 0
    intake_pending: int = 0
    decisions: dict[tuple[str, str], float] = field(default_factory=dict)
    latency_buckets_ms: dict[float, float] = field(default_factory=dict)
    """Non-cumulative counts per upper bound (ms), as stored."""
    latency_sum_ms: float = 0.0
    latency_count: float = 0.0
    accounts: dict[str, AccountFigures] = field(default_factory=dict)
    group_pending: dict[str, float] = field(default_factory=dict)
    """Consumer group → entries delivered but not acknowledged, summed over partition streams."""
    group_lag: dict[str, float] = field(default_factory=dict)
    """Consumer group → entries not yet delivered (Redis >= 7 reports it; absent on 6.2)."""
    refused: dict[str, float] = field(default_factory=dict)
    """Reason (``unknown_account``, ``waiting_ceiling``) → tickets refused into RQ's failed registry."""
    office_hours_unloadable: float = 0.0
    """Webchat tickets decided as if the account had no office hours, because a worker could not load them."""

    def cumulative_latency_buckets(self) -> list[tuple[str, float]]:
        """``(le in seconds, cumulative count)`` pairs ending with ``+Inf`` = the count."""
        bounds = sorted(set(LATENCY_BUCKETS_MS) | set(self.latency_buckets_ms))
        pairs: list[tuple[str, float]] = []
        running = 0.0
        for bound in bounds:
            running += self.latency_buckets_ms.get(bound, 0.0)
            if math.isinf(bound):
                break
            pairs.append((repr(bound / 1000), running))
        # +Inf is the documented count; never below a finite bucket, so the histogram stays monotonic.
        pairs.append(("+Inf", max(self.latency_count, running)))
        return pairs
