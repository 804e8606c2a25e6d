"""Typed errors, and the one place where Lua error replies become them."""

from __future__ import annotations

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


_CODES: dict[str, type[HelpdeskError]] = {
    "RR_FORBIDDEN": Forbidden,
    "RR_UNKNOWN_USER": UnknownUser,
    "RR_UNKNOWN_TICKET": UnknownTicket,
    "RR_INVALID": InvalidInput,
}


def from_response_error(error: ResponseError) -> Exception:
    """Map a script's ``redis.error_reply('RR_CODE message')`` to its exception; others unchanged."""
    text = str(error)
    code, _, message = text.partition(" ")
    if code == "RR_STALE_OFFICE_HOURS":
        return StaleOfficeHours(message)
    exc_type = _CODES.get(code)
    return exc_type(message) if exc_type else error
