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
"""An hour is a *level* spike if its peak total depth is at least this many times the period's median peak..."""
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
) -> tuple[dict[str, int], list[str]]:
    """Move ``level`` (and ``known``) on by one hour: each series' peak within it (the highest depth a rise
    within the hour reached, or its end depth if higher; non-zero only) and the surges seen in it, as details."""
    hour_peaks, surges = {}, []
    for name in series:
        previous = level[name]
        level[name] = recorded.get(name, previous)
        top = max(peaks.get(name, 0), level[name])
        if name in known and top - previous >= SPIKE_SURGE:
            surges.append(f"{name} grew {previous} -> {top}")
        if name in recorded:
            known.add(name)
        if top:
            hour_peaks[name] = top
    return hour_peaks, surges


def _hourly_rows(
    parsed: ParsedStats, hours: list[datetime], series: list[str], seed: dict[str, int]
) -> tuple[list[QueueHour], dict[datetime, list[str]]]:
    """One row per hour with the carried-forward depths and the peaks, and the surges by hour.

    The total peak is the recorded ``uq_peak_total`` (the highest total a rise within the hour reached), and
    never below the hour's end or any one series' peak (the others are >= 0; older data has no total peak).
    The depth an hour starts at is the previous hour's: it is judged there, not counted twice."""
    level: dict[str, int] = {s: seed.get(s, 0) for s in series}
    known = set(seed)  # series whose level is known (not the assumed 0 before a first value)
    rows: list[QueueHour] = []
    surges_by_hour: dict[datetime, list[str]] = {}
    for when in hours:
        hour_peaks, surges = _advance_hour(series, level, known, parsed.depth.get(when, {}), parsed.peak.get(when, {}))
        if surges:
            surges_by_hour[when] = surges
        total = sum(level.values())
        peak_total = max(parsed.peak_total.get(when, 0), total, *hour_peaks.values())
        rows.append(
            QueueHour(
                hour=when,
                total=total,
                depth={s: n for s, n in level.items() if n},
                peak=hour_peaks,
                peak_total=peak_total,
            )
        )
    return rows, surges_by_hour


def peak_of(row: QueueHour) -> int:
    """The hour's highest total depth (its end total for a document written before peaks were reported)."""
    return max(row.total, row.peak_total or 0)


def _spikes(rows: list[QueueHour], threshold: float, surges_by_hour: dict[datetime, list[str]]) -> list[Spike]:
    spikes = []
    for row in rows:
        rules, details = [], []
        peak = peak_of(row)
        if peak >= threshold:
            rules.append("level")
            end = f" (end of hour {row.total})" if peak != row.total else ""
            details.append(f"peak {peak} >= {threshold:g}{end}")
        if row.hour in surges_by_hour:
            rules.append("surge")
            details.extend(surges_by_hour[row.hour])
        if rules:
            spikes.append(
                Spike(hour=row.hour, rules=rules, total=row.total, peak_total=peak, detail="; ".join(details))
            )
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
    """The median of the hourly peaks: the level rule compares an hour's peak with a typical hour's."""
    totals = [peak_of(row) for row in rows]
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
