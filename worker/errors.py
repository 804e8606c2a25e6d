"""Typed errors, and the one place where Lua error replies become them."""

from __future__ import annotations

from pydantic import ValidationError
from redis.exceptions import ResponseError


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


class UnknownAccount(HelpdeskError):
    """The account has no users (nobody set it up): a ticket for it is refused by the worker, a command
    on it by the control API (``unknown account 'ghostco'``); nothing was written."""


class WaitingCeiling(HelpdeskError):
    """The ticket would wait, but its account already has the most waiting tickets allowed
    (``HELPDESK_RR_MAX_WAITING_TICKETS``): refused, nothing was written."""


class Unavailable(HelpdeskError):
    """Redis could not be reached (after the client's bounded retries); nothing was confirmed.

    Retrying later is safe: every decision is idempotent."""


def validation_summary(error: ValidationError) -> str:
    """One line naming each bad field, e.g. ``channel: Input should be 'email', ... (got 'fax')``."""
    parts = []
    for item in error.errors():
        where = ".".join(_printable(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _printable(part: object) -> str:
    """A field name as given, or its repr when it is not a plain identifier (keeps the line one line)."""
    text = str(part)
    return text if text.isidentifier() or text.isdigit() else repr(text)


_CODES: dict[str, type[HelpdeskError]] = {
    "RR_FORBIDDEN": Forbidden,
    "RR_UNKNOWN_USER": UnknownUser,
    "RR_UNKNOWN_TICKET": UnknownTicket,
    "RR_INVALID": InvalidInput,
    "RR_UNKNOWN_ACCOUNT": UnknownAccount,
    "RR_WAITING_CEILING": WaitingCeiling,
}


def from_response_error(error: ResponseError, account_id: str | None = None) -> Exception:
    """Map a script's ``redis.error_reply('RR_CODE message')`` to its exception; others unchanged.

    ``account_id``: the account of the call, named in an unknown user's message (``unknown user ana in
    account acme``; the scripts' replies name only the user)."""
    text = str(error)
    code, _, message = text.partition(" ")
    if code == "RR_STALE_OFFICE_HOURS":
        return StaleOfficeHours(message)
    if code == "RR_UNKNOWN_USER" and account_id is not None:
        message = f"{message} in account {account_id}"
    exc_type = _CODES.get(code)
    return exc_type(message) if exc_type else error
