"""Typed errors, and the one place where Lua error replies become them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from redis.exceptions import ResponseError

from schemas.plain import DATE_HINT, date_problem, datetime_problem, pattern_problem, shown


class HelpdeskError(Exception):
    """Base class: a refused action. The message is one line, fit for a CLI user."""


class Forbidden(HelpdeskError):
    """The actor's role does not allow the action (nothing was changed)."""


class UnknownUser(HelpdeskError):
    """The user or actor does not exist in the account (nothing was changed)."""


class StaleOfficeHours(HelpdeskError):
    """The caller's copy of the office hours is older than Redis's; reload and call again."""

    def __init__(self, version: str) -> None:
        super().__init__(f"office hours changed (now version {version})")
        self.version = version


class InvalidInput(HelpdeskError):
    """Input failed validation (nothing was changed)."""


class UnknownTicket(HelpdeskError):
    """helpdesk-rr never saw the ticket (or its record expired)."""


class UnknownJob(HelpdeskError):
    """No such job of the account (never made, expired, or another account's: the same words for each)."""


class UnknownAccount(HelpdeskError):
    """The account has no users (nobody set it up): a ticket for it is refused by the worker, a command
    on it by the control API (``unknown account 'ghostco'``); nothing was written."""


class WaitingCeiling(HelpdeskError):
    """The ticket would wait, but its account already has the most waiting tickets allowed
    (``HELPDESK_RR_MAX_WAITING_TICKETS``): refused, nothing was written."""


class Refused(HelpdeskError):
    """The change is allowed to the actor but would break a rule the account depends on (e.g. auto-assign
    without a capacity: the first agent Online would take the whole waiting queue); nothing was changed."""


class Unauthorized(HelpdeskError):
    """Missing, malformed, revoked or another account's credential (API key, agent-link token): the same
    words for each, so a caller learns nothing about which keys or accounts exist."""


class Unavailable(HelpdeskError):
    """Redis could not be reached (after the client's bounded retries); nothing was confirmed.

    Retrying later is safe: every decision is idempotent."""


MAX_PROBLEMS = 5
"""A summary names at most this many problems, then counts the rest (one line, however bad the input)."""


def validation_summary(error: ValidationError) -> str:
    """One line naming each bad field, its rejected value and what a good one looks like.

    e.g. ``channel: must be 'email', 'webchat', 'sms' or 'social' (got 'fax')``. pydantic's own words
    ("Input should be …", "Value error, …", regexes, Python type names) never reach a person: each of
    its error types is reworded here from the error's ``type``, ``input`` and ``ctx``. Our validators'
    messages are kept; one that does not quote the value is a predicate ("has no UTC offset: …") and
    gets the value as its subject."""
    items = error.errors()
    parts = [f"{_path(item['loc'])}: {plain_problem(item)}" for item in items[:MAX_PROBLEMS]]
    if len(items) > MAX_PROBLEMS:
        parts.append(f"and {len(items) - MAX_PROBLEMS} more problems")
    return "; ".join(parts)


def _path(loc: tuple[int | str, ...]) -> str:
    """The field path, e.g. ``weekly.mon.0.start``; ``payload`` for the whole input."""
    return ".".join(_printable(part) for part in loc if part != "[key]") or "payload"


def _printable(part: object) -> str:
    """A field name as given, or its repr when it is not a plain identifier (keeps the line one line)."""
    text = str(part)
    return text if text.isidentifier() or text.isdigit() else shown(text)


def plain_problem(item: ErrorDetails) -> str:
    """One pydantic error in plain words (without the field path)."""
    kind, value, ctx = item["type"], item.get("input"), item.get("ctx") or {}
    words = _WORDS.get(kind)
    if words is not None:
        return words(value, ctx)
    if kind in ("value_error", "assertion_error"):
        text = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if _is_scalar(value) and shown(value) not in text:
            return f"{shown(value)} {text}"
        return text
    for prefix, family in _FAMILIES:
        if kind.startswith(prefix):
            return family(value, ctx)
    return f"{shown(value)} is not accepted here"


def _is_scalar(value: object) -> bool:
    return not isinstance(value, dict | list | tuple | set | frozenset)


def _one_of(value: object, ctx: dict[str, Any]) -> str:
    return f"must be {ctx.get('expected', 'one of the listed values')} (got {shown(value)})"


