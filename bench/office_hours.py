"""Office hours: the webchat gate's cost with many intervals and many closed dates.

    python -m bench --only office_hours [--quick]

Pure Python, no Redis (the bench framework still starts its server; nothing uses it). Each case is
one ``OfficeHours`` (Europe/Berlin) and a set of webchat arrival instants; ``gate()`` — what
``Engine.decide`` calls for a webchat ticket — is timed per call, with the wall-time memo
(``_wall_to_utc``) cleared before each call (*uncached*: the first ticket of a day, or a worker that
has just started) and without clearing it (*cached*: later tickets of the same days). The instants
are spread over a week starting on the first closed date, so closed cases always start inside their
closed stretch. Cases:

- **baseline**: ``mon-fri 09:00-17:00``, no closed dates;
- ``mon-fri 09:00-17:00`` with **1,000 consecutive closed dates** (the issue's 3.8 ms case);
- **48 intervals a day** (every half hour, 15 minutes each) with **1,000 consecutive closed dates**
  (the issue's 300 ms case);
- 48 intervals a day with **10 consecutive closed dates** (the opening is found, ten days on);
- an office open **Mondays only**, with **1,000 closed Mondays** in a row.

Reported per case: median µs per call (and the 99th percentile), the ratio to the baseline, and the
days whose intervals the search examined (counted, not timed). Before the fix the search stepped
through every closed day and every interval on it: the issue measured 300 ms and 3.8 ms for the two
cases it names, and the previous code (commit f1a62f5), timed by hand on the same machine the same way
(uncached, median of 20 of these instants), took 0.01 ms for the baseline, 2.98 ms for mon-fri with
1,000 closed dates, 196.5 ms for 48 intervals a day with 1,000, 4.27 ms with 10, and 0.41 ms for the
closed Mondays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import worker.core.office_hours as office_hours
from bench.common import markdown_table, median, ratio
from schemas.office_hours import OfficeHours
from worker.core.office_hours import gate

NAME = "office_hours"
TITLE = "Office hours: the webchat gate with many closed dates"

FIRST_CLOSED = date(2026, 12, 1)
HALF_HOURLY = "daily " + " ".join(f"{h:02d}:{m:02d}-{h:02d}:{m + 15:02d}" for h in range(24) for m in (0, 30))


def _days(first: date, n: int, step: int = 1) -> list[date]:
    return [first + timedelta(days=step * k) for k in range(n)]


CASES: dict[str, tuple[list[str], list[date]]] = {
    "baseline: mon-fri 09:00-17:00, no closed dates": (["mon-fri 09:00-17:00"], []),
    "mon-fri 09:00-17:00, 1,000 consecutive closed dates": (["mon-fri 09:00-17:00"], _days(FIRST_CLOSED, 1000)),
    "48 intervals a day, 1,000 consecutive closed dates": ([HALF_HOURLY], _days(FIRST_CLOSED, 1000)),
    "48 intervals a day, 10 consecutive closed dates": ([HALF_HOURLY], _days(FIRST_CLOSED, 10)),
    "mon 09:00-17:00, 1,000 closed Mondays in a row": (["mon 09:00-17:00"], _days(date(2026, 11, 30), 1000, 7)),
}


def params(quick: bool) -> dict[str, Any]:
    return {"instants": 50 if quick else 500, "rounds": 3 if quick else 5}


def _instants(n: int) -> list[datetime]:
    start = datetime(FIRST_CLOSED.year, FIRST_CLOSED.month, FIRST_CLOSED.day, tzinfo=UTC)
    return [start + timedelta(seconds=k * 7 * 24 * 3600 // n) for k in range(n)]


def _time_calls(hours: OfficeHours, instants: list[datetime], clear: bool) -> list[float]:
    times = []
    for at in instants:
        if clear:
            office_hours._wall_to_utc.cache_clear()
        started = time.perf_counter()
        gate(hours, at)
        times.append((time.perf_counter() - started) * 1e6)
    return times


def _days_examined(hours: OfficeHours, instants: list[datetime]) -> int:
    """The most days any one search examined (the per-day steps, counted through wrappers)."""
    calls = [0]
    real: dict[str, Callable[..., Any]] = {}
    for name in ("_open_on_day", "_open_after_closed_day"):
        real[name] = getattr(office_hours, name)

        def counting(*args: Any, _real: Callable[..., Any] = real[name]) -> Any:
            calls[0] += 1
            return _real(*args)

        setattr(office_hours, name, counting)
    most = 0
    try:
        for at in instants:
            calls[0] = 0
            gate(hours, at)
            most = max(most, calls[0])
    finally:
        for name, function in real.items():
            setattr(office_hours, name, function)
    return most


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    instants = _instants(p["instants"])
    hours = {name: OfficeHours.from_specs("Europe/Berlin", specs, list(days)) for name, (specs, days) in CASES.items()}
    samples: dict[str, dict[str, list[float]]] = {name: {"uncached": [], "cached": []} for name in CASES}
    for _ in range(p["rounds"]):  # rounds interleave the cases, so drift hits all alike
        for name, h in hours.items():
            samples[name]["uncached"] += _time_calls(h, instants, clear=True)
            _time_calls(h, instants, clear=False)  # warm the memo
            samples[name]["cached"] += _time_calls(h, instants, clear=False)
    baseline = list(CASES)[0]
    base_uncached = median(samples[baseline]["uncached"])
    cells: list[dict[str, Any]] = []
    for name, h in hours.items():
        uncached, cached = samples[name]["uncached"], samples[name]["cached"]
        cells.append(
            {
                "case": name,
                "uncached_us": median(uncached),
                "uncached_p99_us": _percentile(uncached, 0.99),
                "cached_us": median(cached),
                "uncached_ratio": ratio(median(uncached), base_uncached),
                "days_examined_max": _days_examined(h, instants),
            }
        )
    worst = max(cell["uncached_p99_us"] for cell in cells)
    return {
        "params": p,
        "summary": {"cells": cells},
        "verdict": {
            "slowest p99 uncached us": worst,
            "well under a millisecond": worst < 1000,
            "most days examined": max(cell["days_examined_max"] for cell in cells),
        },
    }


def render(result: dict[str, Any]) -> str:
    rows = [
        [
            c["case"],
            f"{c['uncached_us']:.1f}",
            f"{c['uncached_p99_us']:.1f}",
            f"**{c['uncached_ratio']:.2f}**",
            f"{c['cached_us']:.1f}",
            c["days_examined_max"],
        ]
        for c in result["summary"]["cells"]
    ]
    return markdown_table(
        ["case", "µs per gate, uncached (median)", "p99", "/ baseline", "µs cached (median)", "most days examined"],
        rows,
    )
