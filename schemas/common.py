"""Shared vocabulary: enums and constrained id types used by every model.

Ids end up inside Redis key names, so they are restricted to characters that cannot break a key's
structure: no ``{``/``}`` (they would change the Cluster hash tag), no ``:`` (our key separator),
no whitespace. Integrations with other id shapes should encode them (for example URL-safe base64).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$"
ID_MAX_LENGTH = 128

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN),
    Field(description="Identifier: 1-128 chars of A-Z a-z 0-9 . _ @ + - starting with a letter or digit."),
]


class Channel(StrEnum):
    """Inbound channels. Office hours gate only ``webchat``."""

    EMAIL = "email"
    WEBCHAT = "webchat"
    SMS = "sms"
    SOCIAL = "social"


class Role(StrEnum):
    """Seat roles, highest first. Only ``agent`` and above can be in the round-robin pool."""

    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        """Higher is more privileged; used for the "agent or higher" / "manager or higher" rules."""
        return {"owner": 4, "admin": 3, "manager": 2, "agent": 1, "viewer": 0}[self.value]

    @property
    def can_be_online(self) -> bool:
        return self.rank >= Role.AGENT.rank

    @property
    def can_manage(self) -> bool:
        """Owner, admin and manager may change settings, office hours, teams and others' status."""
        return self.rank >= Role.MANAGER.rank


class AgentStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class UnassignedReason(StrEnum):
    AFTER_HOURS = "after_hours"
    NO_AGENT_ONLINE = "no_agent_online"
    ROUND_ROBIN_OFF = "round_robin_off"
    NO_TEAM_MEMBER_ONLINE = "no_team_member_online"


class AssignedReason(StrEnum):
    ROUND_ROBIN = "round_robin"
    BULK_TEAM = "bulk_team"


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware (include an offset such as Z or +00:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


def utc_iso(value: datetime) -> str:
    """The one wire format for timestamps: UTC, ISO 8601, millisecond precision, ``Z`` suffix."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


AwareDatetime = Annotated[
    datetime,
    AfterValidator(_require_aware),
    PlainSerializer(utc_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A timezone-aware datetime, normalised to UTC; in JSON always ``2026-11-24T15:00:00.000Z``
(the same text the Lua scripts write)."""


_ID_ADAPTER: TypeAdapter[str] = TypeAdapter(Identifier)


def check_id(field: str, value: str) -> str:
    """Validate one id outside a model, with a message that names the field."""
    try:
        return _ID_ADAPTER.validate_python(value)
    except ValidationError as error:
        detail = error.errors()[0]["msg"]
        raise ValueError(f"{field}: {detail} (got {value!r})") from None