def _text_length(value: object, ctx: dict[str, Any], longest: bool) -> str:
    if longest:
        return f"{shown(value)} is too long (at most {ctx.get('max_length', 0):,} characters)"
    least = ctx.get("min_length", 1)
    return "must not be empty" if least == 1 else f"{shown(value)} is too short (at least {least:,} characters)"


def _item_count(ctx: dict[str, Any], most: bool) -> str:
    actual = ctx.get("actual_length", 0)
    if most:
        return f"has {actual:,} items; at most {ctx.get('max_length', 0):,} are allowed"
    least = ctx.get("min_length", 1)
    return f"has {actual:,} items; at least {least:,} {'is' if least == 1 else 'are'} needed"


def _date(value: object, ctx: dict[str, Any]) -> str:
    if isinstance(value, str):
        return f"{shown(value)} is {date_problem(value)}"
    return f"{shown(value)} is not a date: {DATE_HINT}"


Words = Callable[[object, dict[str, Any]], str]

_WORDS: dict[str, Words] = {
    "missing": lambda value, ctx: "is missing (it is required)",
    "extra_forbidden": lambda value, ctx: "is not a field here (remove it, or check its spelling)",
    "enum": _one_of,
    "literal_error": _one_of,
    "string_too_short": lambda value, ctx: _text_length(value, ctx, longest=False),
    "string_too_long": lambda value, ctx: _text_length(value, ctx, longest=True),
    "string_pattern_mismatch": lambda value, ctx: pattern_problem(str(ctx.get("pattern", "")), value),
    "string_unicode": lambda value, ctx: f"must be text in UTF-8 (got {shown(value)})",
    "too_short": lambda value, ctx: _item_count(ctx, most=False),
    "too_long": lambda value, ctx: _item_count(ctx, most=True),
    "date_from_datetime_inexact": lambda value, ctx: f"{shown(value)} has a time of day: {DATE_HINT}",
    "frozen_instance": lambda value, ctx: "cannot be changed once set",
    "frozen_field": lambda value, ctx: "cannot be changed once set",
    "json_invalid": lambda value, ctx: f"is not valid JSON ({ctx.get('error', 'unreadable')})",
}
"""Error types reworded one by one; the others by family (below) or the fallback."""

_FAMILIES: tuple[tuple[str, Words], ...] = (
    ("datetime", lambda value, ctx: datetime_problem(value)),
    ("timezone", lambda value, ctx: datetime_problem(value)),
    ("date", _date),
    ("string", lambda value, ctx: f"must be text (got {shown(value)})"),
    ("bool", lambda value, ctx: f"must be true or false (got {shown(value)})"),
    ("int", lambda value, ctx: f"must be a whole number (got {shown(value)})"),
    ("float", lambda value, ctx: f"must be a number (got {shown(value)})"),
    ("decimal", lambda value, ctx: f"must be a number (got {shown(value)})"),
    ("list", lambda value, ctx: f"must be a list (got {shown(value)})"),
    ("tuple", lambda value, ctx: f"must be a list (got {shown(value)})"),
    ("set", lambda value, ctx: f"must be a list (got {shown(value)})"),
    ("dict", lambda value, ctx: f"must be an object with named fields (got {shown(value)})"),
    ("model", lambda value, ctx: f"must be an object with named fields (got {shown(value)})"),
    ("dataclass", lambda value, ctx: f"must be an object with named fields (got {shown(value)})"),
)
"""Error types by prefix (``datetime_parsing``, ``datetime_from_date_parsing``, ``int_parsing`` …)."""


_CODES: dict[str, type[HelpdeskError]] = {
    "RR_FORBIDDEN": Forbidden,
    "RR_UNKNOWN_USER": UnknownUser,
    "RR_UNKNOWN_TICKET": UnknownTicket,
    "RR_INVALID": InvalidInput,
    "RR_UNKNOWN_ACCOUNT": UnknownAccount,
    "RR_WAITING_CEILING": WaitingCeiling,
    "RR_REFUSED": Refused,
}


def from_response_error(error: ResponseError) -> Exception:
    """Map a script's ``redis.error_reply('RR_CODE message')`` to its exception; others unchanged."""
    text = str(error)
    code, _, message = text.partition(" ")
    if code == "RR_STALE_OFFICE_HOURS":
        return StaleOfficeHours(message)
    exc_type = _CODES.get(code)
    return exc_type(message) if exc_type else error
