"""The next-opening search does not grow with the number of closed dates (and still finds the right opening).

It used to examine every closed day and every interval on it: 48 intervals a day and 1,000
consecutive closed dates cost a worker ~300 ms per webchat ticket. The work is counted here in
operations, never timed: the days whose intervals are examined and the wall-time resolutions (each a
zoneinfo conversion), through counting wrappers around the module's own functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import worker.core.office_hours as office_hours
from schemas.office_hours import OfficeHours, TimeInterval, Weekday
from worker.core.office_hours import HORIZON_DAYS, next_opening

AT = datetime(2026, 11, 24, 22, 55, tzinfo=UTC)  # Tuesday 23:55 in Berlin, after every interval of the day
FIRST_CLOSED = date(2026, 11, 25)
FORTY_EIGHT_A_DAY = [f"daily {' '.join(f'{h:02d}:{m:02d}-{h:02d}:{m + 15:02d}' for h in range(24) for m in (0, 30))}"]
WEEKDAYS = ["mon-fri 09:00-17:00"]


@pytest.fixture
def count(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Calls of the search's per-day and per-wall-time steps."""
    calls: Counter[str] = Counter()

    def counting(name: str) -> Callable[..., Any]:
        real = getattr(office_hours, name)

        def wrapper(*args: Any) -> Any:
            calls[name] += 1
            return real(*args)

        return wrapper

    for name in ("_open_on_day", "_open_after_closed_day", "_wall_to_utc"):
        monkeypatch.setattr(office_hours, name, counting(name))
    yield calls


def work(count: Counter[str], specs: list[str], closed: list[date]) -> tuple[dict[str, int], datetime | None]:
    hours = OfficeHours.from_specs("Europe/Berlin", specs, list(closed))
    count.clear()
    opening = next_opening(hours, AT)
    return dict(count), opening


def consecutive(n: int, first: date = FIRST_CLOSED, step: int = 1) -> list[date]:
    return [first + timedelta(days=step * k) for k in range(n)]


@pytest.mark.parametrize("specs", [FORTY_EIGHT_A_DAY, WEEKDAYS], ids=["48-a-day", "mon-fri"])
def test_a_long_run_of_closed_dates_costs_what_a_short_one_does(count: Counter[str], specs: list[str]) -> None:
    short, short_opening = work(count, specs, consecutive(3))
    long, long_opening = work(count, specs, consecutive(3 + 42 * 7))  # 42 weeks longer: the same weekdays follow
    assert short_opening is not None and long_opening is not None
    berlin = ZoneInfo("Europe/Berlin")
    local = short_opening.astimezone(berlin).replace(tzinfo=None)
    assert long_opening.astimezone(berlin).replace(tzinfo=None) == local + timedelta(weeks=42)
    assert long == short
    assert short["_open_on_day"] + short["_open_after_closed_day"] <= 5  # days whose intervals were examined


@pytest.mark.parametrize("specs", [FORTY_EIGHT_A_DAY, WEEKDAYS], ids=["48-a-day", "mon-fri"])
def test_closed_beyond_the_horizon_gives_up_at_once(count: Counter[str], specs: list[str]) -> None:
    short, _ = work(count, specs, consecutive(3))
    never, opening = work(count, specs, consecutive(1000))
    assert opening is None
    assert sum(never.values()) <= sum(short.values())


def test_closed_dates_with_only_days_without_intervals_between_are_one_stretch(count: Counter[str]) -> None:
    """An office open on Mondays only, with every Monday closed: each closed date is its own run of days."""
    mondays = consecutive(1000, first=date(2026, 11, 30), step=7)
    few, few_opening = work(count, ["mon 09:00-17:00"], mondays[:3])
    many, many_opening = work(count, ["mon 09:00-17:00"], mondays)
    assert few_opening == datetime(2026, 12, 21, 8, 0, tzinfo=UTC) and many_opening is None
    assert sum(many.values()) <= sum(few.values())


def test_an_interval_crossing_into_a_day_without_intervals_still_opens_it() -> None:
    """A closed Monday whose interval runs past midnight opens on Tuesday, between two closed Mondays."""
    hours = OfficeHours.from_specs("UTC", ["mon 22:00-02:00"], [date(2026, 11, 30), date(2026, 12, 7)])
    assert next_opening(hours, AT) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert hours.closed_stretch_end == {date(2026, 11, 30): date(2026, 11, 30), date(2026, 12, 7): date(2026, 12, 7)}


# --- the stretches never hide an opening: a reference in zones without DST --------------------------

NO_DST_ZONES = ["UTC", "Asia/Kolkata", "Asia/Tokyo"]
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def interval(draw: st.DrawFn) -> TimeInterval:
    start = draw(st.integers(0, 47)) * 30
    end = draw(st.integers(0, 48).map(lambda half: half * 30).filter(lambda m: m != start))
    return TimeInterval(start=_clock(start), end=_clock(end))


@st.composite
def densely_closed(draw: st.DrawFn) -> tuple[OfficeHours, datetime]:
    """Office hours with runs of closed dates right after the instant (and sometimes across it)."""
    t = T0 + timedelta(minutes=draw(st.integers(0, 14 * 24 * 60)))
    weekly = draw(st.dictionaries(st.sampled_from(list(Weekday)), st.lists(interval(), max_size=3), max_size=7))
    runs = draw(st.lists(st.tuples(st.integers(-2, 25), st.integers(1, 20)), max_size=4))
    day = t.date()
    closed = [day + timedelta(days=offset + k) for offset, length in runs for k in range(length)]
    return OfficeHours(timezone=draw(st.sampled_from(NO_DST_ZONES)), weekly=weekly, closed_dates=closed), t


def reference_is_open(h: OfficeHours, t: datetime) -> bool:
    local = t.astimezone(ZoneInfo(h.timezone)).replace(tzinfo=None)
    minute = local.hour * 60 + local.minute + local.second / 60
    return local.date() not in h.closed_dates and any(
        iv.start_minute <= minute + 1440 * back < iv.end_offset_minute
        for back in (0, 1)
        for iv in h.weekly.get(Weekday.from_number(local.date().weekday() - back), [])
    )


def reference_next_opening(h: OfficeHours, t: datetime, days: int) -> datetime | None:
    """The earliest open instant among the only places one can be: t, an interval start, a local midnight."""
    zone = ZoneInfo(h.timezone)
    candidates = [t]
    for k in range(-1, days):
        day = t.astimezone(zone).date() + timedelta(days=k)
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        candidates.append(midnight.astimezone(UTC))
        for iv in h.weekly.get(Weekday.from_number(day.weekday()), []):
            candidates.append((midnight + timedelta(minutes=iv.start_minute)).astimezone(UTC))
    return min((c for c in candidates if c >= t and reference_is_open(h, c)), default=None)


@settings(max_examples=300, deadline=None)
@given(case=densely_closed())
def test_next_opening_matches_the_reference_with_dense_closed_dates(case: tuple[OfficeHours, datetime]) -> None:
    h, t = case
    expected = reference_next_opening(h, t, days=60)
    opening = next_opening(h, t)
    if expected is None:
        assert opening is None or opening >= t + timedelta(days=58)
    else:
        assert opening == expected
    assert HORIZON_DAYS > 60
