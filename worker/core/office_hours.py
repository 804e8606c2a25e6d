"""Is the office open at a given instant, and if not, when does it next open?

Pure functions: no I/O and no clock reads. The instant is always passed in (a ticket's
``created_at``), so the decision is reproducible and testable.

Semantics (the office is the :class:`~schemas.office_hours.OfficeHours` of one account):

* ``None`` means no office hours are set: always open.
* Wall-clock times are read in the office's IANA zone with :mod:`zoneinfo`. An interval belongs to
  the local date it starts on; ``fri 22:00-02:00`` runs from Friday 22:00 to Saturday 02:00 local time
  and ``24:00`` is the next day's 00:00. Intervals are half-open, ``[start, end)``.
* A closed date closes its whole local calendar day, ``[00:00, 24:00)``. An interval crossing midnight
  into a closed date stops at midnight; one that starts on a closed date and crosses into an open day is
  open from that day's 00:00.
* Daylight saving. A wall time that does not exist (the spring-forward gap, e.g. 02:30 on 8 March 2026
  in America/New_York) means the first instant after the gap (03:00 EDT = 07:00 UTC). An ambiguous wall
  time (the repeated hour when clocks fall back) means its first occurrence (``fold=0``); this applies
  to ends as well as starts, so ``00:00-01:30`` on a fall-back night closes at the *first* 01:30.
  Intervals are wall-clock, so ``09:00-17:00`` lasts eight hours except when a change falls inside it
  (seven or nine hours then). The same rules place local midnight for closed dates.
* Returned datetimes are UTC (``datetime.UTC``). Inputs may carry any offset but must be aware.
* :func:`next_opening` searches :data:`HORIZON_DAYS` local days ahead; office hours with no intervals,
  or closed dates covering the whole horizon, give ``None`` ("not within the horizon").

Cost: deciding one instant resolves only the intervals of the local day before, the day of and, when
closed, the following days up to the next opening (the scan stops at the first day whose midnight is
past the best candidate). It does not grow with the number of closed dates: a stretch of closed
dates (consecutive ones, or ones with only interval-less days between them: see
``OfficeHours.closed_stretch_end``) is crossed in one step, and its last day costs one wall-time
resolution; days without intervals cost a weekday lookup; office hours without intervals return at
once. After a stretch the next opening is at most a week away, so a search examines a handful of
days whatever the closed dates (``tests/test_office_hours_cost.py`` counts them). Wall-time
resolutions are memoised per (zone, date, minute), so a ticket on an already-seen day costs under
~10 us (about 15-35 us uncached) for "mon-fri 09:00-17:00"; the zone, the interval minutes, the
closed-date set and the stretches are precomputed by the model (docs/PERFORMANCE.md, "Office hours").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from schemas.office_hours import MINUTES_PER_DAY, OfficeHours

HORIZON_DAYS = 400
"""How many local days :func:`next_opening` looks ahead before giving up."""

_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1)


def is_open(hours: OfficeHours | None, at: datetime) -> bool:
    """True if the office is open at ``at`` (always, when ``hours`` is ``None``).

    Raises:
        ValueError: ``at`` is naive.
    """
    if hours is None:
        return True
    at_utc = _naive_utc(at)
    return _first_open(hours, at_utc, stop_after=at_utc) == at_utc


def next_opening(hours: OfficeHours | None, at: datetime) -> datetime | None:
    """The earliest instant ``>= at`` at which the office is open, in UTC.

    Returns ``at`` itself (in UTC) when open now, and ``None`` when the office does not open within
    :data:`HORIZON_DAYS` local days.

    Raises:
        ValueError: ``at`` is naive.
    """
    at_utc = _naive_utc(at)
    opening = at_utc if hours is None else _first_open(hours, at_utc, stop_after=None)
    return None if opening is None else opening.replace(tzinfo=UTC)


def gate(hours: OfficeHours | None, at: datetime) -> tuple[bool, datetime | None]:
    """``(is_open, available_at)`` in one search.

    ``available_at`` is ``None`` when open; otherwise the next opening in UTC, or ``None`` as well when
    the office does not open within the horizon (closed with no known opening).

    Raises:
        ValueError: ``at`` is naive.
    """
    if hours is None:
        _naive_utc(at)
        return True, None
    at_utc = _naive_utc(at)
    opening = _first_open(hours, at_utc, stop_after=None)
    if opening == at_utc:
        return True, None
    return False, None if opening is None else opening.replace(tzinfo=UTC)


# Internally instants are *naive* UTC datetimes: comparing and shifting them is the cheapest datetime
# arithmetic there is, and it sidesteps aware comparisons within one ZoneInfo (which ignore fold).


def _naive_utc(at: datetime) -> datetime:
    offset = at.utcoffset()
    if offset is None:
        raise ValueError(f"instant {at.isoformat()} must be timezone-aware")
    return at.replace(tzinfo=None) - offset


def _first_open(hours: OfficeHours, at: datetime, stop_after: datetime | None) -> datetime | None:
    """Earliest open instant ``>= at`` (naive UTC), or ``None``.

    Scans local days from the day before ``at``'s local date (its intervals may cross midnight) forward.
    A day's intervals cannot start before that day's local midnight, so the scan stops once a day begins
    at or after the best candidate, or after ``stop_after`` (``is_open`` only cares about ``at`` itself).
    Days without intervals cost a weekday lookup; a closed stretch (``OfficeHours.closed_stretch_end``)
    is crossed in one step to its last day, whose intervals can only open past its midnight.
    """
    zone = hours.zone
    table = hours.wall_minutes
    closed = hours.closed_date_set
    if not any(table):
        return None
    local_date = _local_date(zone, at)
    day = local_date - _DAY
    last_day = local_date + timedelta(days=HORIZON_DAYS)
    best: datetime | None = None
    while day <= last_day:
        # Local midnight of at's own date is never after ``at``, so only later days can end the scan.
        if day > local_date and (best is not None or stop_after is not None):
            day_start = _wall_to_utc(zone, day, 0)
            if (best is not None and day_start >= best) or (stop_after is not None and day_start > stop_after):
                break
        intervals = table[day.weekday()]
        if day in closed:
            stretch_end = hours.closed_stretch_end[day]
            if stretch_end > day:
                day = stretch_end  # nothing between here and there can open (see closed_stretch_end)
                continue
            candidate = _open_after_closed_day(zone, day, intervals, at)
        elif intervals:
            candidate = _open_on_day(zone, closed, day, intervals, at, day < local_date)
        else:
            candidate = None
        if candidate is not None and (best is None or candidate < best):
            best = candidate
            if best == at:
                return best
        day += _DAY
    return best


def _open_on_day(
    zone: ZoneInfo,
    closed: frozenset[date],
    day: date,
    intervals: tuple[tuple[int, int], ...],
    at: datetime,
    before_at: bool,
) -> datetime | None:
    """The earliest open instant ``>= at`` in the intervals starting on the open local ``day``.

    ``before_at``: ``day`` is before ``at``'s local date, so intervals ending by midnight are over."""
    found: datetime | None = None
    for start_minute, end_minute in intervals:
        if before_at and end_minute <= MINUTES_PER_DAY:
            continue
        if found is not None and _wall_to_utc(zone, day, start_minute) >= found:
            break  # sorted by start: no later interval opens earlier
        end = _wall_to_utc(zone, day, end_minute)
        if end <= at:
            continue
        start = _wall_to_utc(zone, day, start_minute)
        candidate = start if start > at else at
        if candidate >= end:
            continue  # swallowed by a spring-forward gap
        if closed:
            skipped = _skip_closed(zone, closed, candidate, end)
            if skipped is None:
                continue
            candidate = skipped
        if found is None or candidate < found:
            found = candidate
            if found == at:
                break
    return found


