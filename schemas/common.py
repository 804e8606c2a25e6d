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

from schemas.plain import DATETIME_HINT, explained, id_problem, shown

ID_PATTERN = explained(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$", id_problem)
ID_MAX_LENGTH = 128

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN),
    Field(description="Identifier: 1-128 chars of A-Z a-z 0-9 . _ @ + - starting with a letter or digit."),
]


def _not_one_of(enum: type[StrEnum], value: object, noun: str) -> ValueError:
    """``'god' is not a role: use owner, admin, manager, agent or viewer`` (not Python's "is not a valid Role")."""
    names = [member.value for member in enum]
    return ValueError(f"{shown(value)} is not {noun}: use {', '.join(names[:-1])} or {names[-1]}")


class Channel(StrEnum):
    """Inbound channels. Office hours gate only ``webchat``."""

    EMAIL = "email"
    WEBCHAT = "webchat"
    SMS = "sms"
    SOCIAL = "social"

    @classmethod
    def _missing_(cls, value: object) -> Channel:
        raise _not_one_of(cls, value, "a channel")


class Role(StrEnum):
    """Seat roles, highest first. Only ``agent`` and above can be in the round-robin pool."""

    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"
    VIEWER = "viewer"

    @classmethod
    def _missing_(cls, value: object) -> Role:
        raise _not_one_of(cls, value, "a role")

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

    @classmethod
    def _missing_(cls, value: object) -> AgentStatus:
        raise _not_one_of(cls, value, "a status")


class StatusChangeReason(StrEnum):
    """Why an agent's status changed (``agent.status_changed.reason``)."""

    MANUAL = "manual"
    ROLE_CHANGE = "role_change"
    PRESENCE_TIMEOUT = "presence_timeout"


class UnassignedReason(StrEnum):
    AFTER_HOURS = "after_hours"
    NO_AGENT_ONLINE = "no_agent_online"
    ROUND_ROBIN_OFF = "round_robin_off"
    NO_TEAM_MEMBER_ONLINE = "no_team_member_online"
    CLOSED = "closed"
    """The ticket's close arrived before the ticket: recorded closed, never assigned, not waiting."""
    REOPENED = "reopened"
    """A ticket that arrived closed was reopened: it waits (a release may take it when auto-assign is on)."""
    ALL_AGENTS_AT_CAPACITY = "all_agents_at_capacity"
    """Agents are Online, but every one holds as many open tickets as their capacity allows."""
    OLDER_TICKETS_WAITING = "older_tickets_waiting"
    """Auto-assign is on and older tickets wait for the release under way: this one waits its turn."""
    NO_AGENT_FOR_CHANNEL = "no_agent_for_channel"
    """Agents are Online, but none of them takes the ticket's channel (per-channel pools): it waits for one."""


class AssignedReason(StrEnum):
    ROUND_ROBIN = "round_robin"
    BULK_TEAM = "bulk_team"
    WAITING_QUEUE = "waiting_queue"
    """Released from the waiting queue (auto-assign), oldest first, up to the agent's capacity."""
    ASSIGNEE_AWAY = "assignee_away"
    """The customer wrote again (or the ticket was reopened) while its assignee was Offline (reassign-away)."""
    NO_FIRST_REPLY = "no_first_reply"
    """Its assignee sent no first reply in time (reassign-unanswered): the next agent, skipping them."""


class WebhookSecretName(StrEnum):
    """The secrets an account's provider webhooks are checked with (docs/HTTP.md, "Webhooks in"): one per
    provider, and Meta's verify token of its subscription handshake besides its app secret."""

    TWILIO = "twilio"
    MAILGUN = "mailgun"
    META = "meta"
    META_VERIFY_TOKEN = "meta-verify-token"
    WEBCHAT = "webchat"

    @classmethod
    def _missing_(cls, value: object) -> WebhookSecretName:
        raise _not_one_of(cls, value, "a webhook secret")

    @property
    def provider(self) -> str:
        """Whose webhook it checks: ``twilio``, ``mailgun``, ``meta`` or ``webchat``."""
        return self.value.split("-", 1)[0]

    @property
    def kind(self) -> str:
        """What the provider calls it: ``auth_token``, ``signing_key``, ``app_secret``, ``verify_token``, ``secret``."""
        return _SECRET_KINDS[self.value]


_SECRET_KINDS = {
    "twilio": "auth_token",
    "mailgun": "signing_key",
    "meta": "app_secret",
    "meta-verify-token": "verify_token",
    "webchat": "secret",
}


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"has no UTC offset (is not timezone-aware): {DATETIME_HINT}")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC (years 0001-9999)") from None


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
    """Validate one id outside a model, with a message that names the field, e.g. ``account: 'ac me' is not a
    valid id: use 1–128 letters, digits or . _ @ + - (starting with a letter or digit), e.g. acme-support``."""
    try:
        return _ID_ADAPTER.validate_python(value)
    except ValidationError:
        raise ValueError(f"{field}: {id_problem(value)}") from None
