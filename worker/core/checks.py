"""Checks on ids, enum values and team members before they reach Lua (key names, event JSON)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TypeVar

from schemas.common import ID_MAX_LENGTH, ID_PATTERN, check_id
from worker.errors import InvalidInput

__all__ = ["MAX_TEAM_SIZE", "check_ids", "member_of", "team_members"]

MAX_TEAM_SIZE = 10_000
"""The most members a team may have (as many as one bulk job's tickets). Larger teams are refused:
every call on a team is bounded by slicing (set_team, bulk jobs), but the work per change is not."""


def team_members(members: list[str]) -> list[str]:
    unique = sorted(set(members))
    if not unique:
        raise InvalidInput("a team needs at least one member")
    if len(unique) > MAX_TEAM_SIZE:
        raise InvalidInput(f"a team has at most {MAX_TEAM_SIZE:,} members, got {len(unique):,}")
    check_ids(**{f"member {n + 1}": member for n, member in enumerate(unique)})
    return unique


_ID = re.compile(ID_PATTERN)
EnumT = TypeVar("EnumT", bound=StrEnum)


def check_ids(**ids: str) -> None:
    """Ids become parts of key names and of event JSON: refuse any that could break either.

    Every entry re-checks, even ids that came in a validated model: ``model_copy(update=...)`` and
    ``model_construct`` skip validation, and one quote in an id would forge an event field."""
    for field, value in ids.items():
        if isinstance(value, str) and len(value) <= ID_MAX_LENGTH and _ID.fullmatch(value):
            continue  # the common case, without pydantic; check_id words the refusal
        try:
            check_id(field, value)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        raise InvalidInput(f"{field}: not a valid id (got {value!r})")  # pragma: no cover - check_id agrees


def member_of(enum: type[EnumT], value: object, field: str) -> EnumT:
    """``value`` as a member of ``enum``, or InvalidInput naming the field."""
    try:
        return enum(value)  # type: ignore[arg-type]  # anything may come in; a non-member raises ValueError
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInput(f"{field}: must be one of {allowed} (got {value!r})") from None


