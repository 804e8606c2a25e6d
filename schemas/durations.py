"""Durations as the CLI writes them (issue 16): ``90s``, ``15m``, ``2h``, ``1d``, or several units, largest
first, each once (``1h30m``, ``2d12h``). Always whole seconds, at least ``1s``, at most ``365d``.

One parser for every option that takes a duration (``presence --timeout``, and the reassignment grace and
delay of issue 16), so they all accept the same words and refuse the same mistakes in the same plain line
(``--timeout 1.5h: has a fraction; write 1h30m``), and one way back (:func:`duration_text`): what the CLI
shows (``settings``: ``15m``) can be typed again and means the same. Control-API callers pass seconds.

Refused, each with its own reason: empty text, zero (``0s``), a sign (``-5m``, ``+5m``), a number without a
unit (``10``: seconds or minutes?), a fraction (``1.5h``; the message offers ``1h30m`` when that is exact),
an unknown unit (``5x``, ``15min``; ``15M`` is not minutes, it could be months), a unit twice or out of
order (``30m1h``), spaces inside (``15 m``), and more than a year.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

from schemas.plain import bare, shown

UNITS: dict[str, int] = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
"""The units, largest first, in seconds."""
MAX_SECONDS = 365 * 86_400
"""The longest duration accepted (``365d``): longer is a typo, and the scripts hold times as float ms."""
MAX_TEXT = 40
"""Longer text is refused before it is read as numbers (``365d23h59m59s`` is 13 characters)."""
EXAMPLES = "e.g. 90s, 15m, 2h or 1h30m"
_UNIT_WORDS = "s (seconds), m (minutes), h (hours) or d (days)"

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_PARTS = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?[A-Za-z]+)+")
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]+)")


class DurationError(ValueError):
    """A duration refused, in one plain line: ``--timeout 1.5h: has a fraction; write 1h30m``. ``field`` (the
    option, or ``duration``), ``given`` and ``reason`` are kept apart so a caller may reword the field."""

    def __init__(self, field: str, given: str, reason: str) -> None:
        self.field, self.given, self.reason = field, given, reason
        super().__init__(f"{field} {bare(given)}: {reason}")


def parse_duration(text: str, field: str = "duration", instead_of_zero: str | None = None) -> int:
    """Whole seconds (1 … ``MAX_SECONDS``) of a duration written ``90s``, ``15m``, ``2h``, ``1d`` or
    ``1h30m``; outer spaces are ignored. Raises :class:`DurationError` naming ``field`` otherwise.
    ``instead_of_zero`` is what the refusal of zero offers besides a duration (``--off``), if anything."""

    def refuse(reason: str) -> DurationError:
        return DurationError(field, text, reason)

    body = text.strip()
    if not body:
        raise refuse(f"empty; write a duration, {EXAMPLES}")
    if len(body) > MAX_TEXT:
        raise refuse(f"too long to be a duration, {EXAMPLES}")
    zero = f"is zero; write at least 1s, {EXAMPLES}" + (f", or {instead_of_zero}" if instead_of_zero else "")
    if body[0] == "-":
        raise refuse(f"is negative; write at least 1s, {EXAMPLES}")
    if body[0] == "+":
        raise refuse(f"has a sign; write the duration without one, {EXAMPLES}")
    if _NUMBER.fullmatch(body):
        raise refuse(zero if Fraction(body) == 0 else _unitless(body))
    if not _PARTS.fullmatch(body):
        raise refuse(f"not a duration; write a whole number and a unit, no spaces, {EXAMPLES}")
    parts = _PART.findall(body)
    seconds = _sum_parts(parts, refuse)
    if seconds == 0:
        raise refuse(zero)
    if seconds > MAX_SECONDS:
        raise refuse(f"is longer than {duration_text(MAX_SECONDS)} (a year), the longest duration accepted")
    if any("." in number for number, _unit in parts):
        raise refuse(_fraction_reason(seconds))
    return int(seconds)


def _unitless(body: str) -> str:
    """Why a bare number (not zero) is refused: it has no unit (seconds? minutes?)."""
    if "." in body:
        return f"has no unit; write a whole number and a unit, {EXAMPLES}"
    return f"has no unit; write {body}s, {body}m or {body}h"


def _sum_parts(parts: list[tuple[str, str]], refuse: Callable[[str], DurationError]) -> Fraction:
    """The parts' total in seconds (exact: ``1.5h`` is 5400, ``0.5s`` one half); a unit unknown, repeated or
    out of order is refused."""
    order = list(UNITS)
    last = -1
    total = Fraction(0)
    for number, unit in parts:
        if unit not in UNITS:
            if unit.lower() in UNITS:
                raise refuse(f"units are lowercase: write {number}{unit.lower()}")
            raise refuse(f"unknown unit {shown(unit)}; use {_UNIT_WORDS}, {EXAMPLES}")
        rank = order.index(unit)
        if rank <= last:
            raise refuse("write each unit once, largest first, e.g. 1h30m or 2d12h")
        last = rank
        total += Fraction(number) * UNITS[unit]
    return total


def _fraction_reason(seconds: Fraction) -> str:
    """Why ``1.5h`` is refused (write whole units), offering the same duration in them when there is one."""
    if seconds.denominator == 1:
        return f"has a fraction; write {duration_text(int(seconds))}"
    return f"has a fraction; durations are whole seconds, at least 1s, {EXAMPLES}"


def duration_text(seconds: int) -> str:
    """``seconds`` as the CLI writes it, largest unit first: 900 → ``15m``, 90 → ``1m30s``, 5400 → ``1h30m``,
    86400 → ``1d``; ``parse_duration`` reads it back to ``seconds``. 0 → ``0s``."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValueError(f"a duration is a whole number of seconds, at least 0 (got {seconds!r})")
    parts = []
    for unit, size in UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