def _open_after_closed_day(
    zone: ZoneInfo, day: date, intervals: tuple[tuple[int, int], ...], at: datetime
) -> datetime | None:
    """The earliest open instant ``>= at`` of the intervals starting on a closed ``day`` whose next day is open.

    Only the parts past the next midnight are open, and all of them begin there (or at ``at``), so the
    interval that ends last decides: one wall-time resolution whatever the number of intervals."""
    latest_end = max(end for _, end in intervals) if intervals else 0
    if latest_end <= MINUTES_PER_DAY:
        return None
    end = _wall_to_utc(zone, day, latest_end)
    midnight = _wall_to_utc(zone, day + _DAY, 0)
    candidate = midnight if midnight > at else at
    return candidate if candidate < end else None


def _local_date(zone: ZoneInfo, instant: datetime) -> date:
    """The local calendar date of a naive-UTC instant."""
    return instant.replace(tzinfo=UTC).astimezone(zone).date()


def _skip_closed(zone: ZoneInfo, closed: frozenset[date], candidate: datetime, end: datetime) -> datetime | None:
    """Move ``candidate`` past any closed local days; ``None`` if that reaches ``end``."""
    while candidate < end:
        local_date = _local_date(zone, candidate)
        for day in (local_date, local_date - _DAY, local_date + _DAY):
            if day in closed and _wall_to_utc(zone, day, 0) <= candidate < _wall_to_utc(zone, day + _DAY, 0):
                candidate = _wall_to_utc(zone, day + _DAY, 0)
                break
        else:
            return candidate
    return None


@lru_cache(maxsize=16384)
def _wall_to_utc(zone: ZoneInfo, day: date, minutes: int) -> datetime:
    """The naive-UTC instant of local wall time ``day 00:00 + minutes`` (minutes may run past 24:00).

    Ambiguous wall times take the first occurrence (fold=0); wall times in a gap take the first instant
    after the gap. Memoised: tickets arriving on the same days resolve the same few wall times, and a
    cache hit costs a fraction of the zoneinfo arithmetic (16k entries is about 2 MB).
    """
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    # fold=0 reads a wall time next to a change with the offset before the change, fold=1 with the one after.
    offset = zone.utcoffset(naive)
    offset_after = zone.utcoffset(naive.replace(fold=1))
    assert offset is not None and offset_after is not None  # a ZoneInfo always has an offset
    if offset >= offset_after:
        return naive - offset  # repeated hour: first occurrence
    # In a gap: fold=0 gives an instant at or after the change, fold=1 one before it; bisect between.
    return _transition_between(zone, naive - offset_after, naive - offset, offset)


def _transition_between(zone: ZoneInfo, before: datetime, after: datetime, old_offset: timedelta) -> datetime:
    """The first whole-second naive-UTC instant in ``(before, after]`` whose offset is not ``old_offset``."""
    low = int((before - _EPOCH).total_seconds())
    high = int((after - _EPOCH).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == old_offset:
            low = middle
        else:
            high = middle
    return _EPOCH + timedelta(seconds=high)
