"""The unassigned-queue figure: hourly depth per channel:reason, and the rule that calls an hour a spike.

The stats only record a series' depth in the hours it changed (docs/STATS.md), so the level is
carried forward hour by hour, seeded from the end of the day before the period. The spike rule is
here, next to the series it reads, so the text and HTML renderings import its thresholds instead of
restating them (docs/REPORTS.md explains the rule).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime

from schemas.report import QueueHour, Spike, UnassignedQueue
from worker.reports.stats_fields import DayStats, ParsedStats, count

SPIKE_LEVEL_FACTOR = 2.0
"""An hour is a *level* spike if its total depth is at least this many times the period's median..."""
SPIKE_LEVEL_MIN = 5
"""...and at least this many tickets."""
SPIKE_SURGE = 10
"""An hour is a *surge* if one channel:reason grew by at least this many tickets within it (from uq_peak),
measured from a known level: not from the assumed 0 before a series' first value in the period."""


def last_depths(parsed_before: ParsedStats) -> dict[str, int]:
    """Each channel:reason's depth at the end of the seed day (its last recorded hour)."""
    last: dict[str, int] = {}
    for when in sorted(parsed_before.depth):
        last.update(parsed_before.depth[when])
    return last


def _series_names(parsed: ParsedStats, seed: dict[str, int]) -> list[str]:
    names = {s for by in parsed.depth.values() for s in by} | {s for by in parsed.peak.values() for s in by}
    names |= {s for s, n in seed.items() if n}
    return sorted(names)


def _advance_hour(
    series: list[str], level: dict[str, int], known: set[str], recorded: dict[str, int], peaks: dict[str, int]
) -> list[str]:
    """Move ``level`` (and ``known``) on by one hour; the surges seen within it, as details."""
    surges = []
    for name in series:
        previous = level[name]
        level[name] = recorded.get(name, previous)
        top = max(peaks.get(name, 0), level[name])
        if name in known and top - previous >= SPIKE_SURGE:
            surges.append(f"{name} grew {previous} -> {top}")
        if name in recorded:
            known.add(name)
    return surges


def _hourly_rows(
    parsed: ParsedStats, hours: list[datetime], series: list[str], seed: dict[str, int]
) -> tuple[list[QueueHour], dict[datetime, list[str]]]:
    """One row per hour with the carried-forward depths, and the surges by hour."""
    level: dict[str, int] = {s: seed.get(s, 0) for s in series}
    known = set(seed)  # series whose level is known (not the assumed 0 before a first value)
    rows: list[QueueHour] = []
    surges_by_hour: dict[datetime, list[str]] = {}
    for when in hours:
        recorded = parsed.depth.get(when, {})
        peaks = parsed.peak.get(when, {})
        surges = _advance_hour(series, level, known, recorded, peaks)
        if surges:
            surges_by_hour[when] = surges
        rows.append(
            QueueHour(
                hour=when,
                total=sum(level.values()),
                depth={s: n for s, n in level.items() if n},
                peak={s: n for s, n in peaks.items() if s in level},
            )
        )
    return rows, surges_by_hour


def _spikes(rows: list[QueueHour], threshold: float, surges_by_hour: dict[datetime, list[str]]) -> list[Spike]:
    spikes = []
    for row in rows:
        rules, details = [], []
        if row.total >= threshold:
            rules.append("level")
            details.append(f"total {row.total} >= {threshold:g}")
        if row.hour in surges_by_hour:
            rules.append("surge")
            details.extend(surges_by_hour[row.hour])
        if rules:
            spikes.append(Spike(hour=row.hour, rules=rules, total=row.total, detail="; ".join(details)))
    return spikes


def _current_depth(current: DayStats) -> dict[str, int]:
    """The running counters, without zeros and without values that are not counts."""
    now_depth = {}
    for name, value in sorted(current.items()):
        try:
            number = count(value)
        except ValueError:
            continue
        if number:
            now_depth[name] = number
    return now_depth


def _median_total(rows: Iterable[QueueHour]) -> float:
    totals = [row.total for row in rows]
    return float(statistics.median(totals)) if totals else 0.0


def unassigned_queue(
    parsed: ParsedStats, hours: list[datetime], seed: dict[str, int], current: DayStats
) -> UnassignedQueue:
    """The figure over ``hours``, ``seed`` being the depths at the end of the day before the period."""
    series = _series_names(parsed, seed)
    rows, surges_by_hour = _hourly_rows(parsed, hours, series, seed)
    median = _median_total(rows)
    threshold = max(float(SPIKE_LEVEL_MIN), SPIKE_LEVEL_FACTOR * median)
    return UnassignedQueue(
        series=series,
        hours=rows,
        median_total=median,
        level_threshold=threshold,
        surge_threshold=SPIKE_SURGE,
        spikes=_spikes(rows, threshold, surges_by_hour),
        current=_current_depth(current),
    )
