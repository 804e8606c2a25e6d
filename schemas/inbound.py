"""Inbound events: what channel integrations hand to ``producers``.

Strict on purpose (``extra="forbid"``, bounded strings, aware datetimes): a typo in an integration
should fail loudly at the edge, with a message naming the field, before anything is enqueued.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator

from schemas.common import AwareDatetime, Channel, Identifier, utc_iso

MAX_FUTURE_SKEW = timedelta(minutes=5)
"""How far in the future a ``created_at`` may be (clock skew between integrations and us)."""

SUBJECT_MAX_LENGTH = 500

Subject = Annotated[str, StringConstraints(max_length=SUBJECT_MAX_LENGTH, strip_whitespace=True)]


def _now_from(info: ValidationInfo) -> datetime:
    """The validation clock: ``context={"now": ...}`` when the caller passes time in, else the wall clock.

    Only edge code validates, so reading the clock here is the "pass time in" boundary.
    """
    context = info.context or {}
    now = context.get("now")
    if not isinstance(now, datetime):
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("validation context 'now' must be timezone-aware")
    return now.astimezone(UTC)


def _not_in_future(value: datetime, info: ValidationInfo) -> datetime:
    now = _now_from(info)
    if value > now + MAX_FUTURE_SKEW:
        minutes = int(MAX_FUTURE_SKEW.total_seconds() // 60)
        raise ValueError(f"is in the future: more than {minutes} minutes after now ({utc_iso(now)})")
    return value


class TicketCreated(BaseModel):
    """A new inbound ticket. ``created_at`` is the arrival time that office hours are judged by."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ticket.created"] = Field(default="ticket.created", description="Event type.")
    schema_version: Literal["1"] = Field(default="1", description="Schema version of this event.")
    account_id: Identifier = Field(description="The helpdesk account (customer) the ticket belongs to.")
    ticket_id: Identifier = Field(description="The ticket's id in the helpdesk; unique within the account.")
    channel: Channel = Field(description="Channel the ticket arrived on: email, webchat, sms or social.")
    created_at: AwareDatetime = Field(
        description="When the ticket arrived (timezone-aware; at most 5 minutes in the future)."
    )
    subject: Subject | None = Field(default=None, description="Subject or first line, at most 500 characters.")

    _check_future = field_validator("created_at")(_not_in_future)


class AgentFirstReply(BaseModel):
    """An integration reporting an agent's first reply to a ticket (time to first reply)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["agent.first_reply"] = Field(default="agent.first_reply", description="Event type.")
    schema_version: Literal["1"] = Field(default="1", description="Schema version of this event.")
    account_id: Identifier = Field(description="The helpdesk account.")
    ticket_id: Identifier = Field(description="The ticket replied to.")
    agent_id: Identifier = Field(description="The agent who replied.")
    replied_at: AwareDatetime = Field(description="When the reply was sent (timezone-aware).")

    _check_future = field_validator("replied_at")(_not_in_future)


class TicketClose(BaseModel):
    """An integration reporting that a ticket was closed (it may arrive before the ticket itself)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ticket.close"] = Field(default="ticket.close", description="Event type.")
    schema_version: Literal["1"] = Field(default="1", description="Schema version of this event.")
    account_id: Identifier = Field(description="The helpdesk account.")
    ticket_id: Identifier = Field(description="The ticket closed.")
    at: AwareDatetime = Field(description="When it was closed (timezone-aware; at most 5 minutes in the future).")

    _check_future = field_validator("at")(_not_in_future)


class TicketReopen(BaseModel):
    """An integration reporting that a closed ticket was reopened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ticket.reopen"] = Field(default="ticket.reopen", description="Event type.")
    schema_version: Literal["1"] = Field(default="1", description="Schema version of this event.")
    account_id: Identifier = Field(description="The helpdesk account.")
    ticket_id: Identifier = Field(description="The ticket reopened.")
    at: AwareDatetime = Field(description="When it was reopened (timezone-aware; at most 5 minutes in the future).")

    _check_future = field_validator("at")(_not_in_future)


class CustomerReply(BaseModel):
    """An integration reporting a new customer message on an existing ticket (reassign-away)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ticket.customer_reply"] = Field(default="ticket.customer_reply", description="Event type.")
    schema_version: Literal["1"] = Field(default="1", description="Schema version of this event.")
    account_id: Identifier = Field(description="The helpdesk account.")
    ticket_id: Identifier = Field(description="The ticket the customer wrote on.")
    at: AwareDatetime = Field(
        description="When the customer wrote (timezone-aware; at most 5 minutes in the future). A reply at or "
        "before the last one processed for the ticket is a repeat and changes nothing."
    )

    _check_future = field_validator("at")(_not_in_future)


MAX_BULK_TICKETS = 10_000
"""Most tickets one bulk job takes. Bounded so that one job finishes in well under a second and its
resolved ticket list (kept so that a retry after a crash resumes the same list) stays small; more
tickets are simply more jobs (--unassigned takes the oldest 10,000)."""


class BulkAssignRequest(BaseModel):
    """A manager's (or agent's) request to spread tickets over a team's Online members."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: Identifier = Field(description="The account.")
    team_id: Identifier = Field(description="The team whose Online members get the tickets.")
    actor_id: Identifier = Field(description="Who asks (agent or higher).")
    ticket_ids: list[Identifier] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BULK_TICKETS,
        description="Tickets to assign (1-10,000, duplicates ignored); or set unassigned.",
    )
    unassigned: bool = Field(default=False, description="Assign the account's unassigned tickets, oldest first.")

    @model_validator(mode="after")
    def _one_source(self) -> BulkAssignRequest:
        if (self.ticket_ids is None) == (not self.unassigned):
            raise ValueError("give either ticket_ids or unassigned=true (exactly one)")
        if self.ticket_ids is not None and len(set(self.ticket_ids)) != len(self.ticket_ids):
            object.__setattr__(self, "ticket_ids", list(dict.fromkeys(self.ticket_ids)))
        return self
