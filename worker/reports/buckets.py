"""Bucketed histograms and the report's one percentile estimate.

The time to first reply (``ttfr:<dim>:<bucket>``) and the waiting time of tickets released from the
waiting queue (``waited:<bucket>``) are both filed in the TTFR bucket bounds (docs/STATS.md); both
figures are estimated here, the same way, so a median means the same thing wherever the report shows
one (docs/REPORTS.md has the rule and a worked example).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from schemas.report import TtfrBucket
from worker.core.shared_constants import TTFR_BUCKETS as TTFR_BUCKETS  # one source with the Lua side


def estimate_percentile(buckets: Iterable[tuple[float, int]], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of a bucketed histogram, linear inside the bucket it falls in.

    Buckets are (upper bound, count), non-cumulative; the first bucket starts at 0. The rank is
    ``q * total``: the estimate is the point of the bucket where the cumulative count reaches it,
    assuming values are spread evenly inside the bucket. In the unbounded (inf) bucket the
    estimate is its lower bound. None for an empty histogram.
    """
    ordered = sorted(buckets)
    total = sum(count for _, count in ordered)
    if total <= 0:
        return None
    rank = q * total
    lower = 0.0
    cumulative = 0
    for upper, count in ordered:
        if count > 0 and cumulative + count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (rank - cumulative) / count * (upper - lower)
        cumulative += count
        lower = upper
    return lower  # not reached: the last non-empty bucket always reaches the rank


def histogram(counts: Mapping[float, int]) -> list[tuple[float, int]]:
    """Every documented bucket (and any other bound the stats hold), lowest first, with its count (0 if none)."""
    return [(bound, counts.get(bound, 0)) for bound in sorted(set(TTFR_BUCKETS) | set(counts))]


def bucket_models(buckets: Iterable[tuple[float, int]]) -> list[TtfrBucket]:
    """The histogram as the document carries it (the unbounded bucket's bound is null)."""
    return [TtfrBucket(upper_seconds=None if math.isinf(b) else round(b), count=c) for b, c in buckets]


def rounded(value: float | None) -> float | None:
    """Seconds to the millisecond, as every figure of the document."""
    return None if value is None else round(value, 3)


def capped_estimate(estimate: float | None, largest: int | None) -> tuple[float | None, bool]:
    """A bucket estimate never beyond the largest value observed (``<name>_max``, docs/STATS.md): (the value
    shown, whether it was capped). A lone ticket's median is then its own value, not its bucket's middle."""
    if estimate is None or largest is None or estimate <= largest:
        return rounded(estimate), False
    return float(largest), True
