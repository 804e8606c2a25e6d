"""Plain words for refusals: how a rejected value is shown, and what a good one looks like.

Every message a person reads (a CLI ``error:`` line, a control-API exception, a failed job's reason)
names the field, shows the rejected value and gives an example of a good one, in one line, without a
regex, a Python type name or pydantic's wording. The validators in ``schemas/`` word their own
refusals with these helpers; ``worker/errors.py`` (``validation_summary``) rewords pydantic's
built-in ones with them. A constrained string type registers its pattern here (:func:`explained`),
so the pattern stays in the JSON Schema while a person reads words.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable
from datetime import date, datetime

ISO_EXAMPLE = "2026-11-24T09:15:00+01:00"
DATETIME_HINT = f"use ISO 8601 with an offset, e.g. {ISO_EXAMPLE}"
DATE_HINT = "use YYYY-MM-DD, e.g. 2026-12-25"

SHOWN_MAX = 60
"""Longer rejected values are cut (with their length said), so a message stays short."""


def shown(value: object) -> str:
    """A rejected value as a message shows it: one line, bounded, in the words of JSON where it came
    from JSON (``null``, ``true``), text in quotes, dates in ISO 8601 (never a Python repr)."""
    if isinstance(value, str):
        return _cut_text(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= SHOWN_MAX else f"{text[:20]}… ({len(text)} digits)"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return _cut_text(value.decode("utf-8", "replace"))
    text = json.dumps(value, default=_jsonable, ensure_ascii=True)  # lists, objects: one line, all escaped
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return "..."  # anything else: not worth naming (and never its type)


def _cut_text(text: str) -> str:
    if len(text) <= SHOWN_MAX:
        return repr(text)  # repr escapes every line break and control character: one line
    head = repr(text[:40])
    return f"{head[:-1]}…{head[-1]} ({len(text):,} characters)"


def quoted(text: str) -> str:
    """A whole option value in double quotes, as a shell user would type it (``"mon-fri 09:00-17:00"``)."""
    if text.isprintable() and '"' not in text and len(text) <= SHOWN_MAX:
        return f'"{text}"'
    return shown(text)


def bare(text: str) -> str:
    """A simple value as is (``2026-02-30``); anything with spaces or odd characters quoted."""
    return text if re.fullmatch(r"[A-Za-z0-9.:/+_-]{1,60}", text) else quoted(text)


# --- ids ----------------------------------------------------------------------------------------------

ID_RULE = "use 1–128 letters, digits or . _ @ + - (starting with a letter or digit), e.g. acme-support"


def id_problem(value: object) -> str:
    """Why ``value`` is not an id, e.g. ``'ac me' is not a valid id: use 1–128 letters, …, e.g. acme-support``."""
    if isinstance(value, str) and len(value) > 128:
        return f"{shown(value)} is too long for an id (at most 128 characters): {ID_RULE}"
    return f"{shown(value)} is not a valid id: {ID_RULE}"


# --- dates ----------------------------------------------------------------------------------------------

_DATE_SHAPE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def date_problem(text: str) -> str:
    """Why ``text`` is not a ``YYYY-MM-DD`` date, e.g. ``not a real date (February 2026 has 28 days)``."""
    match = _DATE_SHAPE.fullmatch(text.strip())
    if match is None:
        return f"not a date: {DATE_HINT}"
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        return f"not a real date (there is no month {month}; months are 01-12)"
    if year < 1:
        return "not a real date (the years start at 0001)"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"not a real date ({_MONTHS[month - 1]} {year} has {days} days)"
    return f"not a date: {DATE_HINT}"  # pragma: no cover - a real date in this shape parses


def datetime_problem(value: object) -> str:
    """Why ``value`` is not a date and time, with an example of one."""
    if isinstance(value, str) and _DATE_SHAPE.match(value.strip()):
        reason = date_problem(value.strip()[:10])
        if reason.startswith("not a real date"):
            return f"{shown(value)} is {reason}: {DATETIME_HINT}"
    return f"{shown(value)} is not a date and time: {DATETIME_HINT}"


# --- patterns ----------------------------------------------------------------------------------------------

_PATTERNS: dict[str, Callable[[object], str]] = {}


def explained(pattern: str, words: Callable[[object], str]) -> str:
    """Register how to word a value that does not match ``pattern``; returns ``pattern`` (for the constraint)."""
    _PATTERNS[pattern] = words
    return pattern


def pattern_problem(pattern: str, value: object) -> str:
    """The registered words for a value not matching ``pattern``, else a plain fallback (never the regex)."""
    words = _PATTERNS.get(pattern)
    return words(value) if words is not None else f"{shown(value)} is not in the expected form"
