"""Office hours: an IANA time zone, weekly wall-clock intervals and closed dates (holidays).

The models only describe *what* the office hours are; ``worker/core/office_hours.py`` decides whether a
given instant is inside them. The CLI writes office hours as short specs, parsed by
:func:`schemas.hours_spec.parse_hours_spec`::

    mon-fri 09:00-17:00                  # a day range and one interval
    mon,wed,fri 09:00-12:00 13:00-17:30  # a day list and several intervals
    fri-mon 22:00-02:00                  # day ranges wrap around the week; the interval crosses midnight
    daily 00:00-24:00                    # "daily" is mon-sun; 00:00-24:00 is the whole day

An interval whose end is earlier than its start crosses midnight into the next day: ``fri
22:00-02:00`` is Friday 22:00 to Saturday 02:00. ``24:00`` is allowed as an end only. A start equal
to its end is refused (it could mean "nothing" or "the whole day"); the whole day is written
``00:00-24:00``. In JSON an interval may be given as ``{"start": "09:00", "end": "17:00"}`` or as the
string ``"09:00-17:00"``.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from schemas.plain import date_problem, shown
from schemas.timezones import load_zone

MINUTES_PER_DAY = 24 * 60
MAX_CLOSED_DATES = 1000
MAX_INTERVALS_PER_DAY = 48

_START_RE = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
_END_RE = re.compile(r"(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)")
_INTERVAL_RE = re.compile(r"([0-9][0-9]:[0-9][0-9])-([0-9][0-9]:[0-9][0-9])")
# ASCII digits only and whole-string matches (fullmatch): "0٩:00" or "09:00\n" are not times.


class Weekday(StrEnum):
    """Days of the week, in ISO order (Monday first), as written in specs."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """0 for Monday ... 6 for Sunday, matching :meth:`datetime.date.weekday`."""
        return _WEEKDAY_ORDER.index(self)

    @classmethod
    def from_number(cls, number: int) -> Weekday:
        """The weekday for a :meth:`datetime.date.weekday` number (0 = Monday)."""
        return _WEEKDAY_ORDER[number % 7]


_WEEKDAY_ORDER: tuple[Weekday, ...] = tuple(Weekday)


def _to_minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class TimeInterval(BaseModel):
    """One wall-clock interval of a weekday, ``[start, end)``; ``end < start`` crosses midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(description='Opening wall-clock time, "HH:MM" 24-hour, 00:00-23:59.')
    end: str = Field(
        description='Closing wall-clock time, "HH:MM" 24-hour, 00:00-24:00 (exclusive). Earlier than start means '
        "the interval ends on the next day; equal to start is refused (write the whole day as 00:00-24:00)."
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_compact_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _INTERVAL_RE.fullmatch(data.strip())
            if match is None:
                raise ValueError(f"{shown(data)} is not a time range: use HH:MM-HH:MM, e.g. 09:00-17:00")
            return {"start": match.group(1), "end": match.group(2)}
        if not isinstance(data, dict | TimeInterval):
            example = '"09:00-17:00" or {"start": "09:00", "end": "17:00"}'
            raise ValueError(f"{shown(data)} is not a time range: use {example}")
        return data

    @field_validator("start")
    @classmethod
    def _check_start(cls, value: str) -> str:
        if not _START_RE.fullmatch(value):
            raise ValueError(f"start {shown(value)} is not a start time: use HH:MM, 00:00-23:59, e.g. 09:00")
        return value

    @field_validator("end")
    @classmethod
    def _check_end(cls, value: str) -> str:
        if not _END_RE.fullmatch(value):
            raise ValueError(f"end {shown(value)} is not an end time: use HH:MM, 00:00-24:00, e.g. 17:00")
        return value

    @model_validator(mode="after")
    def _check_not_empty(self) -> TimeInterval:
        if self.start == self.end:
            raise ValueError(
                f"{shown(str(self))} starts and ends at the same time: "
                "write the whole day as 00:00-24:00, or end after the start"
            )
        return self

    @classmethod
    def parse(cls, text: str) -> TimeInterval:
        """Parse ``"HH:MM-HH:MM"``; raises ``ValueError`` quoting the bad text."""
        return cls.model_validate(text)

    @property
    def start_minute(self) -> int:
        """Minutes from local midnight to the start (0-1439)."""
        return _to_minutes(self.start)

    @property
    def end_minute(self) -> int:
        """Minutes from local midnight to the end on its own clock face (0-1440; 1440 is 24:00)."""
        return _to_minutes(self.end)

    @property
    def crosses_midnight(self) -> bool:
        """True when the interval ends on the next day (end earlier than start)."""
        return self.end_minute < self.start_minute

    @property
    def end_offset_minute(self) -> int:
        """The end in minutes from the *start day's* midnight: 1-2879, always greater than ``start_minute``."""
        end = self.end_minute
        return end + MINUTES_PER_DAY if end < self.start_minute else end

    @property
    def duration_minutes(self) -> int:
        """Length in wall-clock minutes (the real length differs when a DST change falls inside)."""
        return self.end_offset_minute - self.start_minute

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


DayIntervals = Annotated[
    list[TimeInterval],
    Field(max_length=MAX_INTERVALS_PER_DAY, description="Intervals starting on this weekday."),
]


class OfficeHours(BaseModel):
    """An account's office hours. ``None`` (no office hours) elsewhere means always open.

    Validation normalises: each day's intervals are sorted and exact duplicates dropped, days without
    intervals are dropped, and closed dates are sorted and deduplicated. Overlapping intervals are
    allowed and harmless (the open time is their union).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(
        description='IANA time zone the wall-clock times are in, e.g. "Europe/Berlin" (one of the tzdata package\'s '
        "zones, so every process can load it)."
    )
    weekly: dict[Weekday, DayIntervals] = Field(
        default_factory=dict,
        description="Intervals per weekday, keyed by the day each interval starts on. A day with no entry is closed.",
    )
    closed_dates: list[date] = Field(
        default_factory=list,
        max_length=MAX_CLOSED_DATES,
        description="Local calendar dates closed all day (00:00-24:00 in the office's zone), e.g. holidays.",
    )

    # Derived once at validation for the worker's hot path; read through ``__pydantic_private__`` because
    # pydantic's private-attribute ``__getattr__`` costs microseconds per access.
    _zone: ZoneInfo = PrivateAttr()
    _wall_minutes: tuple[tuple[tuple[int, int], ...], ...] = PrivateAttr()
    _closed_set: frozenset[date] = PrivateAttr()
    _stretch_end: dict[date, date] = PrivateAttr()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        load_zone(value)  # tzdata's zone list, not the checking machine's zone database (schemas/timezones.py)
        return value

    @field_validator("weekly")
    @classmethod
    def _normalise_weekly(cls, value: dict[Weekday, list[TimeInterval]]) -> dict[Weekday, list[TimeInterval]]:
        result: dict[Weekday, list[TimeInterval]] = {}
        for day in _WEEKDAY_ORDER:
            intervals = value.get(day)
            if intervals:
                unique = {(iv.start_minute, iv.end_offset_minute): iv for iv in intervals}
                result[day] = [unique[key] for key in sorted(unique)]
        return result

    @field_validator("closed_dates")
    @classmethod
    def _normalise_closed_dates(cls, value: list[date]) -> list[date]:
        return sorted(set(value))

    def model_post_init(self, context: Any, /) -> None:
        self._zone = ZoneInfo(self.timezone)
        self._wall_minutes = tuple(
            tuple((iv.start_minute, iv.end_offset_minute) for iv in self.weekly.get(day, ())) for day in _WEEKDAY_ORDER
        )
        self._closed_set = frozenset(self.closed_dates)
        self._stretch_end = _closed_stretch_ends(self.closed_dates, self._wall_minutes)

    def _private(self, name: str) -> object:
        private = self.__pydantic_private__
        assert private is not None
        return private[name]

    @property
    def zone(self) -> ZoneInfo:
        """The loaded time zone."""
        return cast(ZoneInfo, self._private("_zone"))

    @property
    def wall_minutes(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Per ``date.weekday()`` index, ``(start, end)`` minutes from that day's local midnight, sorted.

        ``end`` is greater than ``start`` and may exceed 1440 for an interval crossing midnight.
        Precomputed so that deciding a ticket does no string parsing.
        """
        return cast(tuple[tuple[tuple[int, int], ...], ...], self._private("_wall_minutes"))

    @property
    def closed_date_set(self) -> frozenset[date]:
        """``closed_dates`` as a set, for constant-time lookups."""
        return cast(frozenset[date], self._private("_closed_set"))

    @property
    def closed_stretch_end(self) -> dict[date, date]:
        """Each closed date → the last closed date of its stretch, where nothing in between can open.

        A stretch is a run of closed dates in which each next one is either the following day, or
        comes after only days without intervals while the earlier one's intervals do not cross
        midnight into them. So no interval starting on a stretch day before its last can be open, and
        the next-opening search crosses a stretch in one step, however many dates it holds."""
        return cast(dict[date, date], self._private("_stretch_end"))

    @classmethod
    def from_specs(cls, timezone: str, specs: list[str], closed: list[str | date] | None = None) -> OfficeHours:
        """Build office hours from CLI specs (see :func:`parse_hours_spec`) and closed dates.

        Args:
            timezone: IANA zone name.
            specs: Specs such as ``"mon-fri 09:00-17:00"``; intervals of all specs are merged per day.
            closed: Closed dates, as ``date`` or ISO ``"YYYY-MM-DD"`` strings.

        Raises:
            SpecError: A spec or a closed date is invalid (a ``ValueError`` worded for a person).
            ValueError: The zone is invalid (pydantic's ``ValidationError`` is a ``ValueError``).
        """
        from schemas.hours_spec import SpecError, parse_hours_spec  # the spec syntax; it imports this module

        weekly: dict[Weekday, list[TimeInterval]] = {}
        for spec in specs:
            for day, intervals in parse_hours_spec(spec).items():
                weekly.setdefault(day, []).extend(intervals)
        dates: list[date] = []
        for item in closed or []:
            if isinstance(item, date):
                dates.append(item)
                continue
            try:
                dates.append(date.fromisoformat(item.strip()))
            except ValueError:
                raise SpecError("closed", item, date_problem(item)) from None
        return cls(timezone=timezone, weekly=weekly, closed_dates=dates)

    def to_specs(self) -> list[str]:
        """Render ``weekly`` as a compact list of specs (for display); parsing them back gives the same hours.

        Each distinct interval is listed once with every day it applies to, and intervals sharing the
        same days share a spec: ``mon-fri 09:00-17:00`` plus ``fri-mon 22:00-02:00`` stay two specs.
        Consecutive days (wrapping around the week) become a range, all seven days become ``daily``.
        Closed dates are not included.
        """
        days_of: dict[TimeInterval, list[int]] = {}
        for day, intervals in self.weekly.items():
            for interval in intervals:
                days_of.setdefault(interval, []).append(day.number)
        groups: dict[tuple[int, ...], list[str]] = {}
        for interval in sorted(days_of, key=lambda iv: (iv.start_minute, iv.end_offset_minute)):
            groups.setdefault(tuple(days_of[interval]), []).append(str(interval))
        ordered = sorted(groups.items(), key=lambda item: _run_starts(list(item[0]))[0])
        return [f"{_render_days(list(days))} {' '.join(intervals)}" for days, intervals in ordered]


def _closed_stretch_ends(closed: list[date], table: tuple[tuple[tuple[int, int], ...], ...]) -> dict[date, date]:
    """``closed_stretch_end`` for sorted ``closed`` dates and per-weekday ``(start, end)`` minutes."""
    stretches: list[list[date]] = []
    for day in closed:
        if stretches:
            last = stretches[-1][-1]
            gap = range(last.weekday() + 1, last.weekday() + (day - last).days)  # weekdays strictly between
            crosses = any(end > MINUTES_PER_DAY for _, end in table[last.weekday()])
            if not gap or (len(gap) < 7 and not crosses and not any(table[k % 7] for k in gap)):
                stretches[-1].append(day)
                continue
        stretches.append([day])
    return {day: stretch[-1] for stretch in stretches for day in stretch}


def _run_starts(indexes: list[int]) -> list[int]:
    """First day of each run of consecutive days; runs may wrap past Sunday (fri, sat, sun, mon is one run)."""
    present = set(indexes)
    starts = [day for day in sorted(present) if (day - 1) % 7 not in present]
    return starts or [0]


def _render_days(indexes: list[int]) -> str:
    present = set(indexes)
    if len(present) == 7:
        return "daily"
    parts: list[str] = []
    for first in _run_starts(indexes):
        last = first
        while (last + 1) % 7 in present:
            last = (last + 1) % 7
        length = (last - first) % 7 + 1
        a, b = _WEEKDAY_ORDER[first].value, _WEEKDAY_ORDER[last].value
        parts.append(a if length == 1 else f"{a},{b}" if length == 2 else f"{a}-{b}")
    return ",".join(parts)
