"""Which UTC days a report covers: the ``--from``/``--to`` options turned into an inclusive period.

Kept apart from the figures because the CLI resolves (and refuses) a period before it touches
Redis, and every other module only needs the day and hour arithmetic below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from schemas.plain import date_problem

DEFAULT_DAYS = 7
MAX_DAYS = 400
"""Stats are kept about this long (docs/STATS.md), so a longer period would only find expired days."""


def parse_day(option: str, value: str) -> date:
    """A day option as a date, or a one-line ``ValueError`` naming the option, the value and why
    (``--from '2026-02-30': not a real date (February 2026 has 28 days)``).

    Only ``YYYY-MM-DD``: the compact and ISO-week forms Python's ``date.fromisoformat`` also reads
    (``20261124``, ``2026-W48-2``) are turned away.
    """
    if len(value) == 10 and value[4] == "-" and value[7] == "-" and value.replace("-", "").isdigit():
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{option} {value!r}: {date_problem(value)}")


def resolve_period(today: date, day_from: str | None, day_to: str | None) -> tuple[date, date]:
    """The inclusive UTC days to report on. Default: the last 7 days up to ``today``.

    Only ``--from``: up to today. Only ``--to``: the 7 days ending then. Raises ``ValueError`` with a
    one-line message for a malformed date, ``--from`` after ``--to``, or more than 400 days.
    """
    end = parse_day("--to", day_to) if day_to else None
    start = parse_day("--from", day_from) if day_from else None
    if end is None:
        end = today if start is None or start <= today else start
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValueError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise ValueError(f"the period is {days} days; at most {MAX_DAYS} (stats are kept about that long)")
    return start, end


def days_of(day_from: date, day_to: date) -> list[date]:
    """Every day of the inclusive period, oldest first (one stats hash each)."""
    return [day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)]


def hour_start(day: date, hour: int) -> datetime:
    """The UTC hour a stats field is filed under, as an aware datetime (the hourly series' key)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
