"""Office hours: the schema (specs, validation) and the gate (open now? next opening?).

DST dates used below (all 2026):
* America/New_York springs forward Sun 8 March 02:00 EST -> 03:00 EDT (07:00 UTC) and falls back
  Sun 1 November 02:00 EDT -> 01:00 EST (06:00 UTC).
* Europe/Berlin springs forward Sun 29 March 02:00 CET -> 03:00 CEST (01:00 UTC) and falls back
  Sun 25 October 03:00 CEST -> 02:00 CET (01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.hours_spec import parse_hours_spec
from schemas.office_hours import OfficeHours, TimeInterval, Weekday
from worker.core.office_hours import gate, is_open, next_opening


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def hours(tz: str, *specs: str, closed: tuple[str, ...] = ()) -> OfficeHours:
    return OfficeHours.from_specs(tz, list(specs), list(closed))


def frozen_now(instant: str) -> datetime:
    """Travel to ``instant`` and read the clock the way a worker would."""
    with freeze_time(instant):
        return datetime.now(UTC)


WEBCHAT = hours("America/New_York", "mon-fri 09:00-17:00")


# --- the gate, ordinary days ---------------------------------------------------------------------


def test_no_office_hours_is_always_open() -> None:
    at = utc(2026, 3, 8, 3)
    assert is_open(None, at)
    assert next_opening(None, at) == at
    assert gate(None, at) == (True, None)


def test_webchat_hours_open_inside_interval() -> None:
    # Tuesday 10 March 2026, 11:00 EDT.
    assert is_open(WEBCHAT, utc(2026, 3, 10, 15))
    assert gate(WEBCHAT, utc(2026, 3, 10, 15)) == (True, None)


def test_webchat_hours_closed_before_opening_reports_todays_opening() -> None:
    at = utc(2026, 3, 10, 12, 59, 59)  # 08:59:59 EDT
    assert not is_open(WEBCHAT, at)
    assert gate(WEBCHAT, at) == (False, utc(2026, 3, 10, 13))


def test_interval_end_is_exclusive() -> None:
    assert is_open(WEBCHAT, utc(2026, 3, 10, 20, 59, 59))
    assert not is_open(WEBCHAT, utc(2026, 3, 10, 21))
    assert next_opening(WEBCHAT, utc(2026, 3, 10, 21)) == utc(2026, 3, 11, 13)


def test_next_opening_when_open_is_the_instant_itself_in_utc() -> None:
    at = datetime(2026, 3, 10, 11, 0, 0, 123456, tzinfo=ZoneInfo("America/New_York"))
    opening = next_opening(WEBCHAT, at)
    assert opening == at
    assert opening is not None and opening.tzinfo is UTC


def test_next_opening_skips_weekend() -> None:
    friday_evening = utc(2026, 2, 27, 22, 30)  # Fri 17:30 EST
    assert gate(WEBCHAT, friday_evening) == (False, utc(2026, 3, 2, 14))  # Mon 09:00 EST


def test_available_at_is_utc_whatever_offset_the_instant_has() -> None:
    at = datetime(2026, 2, 28, 12, tzinfo=timezone(timedelta(hours=9)))
    _, available_at = gate(WEBCHAT, at)
    assert available_at == utc(2026, 3, 2, 14)
    assert available_at is not None and available_at.tzinfo is UTC


def test_several_intervals_a_day_leave_the_lunch_break_closed() -> None:
    h = hours("UTC", "mon,wed,fri 09:00-12:00 13:00-17:30")
    assert is_open(h, utc(2026, 3, 9, 11, 59))
    assert gate(h, utc(2026, 3, 9, 12, 30)) == (False, utc(2026, 3, 9, 13))
    assert is_open(h, utc(2026, 3, 9, 17, 29))
    assert next_opening(h, utc(2026, 3, 9, 17, 30)) == utc(2026, 3, 11, 9)


def test_overlapping_intervals_are_open_for_their_union() -> None:
    h = hours("UTC", "mon 09:00-12:00 11:00-14:00")
    assert is_open(h, utc(2026, 3, 9, 13, 59))
    assert not is_open(h, utc(2026, 3, 9, 14))


def test_interval_crossing_midnight_is_open_after_midnight() -> None:
    h = hours("Europe/London", "fri 22:00-02:00")
    assert is_open(h, utc(2026, 3, 6, 23))  # Fri 23:00 GMT
    assert is_open(h, utc(2026, 3, 7, 1, 59, 59))  # Sat 01:59:59
    assert not is_open(h, utc(2026, 3, 7, 2))


def test_interval_crossing_midnight_opens_the_evening_before() -> None:
    h = hours("Europe/London", "fri 22:00-02:00")
    assert next_opening(h, utc(2026, 3, 7, 2)) == utc(2026, 3, 13, 22)


def test_day_range_wraps_around_the_week() -> None:
    h = hours("UTC", "fri-mon 22:00-02:00")
    assert is_open(h, utc(2026, 3, 8, 23))  # Sunday night
    assert is_open(h, utc(2026, 3, 10, 1))  # Monday's interval, early Tuesday
    assert not is_open(h, utc(2026, 3, 10, 23))  # Tuesday night


def test_consecutive_intervals_across_midnight_join_without_a_gap() -> None:
    h = hours("UTC", "mon 20:00-24:00", "tue 00:00-04:00")
    assert is_open(h, utc(2026, 3, 10, 0))
    assert next_opening(h, utc(2026, 3, 9, 19)) == utc(2026, 3, 9, 20)
    assert not is_open(h, utc(2026, 3, 10, 4))


def test_full_day_is_always_open_that_day() -> None:
    h = hours("Asia/Kolkata", "daily 00:00-24:00")
    assert is_open(h, utc(2026, 5, 17, 18, 29))
    assert is_open(h, utc(2026, 5, 17, 18, 31))


def test_office_hours_without_intervals_never_open() -> None:
    h = hours("UTC")
    assert not is_open(h, utc(2026, 3, 9, 12))
    assert gate(h, utc(2026, 3, 9, 12)) == (False, None)


def test_naive_instant_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(WEBCHAT, datetime(2026, 3, 9, 12))


# --- closed dates --------------------------------------------------------------------------------


def test_closed_date_closes_whole_day() -> None:
    h = hours("Europe/Berlin", "daily 00:00-24:00", closed=("2026-12-25",))
    assert is_open(h, utc(2026, 12, 24, 22, 59, 59))  # 24 Dec 23:59:59 CET
    assert not is_open(h, utc(2026, 12, 24, 23))  # 25 Dec 00:00 CET
    assert gate(h, utc(2026, 12, 25, 12)) == (False, utc(2026, 12, 25, 23))  # 26 Dec 00:00 CET


def test_next_opening_skips_closed_dates() -> None:
    h = hours("America/New_York", "mon-fri 09:00-17:00", closed=("2026-12-24", "2026-12-25"))
    assert next_opening(h, utc(2026, 12, 23, 23)) == utc(2026, 12, 28, 14)


def test_interval_crossing_midnight_into_closed_date_stops_at_midnight() -> None:
    h = hours("UTC", "thu 22:00-02:00", closed=("2026-03-06",))  # Friday closed
    assert is_open(h, utc(2026, 3, 5, 23, 59, 59))
    assert not is_open(h, utc(2026, 3, 6, 0, 30))


def test_interval_starting_on_closed_date_opens_at_next_midnight() -> None:
    h = hours("UTC", "fri 22:00-02:00", closed=("2026-03-06",))  # Friday closed
    assert gate(h, utc(2026, 3, 6, 21)) == (False, utc(2026, 3, 7, 0))
    assert is_open(h, utc(2026, 3, 7, 1))


def test_no_opening_within_horizon_gives_none() -> None:
    first_monday = date(2026, 3, 2)
    mondays = tuple(str(first_monday + timedelta(weeks=k)) for k in range(60))
    h = hours("UTC", "mon 09:00-17:00", closed=mondays)
    assert gate(h, utc(2026, 3, 1)) == (False, None)


# --- daylight saving: America/New_York ------------------------------------------------------------


def test_dst_spring_forward_start_in_gap_opens_after_the_gap() -> None:
    h = hours("America/New_York", "sun 02:30-05:00")
    now = frozen_now("2026-03-08 06:59:59")  # 01:59:59 EST
    assert not is_open(h, now)
    assert gate(h, now) == (False, utc(2026, 3, 8, 7))  # 03:00 EDT, the first instant after the gap
    assert is_open(h, frozen_now("2026-03-08 07:00:00"))


def test_dst_spring_forward_interval_ends_on_new_offset() -> None:
    h = hours("America/New_York", "sun 02:30-05:00")
    assert is_open(h, frozen_now("2026-03-08 08:59:59"))
    now = frozen_now("2026-03-08 09:00:00")  # 05:00 EDT
    assert not is_open(h, now)
    assert gate(h, now) == (False, utc(2026, 3, 15, 6, 30))  # next Sunday 02:30 EDT


def test_dst_spring_forward_interval_spanning_change_is_an_hour_shorter() -> None:
    h = hours("America/New_York", "sun 00:00-12:00")
    assert next_opening(h, frozen_now("2026-03-08 04:00:00")) == utc(2026, 3, 8, 5)  # 00:00 EST
    assert is_open(h, frozen_now("2026-03-08 15:59:59"))
    assert not is_open(h, frozen_now("2026-03-08 16:00:00"))  # 12:00 EDT: 11 hours after opening


def test_dst_spring_forward_weekend_next_opening_uses_new_offset() -> None:
    now = frozen_now("2026-03-06 22:30:00")  # Fri 17:30 EST
    assert gate(WEBCHAT, now) == (False, utc(2026, 3, 9, 13))  # Mon 09:00 EDT
    assert not is_open(WEBCHAT, frozen_now("2026-03-09 12:59:59"))
    assert is_open(WEBCHAT, frozen_now("2026-03-09 13:00:00"))


def test_dst_fall_back_ambiguous_start_uses_first_occurrence() -> None:
    h = hours("America/New_York", "sun 01:30-04:00")
    now = frozen_now("2026-11-01 05:29:59")  # 01:29:59 EDT
    assert gate(h, now) == (False, utc(2026, 11, 1, 5, 30))  # the first 01:30 (EDT)
    assert is_open(h, frozen_now("2026-11-01 06:30:00"))  # the repeated 01:30 (EST) is inside


def test_dst_fall_back_interval_ends_on_new_offset() -> None:
    h = hours("America/New_York", "sun 01:30-04:00")
    assert is_open(h, frozen_now("2026-11-01 08:59:59"))
    assert not is_open(h, frozen_now("2026-11-01 09:00:00"))  # 04:00 EST


def test_dst_fall_back_ambiguous_end_closes_at_first_occurrence() -> None:
    h = hours("America/New_York", "sun 00:00-01:30")
    assert is_open(h, frozen_now("2026-11-01 05:29:59"))
    now = frozen_now("2026-11-01 06:15:00")  # the repeated 01:15, wall-clock inside 00:00-01:30
    assert not is_open(h, now)
    assert gate(h, now) == (False, utc(2026, 11, 8, 5))  # next Sunday 00:00 EST


def test_dst_fall_back_interval_spanning_change_is_an_hour_longer() -> None:
    h = hours("America/New_York", "sun 00:00-12:00")
    assert next_opening(h, frozen_now("2026-11-01 03:00:00")) == utc(2026, 11, 1, 4)  # 00:00 EDT
    assert is_open(h, frozen_now("2026-11-01 16:59:59"))
    assert not is_open(h, frozen_now("2026-11-01 17:00:00"))  # 12:00 EST: 13 hours after opening


def test_dst_fall_back_weekend_next_opening_uses_new_offset() -> None:
    now = frozen_now("2026-10-30 21:30:00")  # Fri 17:30 EDT
    assert gate(WEBCHAT, now) == (False, utc(2026, 11, 2, 14))  # Mon 09:00 EST
    assert not is_open(WEBCHAT, frozen_now("2026-11-02 13:59:59"))
    assert is_open(WEBCHAT, frozen_now("2026-11-02 14:00:00"))


# --- daylight saving: Europe/Berlin ---------------------------------------------------------------


def test_dst_spring_forward_berlin_start_in_gap_opens_at_three() -> None:
    h = hours("Europe/Berlin", "sun 02:15-06:00")
    now = frozen_now("2026-03-29 00:59:59")  # 01:59:59 CET
    assert gate(h, now) == (False, utc(2026, 3, 29, 1))  # 03:00 CEST
    assert is_open(h, frozen_now("2026-03-29 01:00:00"))
    assert not is_open(h, frozen_now("2026-03-29 04:00:00"))  # 06:00 CEST


def test_dst_spring_forward_berlin_next_morning_opens_an_hour_earlier_in_utc() -> None:
    h = hours("Europe/Berlin", "daily 08:00-18:00")
    now = frozen_now("2026-03-28 17:30:00")  # Sat 18:30 CET
    assert gate(h, now) == (False, utc(2026, 3, 29, 6))  # Sun 08:00 CEST


def test_dst_fall_back_berlin_next_morning_opens_an_hour_later_in_utc() -> None:
    h = hours("Europe/Berlin", "daily 08:00-18:00")
    now = frozen_now("2026-10-24 16:30:00")  # Sat 18:30 CEST
    assert gate(h, now) == (False, utc(2026, 10, 25, 7))  # Sun 08:00 CET
    assert is_open(h, frozen_now("2026-10-25 16:59:59"))
    assert not is_open(h, frozen_now("2026-10-25 17:00:00"))  # 18:00 CET


def test_dst_fall_back_berlin_repeated_hour_interval_spans_both_occurrences() -> None:
    h = hours("Europe/Berlin", "sun 02:30-03:00")
    now = frozen_now("2026-10-25 00:29:59")
    assert gate(h, now) == (False, utc(2026, 10, 25, 0, 30))  # first 02:30 (CEST)
    assert is_open(h, frozen_now("2026-10-25 01:45:00"))  # second 02:45 (CET)
    assert not is_open(h, frozen_now("2026-10-25 02:00:00"))  # 03:00 CET


def test_closed_date_on_dst_day_closes_its_local_day() -> None:
    h = hours("Europe/Berlin", "daily 00:00-24:00", closed=("2026-03-29",))
    assert is_open(h, utc(2026, 3, 28, 22, 59, 59))  # 28 Mar 23:59:59 CET
    assert gate(h, utc(2026, 3, 28, 23)) == (False, utc(2026, 3, 29, 22))  # 30 Mar 00:00 CEST


def test_dst_gap_at_local_midnight_opens_the_day_at_first_instant() -> None:
    # America/Santiago springs forward Sun 6 Sep 2026 at 00:00 -04 -> 01:00 -03 (04:00 UTC).
    h = hours("America/Santiago", "sun 00:00-02:00")
    assert gate(h, frozen_now("2026-09-06 03:30:00")) == (False, utc(2026, 9, 6, 4))
    assert is_open(h, frozen_now("2026-09-06 04:59:59"))
    assert not is_open(h, frozen_now("2026-09-06 05:00:00"))  # 02:00 -03


def test_day_skipped_by_zone_change_has_no_office_hours() -> None:
    # Pacific/Apia jumped from 29 Dec 2011 24:00 (-10) to 31 Dec 00:00 (+14): 30 Dec never happened.
    h = hours("Pacific/Apia", "daily 09:00-17:00")
    assert gate(h, utc(2011, 12, 30, 4)) == (False, utc(2011, 12, 30, 19))  # 31 Dec 09:00 +14


# --- schema: time zone, intervals, closed dates ----------------------------------------------------


def test_unknown_timezone_refused_with_zone_name() -> None:
    with pytest.raises(ValidationError, match="Mars/Olympus_Mons") as exc_info:
        OfficeHours(timezone="Mars/Olympus_Mons")
    assert exc_info.value.errors()[0]["loc"] == ("timezone",)


def test_path_like_timezone_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        OfficeHours(timezone="../../etc/passwd")


def test_interval_with_start_equal_to_end_refused() -> None:
    with pytest.raises(ValidationError, match="00:00-24:00"):
        TimeInterval(start="09:00", end="09:00")


def test_interval_full_day_written_00_to_24_accepted() -> None:
    interval = TimeInterval(start="00:00", end="24:00")
    assert (interval.start_minute, interval.end_minute, interval.duration_minutes) == (0, 1440, 1440)


def test_interval_start_of_24_00_refused() -> None:
    with pytest.raises(ValidationError, match="start '24:00'"):
        TimeInterval(start="24:00", end="02:00")


def test_interval_crossing_midnight_minutes() -> None:
    interval = TimeInterval.parse("22:00-02:00")
    assert interval.crosses_midnight
    assert (interval.start_minute, interval.end_minute, interval.end_offset_minute) == (1320, 120, 1560)
    assert interval.duration_minutes == 240


def test_interval_accepts_compact_string_in_json() -> None:
    h = OfficeHours.model_validate_json('{"timezone": "UTC", "weekly": {"mon": ["09:00-17:00"]}}')
    assert h.weekly == {Weekday.MON: [TimeInterval(start="09:00", end="17:00")]}


def test_unknown_field_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        OfficeHours.model_validate({"timezone": "UTC", "timezon": "UTC"})


def test_office_hours_are_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        WEBCHAT.timezone = "UTC"


def test_closed_dates_sorted_and_deduplicated() -> None:
    h = hours("UTC", closed=("2026-12-25", "2026-01-01", "2026-12-25"))
    assert h.closed_dates == [date(2026, 1, 1), date(2026, 12, 25)]


def test_more_than_1000_closed_dates_refused() -> None:
    many = [date(2026, 1, 1) + timedelta(days=k) for k in range(1001)]
    with pytest.raises(ValidationError, match="closed_dates"):
        OfficeHours(timezone="UTC", closed_dates=many)


def test_bad_closed_date_named_in_error() -> None:
    with pytest.raises(ValueError, match=r"^closed 2026-02-30: not a real date \(February 2026 has 28 days\)$"):
        hours("UTC", closed=("2026-02-30",))


def test_weekly_intervals_sorted_and_duplicates_dropped() -> None:
    h = hours("UTC", "mon 13:00-17:00", "mon 09:00-12:00", "mon 13:00-17:00")
    assert [str(iv) for iv in h.weekly[Weekday.MON]] == ["09:00-12:00", "13:00-17:00"]


def test_office_hours_json_round_trip() -> None:
    h = hours("Europe/Berlin", "mon-fri 09:00-17:00", "fri-mon 22:00-02:00", closed=("2026-12-25",))
    assert OfficeHours.model_validate_json(h.model_dump_json()) == h


# --- schema: spec parser ---------------------------------------------------------------------------


def test_spec_parser_day_range() -> None:
    parsed = parse_hours_spec("mon-fri 09:00-17:00")
    assert list(parsed) == [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]
    assert parsed[Weekday.WED] == [TimeInterval(start="09:00", end="17:00")]


def test_spec_parser_day_list_with_several_intervals() -> None:
    parsed = parse_hours_spec("mon,wed,fri 09:00-12:00 13:00-17:30")
    assert list(parsed) == [Weekday.MON, Weekday.WED, Weekday.FRI]
    assert [str(iv) for iv in parsed[Weekday.FRI]] == ["09:00-12:00", "13:00-17:30"]


def test_spec_parser_range_wraps_around_the_week() -> None:
    assert list(parse_hours_spec("fri-mon 22:00-02:00")) == [Weekday.MON, Weekday.FRI, Weekday.SAT, Weekday.SUN]


def test_spec_parser_daily_is_every_day() -> None:
    assert list(parse_hours_spec("daily 00:00-24:00")) == list(Weekday)


def test_spec_parser_day_names_case_insensitive() -> None:
    assert list(parse_hours_spec("Sat 10:00-14:00")) == [Weekday.SAT]


@pytest.mark.parametrize(
    ("spec", "quoted"),
    [
        ("mon-fry 09:00-17:00", "'fry'"),
        ("mon 9:00-17:00", "'9:00-17:00'"),
        ("mon 09:00-25:00", "'25:00'"),
        ("mon 09:00-09:00", "'09:00-09:00'"),
        ("mon-fri", '"mon-fri"'),
        ("", "empty"),
    ],
)
def test_spec_parser_error_quotes_bad_part(spec: str, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted) as exc_info:
        parse_hours_spec(spec)
    assert "\n" not in str(exc_info.value)


def test_from_specs_merges_specs_per_day() -> None:
    h = hours("UTC", "mon-fri 09:00-12:00", "mon 13:00-17:00")
    assert [str(iv) for iv in h.weekly[Weekday.MON]] == ["09:00-12:00", "13:00-17:00"]
    assert [str(iv) for iv in h.weekly[Weekday.TUE]] == ["09:00-12:00"]


def test_to_specs_renders_compact_ranges() -> None:
    h = hours("UTC", "mon-fri 09:00-17:00", "fri-mon 22:00-02:00", "sat 10:00-14:00", "sun 10:00-14:00")
    assert h.to_specs() == ["mon-fri 09:00-17:00", "fri-mon 22:00-02:00", "sat,sun 10:00-14:00"]


def test_to_specs_renders_every_day_as_daily() -> None:
    assert hours("UTC", "mon-sun 00:00-24:00").to_specs() == ["daily 00:00-24:00"]


# --- properties ------------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Santiago",  # DST changes at local midnight
    "America/Havana",
    "Pacific/Chatham",
    "Asia/Kolkata",
]


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def intervals(draw: st.DrawFn) -> TimeInterval:
    # Quarter hours reach DST gaps and repeated hours often; any minute is valid.
    start = draw(st.integers(0, 95)) * 15
    end = draw(st.integers(0, 96).map(lambda q: q * 15).filter(lambda m: m != start))
    return TimeInterval(start=_clock(start), end=_clock(end))


@st.composite
def office_hours(draw: st.DrawFn, zones: list[str] = ZONES) -> OfficeHours:
    weekly = draw(st.dictionaries(st.sampled_from(list(Weekday)), st.lists(intervals(), max_size=3), max_size=7))
    closed = draw(st.lists(st.dates(date(2025, 12, 1), date(2027, 2, 1)), max_size=20))
    return OfficeHours(timezone=draw(st.sampled_from(zones)), weekly=weekly, closed_dates=closed)


def _transitions_2026(name: str) -> list[datetime]:
    """UTC instants in 2026 at which the zone changes offset (found at half-hour resolution)."""
    zone = ZoneInfo(name)
    found: list[datetime] = []
    instant = utc(2026, 1, 1)
    previous = instant.astimezone(zone).utcoffset()
    while instant.year == 2026:
        offset = instant.astimezone(zone).utcoffset()
        if offset != previous:
            found.append(instant)
        previous = offset
        instant += timedelta(minutes=30)
    return found


TRANSITIONS = {name: _transitions_2026(name) for name in ZONES}


@st.composite
def hours_and_instant(draw: st.DrawFn) -> tuple[OfficeHours, datetime]:
    """Random office hours and an instant, half the time within 36 hours of one of its zone's DST changes."""
    h = draw(office_hours())
    uniform = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))
    near_change = st.builds(
        lambda base, seconds: base + timedelta(seconds=seconds),
        st.sampled_from(TRANSITIONS[h.timezone] or [utc(2026, 3, 8)]),
        st.integers(-36 * 3600, 36 * 3600),
    )
    return h, draw(st.one_of(uniform, near_change))


