"""Events the worker emits on the account and partition streams (consumer side).

Consumer-side models ignore unknown fields so that adding a field is not a breaking change;
``schema_version`` changes when a field is removed or changes meaning.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.common import AgentStatus, AssignedReason, AwareDatetime, Channel, StatusChangeReason, UnassignedReason


def new_event_id() -> str:
    return uuid.uuid4().hex


class BaseEvent(BaseModel):
    """Fields every emitted event has."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(default_factory=new_event_id, description="Unique event id.")
    schema_version: Literal["1"] = Field(default="1", description="Schema version of this event.")
    account_id: str = Field(description="The account the event belongs to.")
    occurred_at: AwareDatetime = Field(description="When the decision or change happened (UTC, ISO 8601).")


class TicketAssigned(BaseEvent):
    type: Literal["ticket.assigned"] = Field(default="ticket.assigned", description="Event type.")
    ticket_id: str = Field(description="The ticket.")
    channel: Channel = Field(description="Channel the ticket arrived on.")
    agent_id: str = Field(description="The agent the ticket is now assigned to.")
    previous_agent_id: str | None = Field(
        default=None,
        description="Previous owner on reassignment (bulk_team, assignee_away, no_first_reply; on waiting_queue the "
        "assignee a ticket left when it waited after a reassignment), else null.",
    )
    reason: AssignedReason = Field(
        description="round_robin (inbound), bulk_team (bulk team assignment), waiting_queue (released from the "
        "waiting queue by auto-assign), assignee_away (the customer wrote or reopened while the assignee was "
        "Offline) or no_first_reply (no first reply in time); accept reasons you do not know."
    )
    team_id: str | None = Field(default=None, description="Team of a bulk team assignment, else null.")


class TicketUnassigned(BaseEvent):
    type: Literal["ticket.unassigned"] = Field(default="ticket.unassigned", description="Event type.")
    ticket_id: str = Field(description="The ticket.")
    channel: Channel = Field(description="Channel the ticket arrived on.")
    reason: UnassignedReason = Field(description="Why the ticket was left unassigned.")
    available_at: AwareDatetime | None = Field(
        default=None, description="For after_hours: when office hours next open (UTC); else null."
    )


class Toast(BaseEvent):
    type: Literal["toast"] = Field(default="toast", description="Event type.")
    user_id: str = Field(description="Who sees the in-app toast.")
    text: str = Field(description="The toast text.")
    ticket_ids: list[str] = Field(description="Tickets the toast is about.")


class AgentStatusChanged(BaseEvent):
    type: Literal["agent.status_changed"] = Field(default="agent.status_changed", description="Event type.")
    user_id: str = Field(description="The agent whose status changed.")
    status: AgentStatus = Field(description="The new status.")
    actor_id: str | None = Field(
        description="Who changed it; null when helpdesk-rr did (a role change, a presence timeout)."
    )
    reason: StatusChangeReason = Field(
        default=StatusChangeReason.MANUAL,
        description="manual (a person set it), role_change (a demotion to viewer took them Offline) or "
        "presence_timeout (no heartbeat for the account's presence timeout). Events written before this field "
        "existed read as manual; consumers must accept reasons they do not know.",
    )


class SettingsChanged(BaseEvent):
    type: Literal["settings.changed"] = Field(default="settings.changed", description="Event type.")
    actor_id: str = Field(description="Who changed the settings.")
    changes: dict[str, Any] = Field(
        description='What changed, new values: {"round_robin": "on"}, {"office_hours": {...} | null}, {"team": {...}}, '
        '{"capacity": N | null}, {"agent_capacity": {"user_id": ..., "capacity": N | null}}, {"auto_assign": "on"} or '
        '{"webhook_secret": {"name": "twilio", "provider": "twilio", "kind": "auth_token", "set": true | false}} '
        "(never the secret itself); accept keys you do not know."
    )


class TicketClosed(BaseEvent):
    type: Literal["ticket.closed"] = Field(default="ticket.closed", description="Event type.")
    ticket_id: str = Field(description="The ticket.")
    agent_id: str | None = Field(description="Its assignee when it was closed (their load went down by one), or null.")


class TicketReopened(BaseEvent):
    type: Literal["ticket.reopened"] = Field(default="ticket.reopened", description="Event type.")
    ticket_id: str = Field(description="The ticket.")
    agent_id: str | None = Field(description="Its assignee (their load went back up by one), or null.")


Event = Annotated[
    TicketAssigned | TicketUnassigned | Toast | AgentStatusChanged | SettingsChanged | TicketClosed | TicketReopened,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_MODELS: tuple[type[BaseEvent], ...] = (
    TicketAssigned,
    TicketUnassigned,
    Toast,
    AgentStatusChanged,
    SettingsChanged,
    TicketClosed,
    TicketReopened,
)


class UnreadableEvent(BaseModel):
    """A stream entry that is not a valid event (written by hand, by an older or buggy writer, or by
    someone with write access to Redis). Readers show it as such and go on (docs/EVENTS.md); it is
    never emitted, so it is not among the exported schemas."""

    model_config = ConfigDict(frozen=True)

    type: Literal["unreadable"] = Field(default="unreadable", description="Marks an entry that is not an event.")
    id: str = Field(description="The stream entry's id (an unreadable entry has no event id to trust).")
    account_id: str = Field(description="The account whose stream holds the entry.")
    entry_id: str = Field(description="The stream entry's id.")
    reason: str = Field(description="Why it could not be read, on one line.")


EventOrUnreadable = Event | UnreadableEvent
"""What readers of a stream yield for each entry: the event, or why the entry is not one."""


def parse_event(data: str | bytes) -> Event:
    """Parse one event's JSON (the ``data`` field of a stream entry)."""
    return EVENT_ADAPTER.validate_json(data)
