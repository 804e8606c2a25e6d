"""The office-hours spec syntax the CLI (and ``OfficeHours.from_specs``) reads: ``mon-fri 09:00-17:00``.

A spec is a day selector, then one or more ``HH:MM-HH:MM`` intervals (the syntax is described in
``schemas/office_hours.py``). A mistake is a :class:`SpecError`: one plain line that quotes the spec,
says what is wrong and shows a good one (``hours "09:00-17:00": name the days first, e.g.
"mon-fri 09:00-17:00"``).
"""

from __future__ import annotations

from typing import Any

from schemas.office_hours import TimeInterval, Weekday
from schemas.plain import bare, quoted, shown


class SpecError(ValueError):
    """A bad office-hours spec or closed date, in one plain line: ``hours "09:00-17:00": name the days first,
    e.g. "mon-fri 09:00-17:00"``. ``field`` ("hours" or "closed"), ``given`` and ``reason`` are kept apart
    so that the CLI can name its option instead (``--hours "09:00-17:00": …``)."""

    def __init__(self, field: str, given: str, reason: str) -> None:
        self.field, self.given, self.reason = field, given, reason
        super().__init__(f"{field} {self.shown_given}: {reason}")

    @property
    def shown_given(self) -> str:
        """The spec in double quotes (as typed in a shell), a date as is."""
        return quoted(self.given) if self.field == "hours" else bare(self.given)


_WEEKDAY_ORDER: tuple[Weekday, ...] = tuple(Weekday)
_DAYS_HINT = f"use {', '.join(day.value for day in Weekday)}, a range like mon-fri, or daily"
_SPEC_EXAMPLE = '"mon-fri 09:00-17:00"'


def _parse_day(text: str, spec: str) -> int:
    try:
        return Weekday(text).number
    except ValueError:
        raise SpecError("hours", spec, f"unknown day {shown(text)} ({_DAYS_HINT})") from None


def _parse_days(text: str, spec: str) -> list[Weekday]:
    selected: list[int] = []
    for item in text.lower().split(","):
        if item == "daily":
            selected.extend(range(7))
        elif "-" in item:
            first_text, _, last_text = item.partition("-")
            first, last = _parse_day(first_text, spec), _parse_day(last_text, spec)
            selected.extend((first + k) % 7 for k in range((last - first) % 7 + 1))
        else:
            selected.append(_parse_day(item, spec))
    return [_WEEKDAY_ORDER[index] for index in sorted(set(selected))]


def parse_hours_spec(spec: str) -> dict[Weekday, list[TimeInterval]]:
    """Parse one spec: a day selector then one or more ``HH:MM-HH:MM`` intervals.

    The day selector is a comma-separated list of days (``mon``), ranges (``mon-fri``; ranges wrap
    around the week, so ``fri-mon`` is fri, sat, sun, mon) or ``daily``. Day names are case-insensitive.

    Raises:
        SpecError: One plain line quoting the spec, saying what is wrong and showing a good one.
    """
    tokens = spec.split()
    if not tokens:
        raise SpecError("hours", spec, f"empty: write the days, then the times, e.g. {_SPEC_EXAMPLE}")
    if ":" in tokens[0]:  # a time where the days belong
        raise SpecError("hours", spec, f"name the days first, e.g. {_SPEC_EXAMPLE}")
    days = _parse_days(tokens[0], spec)
    if len(tokens) == 1:
        raise SpecError("hours", spec, f'add the times after the days, e.g. "{tokens[0]} 09:00-17:00"')
    intervals: list[TimeInterval] = []
    for token in tokens[1:]:
        try:
            intervals.append(TimeInterval.parse(token))
        except ValueError as exc:
            raise SpecError("hours", spec, _first_error_message(exc)) from None
    return {day: list(intervals) for day in days}


def _first_error_message(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        details: list[dict[str, Any]] = errors()
        if details:
            message = str(details[0].get("msg", exc))
            return message.removeprefix("Value error, ")
    return str(exc)
