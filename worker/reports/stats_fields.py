"""The per-day stats hash fields (docs/STATS.md) parsed into per-period totals.

This is the one place that knows the field names the Lua writers use (``decided:<outcome>:<reason>``,
``arrived:<HH>:<channel>``, ``ttfr:<dim>:<bucket>``, ``waited:<bucket>``, ...). A field it does not
recognise is set aside in ``ParsedStats.ignored`` instead of failing the report: a newer writer must not
break an older reader.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from worker.reports.period import hour_start

DayStats = Mapping[str, str]
"""One day's stats hash, decoded: field -> value."""


@dataclass
class Durations:
    """A duration histogram in the TTFR buckets (seconds) with its exact sum and count."""

    buckets: dict[float, int] = field(default_factory=lambda: defaultdict(int))
    total: float = 0.0
    count: int = 0
    largest: int | None = None
    """The largest value filed (``<name>_max``); None before any (or from before it was filed)."""


REASSIGN_DURATIONS = ("reassign_held", "after_reassign")
"""The reassignment histograms: assignment → reassignment (filed when reassigned), last reassignment → first
reply (filed with the first reply, under the day the ticket arrived)."""


@dataclass
class ParsedStats:
    """Totals over the days parsed so far; the hourly maps are keyed by the UTC hour's start."""

    decided: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    arrived: dict[datetime, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    assigned: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    depth: dict[datetime, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    peak: dict[datetime, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    peak_total: dict[datetime, int] = field(default_factory=dict)
    ttfr: dict[str, dict[float, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    ttfr_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    ttfr_count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ttfr_max: dict[str, int] = field(default_factory=dict)
    waited: dict[float, int] = field(default_factory=lambda: defaultdict(int))
    waited_sum: float = 0.0
    waited_count: int = 0
    waited_max: int | None = None
    reassigned: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """reason → tickets that left their assignee (``reassigned:<reason>``)."""
    reassign_waiting: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """reason → of those, the ones that went to the waiting queue (nobody else available)."""
    durations: dict[str, Durations] = field(default_factory=lambda: {name: Durations() for name in REASSIGN_DURATIONS})
    ignored: list[str] = field(default_factory=list)


def count(value: str) -> int:
    """A counter's value, read leniently (``3.0`` counts as 3) but never nan or inf."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return round(number)


def _hour(text: str) -> int:
    if len(text) != 2 or not text.isdigit() or not 0 <= int(text) <= 23:
        raise ValueError(text)
    return int(text)


def parse_bucket(label: str) -> float:
    """A TTFR (or waiting-time) bucket label (``300``, ``inf``) as its upper bound in seconds."""
    if label.lower() in ("inf", "+inf"):
        return math.inf
    bound = float(label)
    if not bound > 0:
        raise ValueError(label)
    return bound


# One handler per field kind: (day, whole field name, the name after "<kind>:", value, totals).
# Each raises ValueError for a malformed field; the statements keep their original order of
# evaluation, so a bad value leaves the same (zero) entries behind as it always did.
_Handler = Callable[[date, str, str, str, ParsedStats], None]


def _decided(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    outcome, _, reason = rest.partition(":")
    if not outcome or not reason:
        raise ValueError(name)
    parsed.decided[(outcome, reason)] += count(value)


def _arrived(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    hh, _, channel = rest.partition(":")
    if not channel:
        raise ValueError(name)
    parsed.arrived[hour_start(day, _hour(hh))][channel] += count(value)


def _assigned(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    if not rest:
        raise ValueError(name)
    parsed.assigned[rest] += count(value)


def _depth_or_peak(target: Callable[[ParsedStats], dict[datetime, dict[str, int]]]) -> _Handler:
    def handle(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
        hh, _, series = rest.partition(":")
        if series.count(":") != 1:
            raise ValueError(name)
        target(parsed)[hour_start(day, _hour(hh))][series] = count(value)

    return handle


def _peak_total(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    parsed.peak_total[hour_start(day, _hour(rest))] = count(value)


def _ttfr(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    dim, _, label = rest.rpartition(":")
    if not dim:
        raise ValueError(name)
    parsed.ttfr[dim][parse_bucket(label)] += count(value)


def _ttfr_sum(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    if not rest:
        raise ValueError(name)
    parsed.ttfr_sum[rest] += float(value)


def _ttfr_count(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    if not rest:
        raise ValueError(name)
    parsed.ttfr_count[rest] += count(value)


def _ttfr_max(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    if not rest:
        raise ValueError(name)
    parsed.ttfr_max[rest] = max(parsed.ttfr_max.get(rest, 0), count(value))


def _waited(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    parsed.waited[parse_bucket(rest)] += count(value)


def _waited_sum(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    if rest:
        raise ValueError(name)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    parsed.waited_sum += number


def _waited_count(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    if rest:
        raise ValueError(name)
    parsed.waited_count += count(value)


def _waited_max(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    if rest:
        raise ValueError(name)
    parsed.waited_max = max(parsed.waited_max or 0, count(value))


def _by_reason(target: Callable[[ParsedStats], dict[str, int]]) -> _Handler:
    def handle(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
        if not rest:
            raise ValueError(name)
        target(parsed)[rest] += count(value)

    return handle


def _duration(histogram: str, part: str) -> _Handler:
    """``<histogram>:<bucket>``, ``<histogram>_sum``, ``<histogram>_count`` or ``<histogram>_max`` (``part``:
    bucket, sum, count, max)."""

    def handle(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
        target = parsed.durations[histogram]
        if part == "bucket":
            target.buckets[parse_bucket(rest)] += count(value)
            return
        if rest:
            raise ValueError(name)
        if part == "sum":
            target.total += count(value)
        elif part == "max":
            target.largest = max(target.largest or 0, count(value))
        else:
            target.count += count(value)

    return handle


def _online_snap(day: date, name: str, rest: str, value: str, parsed: ParsedStats) -> None:
    """The writers' bookkeeping for the hourly Online sets (docs/STATS.md): not a figure."""


_HANDLERS: dict[str, _Handler] = {
    "decided": _decided,
    "arrived": _arrived,
    "assigned": _assigned,
    "uq_depth": _depth_or_peak(lambda parsed: parsed.depth),
    "uq_peak": _depth_or_peak(lambda parsed: parsed.peak),
    "uq_peak_total": _peak_total,
    "ttfr": _ttfr,
    "ttfr_sum": _ttfr_sum,
    "ttfr_count": _ttfr_count,
    "ttfr_max": _ttfr_max,
    "waited": _waited,
    "waited_sum": _waited_sum,
    "waited_count": _waited_count,
    "waited_max": _waited_max,
    "online_snap": _online_snap,
    "reassigned": _by_reason(lambda parsed: parsed.reassigned),
    "reassign_waiting": _by_reason(lambda parsed: parsed.reassign_waiting),
    **{name: _duration(name, "bucket") for name in REASSIGN_DURATIONS},
    **{f"{name}_sum": _duration(name, "sum") for name in REASSIGN_DURATIONS},
    **{f"{name}_count": _duration(name, "count") for name in REASSIGN_DURATIONS},
    **{f"{name}_max": _duration(name, "max") for name in REASSIGN_DURATIONS},
}


def parse_fields(day: date, fields: DayStats, parsed: ParsedStats) -> None:
    """Add one day's fields to ``parsed``; unrecognised or malformed ones go to ``parsed.ignored``."""
    for name, value in fields.items():
        kind, _, rest = name.partition(":")
        try:
            handler = _HANDLERS.get(kind)
            if handler is None:
                raise ValueError(name)
            handler(day, name, rest, value, parsed)
        except ValueError:
            parsed.ignored.append(f"{day.isoformat()} {name}={value}")