@settings(max_examples=250, deadline=None)
@given(case=hours_and_instant())
def test_next_opening_is_the_first_open_instant_at_or_after_t(case: tuple[OfficeHours, datetime]) -> None:
    h, t = case
    opening = next_opening(h, t)
    assert gate(h, t) == ((True, None) if opening == t else (False, opening))
    if opening is None:
        assert not is_open(h, t)
        return
    assert opening >= t
    assert opening.tzinfo is UTC
    assert is_open(h, opening)
    if opening != t:
        assert not is_open(h, t)
        assert not is_open(h, opening - timedelta(seconds=1))
        assert not is_open(h, t + (opening - t) / 2)


@settings(max_examples=200, deadline=None)
@given(
    h=office_hours(zones=["UTC", "Asia/Kolkata", "Asia/Tokyo"]),
    t=st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)),
)
def test_is_open_matches_wall_clock_reference_in_zones_without_dst(h: OfficeHours, t: datetime) -> None:
    local = t.astimezone(ZoneInfo(h.timezone)).replace(tzinfo=None)
    minute_of_day = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
    expected = local.date() not in h.closed_dates and any(
        interval.start_minute <= minute_of_day + 1440 * back < interval.end_offset_minute
        for back in (0, 1)
        for interval in h.weekly.get(Weekday.from_number(local.date().weekday() - back), [])
    )
    assert is_open(h, t) == expected


@settings(max_examples=200, deadline=None)
@given(h=office_hours())
def test_to_specs_parses_back_to_the_same_hours(h: OfficeHours) -> None:
    assert OfficeHours.from_specs(h.timezone, h.to_specs(), list(h.closed_dates)) == h
