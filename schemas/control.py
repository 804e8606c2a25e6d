"""The HTTP control API's own bodies (docs/HTTP.md, "The control API"): what a route takes and answers
where no other model fits.

Everything else is reused as it is: ``TicketCreated`` is the body of ``POST …/tickets``, ``OfficeHours``
of ``PUT …/settings/office-hours``, and the reads answer with ``schemas/views.py``'s models, so the JSON a
platform reads over HTTP is byte for byte what ``--json`` prints. Bodies are strict (``extra="forbid"``,
``true``/``false`` and whole numbers only: ``"off"`` is never read as on), and they carry only the
resource's fields: the acting user travels in the ``X-Actor`` header (docs/DESIGN.md, "The HTTP edge").
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from schemas.common import AgentStatus, AwareDatetime, Channel, Identifier, Role
from schemas.durations import MAX_SECONDS
from schemas.events import EventOrUnreadable
from schemas.inbound import MAX_BULK_TICKETS


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleBody(_Body):
    role: Role = Field(description="The user's role: owner, admin, manager, agent or viewer.")


class StatusBody(_Body):
    status: AgentStatus = Field(description="online or offline.")


class EnabledBody(_Body):
    enabled: StrictBool = Field(description="true (on) or false (off).")


class CapacityBody(_Body):
    capacity: StrictInt | None = Field(
        ge=1, description="The most open tickets an agent may hold (a whole number ≥ 1); null clears it."
    )


class PresenceTimeoutBody(_Body):
    seconds: StrictInt | None = Field(
        description=f"Presence timeout in whole seconds (1 to {MAX_SECONDS:,}, 365 days); null turns it off."
    )


class ReassignAwayBody(_Body):
    enabled: StrictBool = Field(description="Reassign-away on (true) or off (false).")
    grace_seconds: StrictInt = Field(
        default=0, description=f"How long the assignee must have been Offline, whole seconds, 0 to {MAX_SECONDS:,}."
    )


class ReassignUnansweredBody(_Body):
    after_seconds: StrictInt | None = Field(
        description=f"No first reply this long after an automatic assignment (1 to {MAX_SECONDS:,} seconds): the "
        "ticket goes to the next agent; null turns it off."
    )
    max: StrictInt = Field(default=1, description="At most this many such reassignments per ticket (1 to 1,000).")


class ChannelsBody(_Body):
    channels: list[Channel] | None = Field(
        description='The channels the agent takes (e.g. ["email", "sms"]); null: every channel (the default).'
    )


class TeamBody(_Body):
    members: list[Identifier] = Field(description="The team's members, replacing the previous ones.")


class BulkAssignBody(_Body):
    team: Identifier = Field(description="The team whose Online members get the tickets.")
    tickets: list[Identifier] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BULK_TICKETS,
        description=f"Tickets to assign (1 to {MAX_BULK_TICKETS:,}); or set unassigned.",
    )
    unassigned: StrictBool = Field(default=False, description="Assign the unassigned tickets, oldest 10,000 first.")


class FirstReplyBody(_Body):
    agent: Identifier = Field(description="The agent who replied.")
    at: AwareDatetime | None = Field(
        default=None, description="When, ISO 8601 with an offset (at most 5 minutes ahead); default: now."
    )


class AtBody(_Body):
    at: AwareDatetime | None = Field(
        default=None, description="When, ISO 8601 with an offset (at most 5 minutes ahead); default: now."
    )


class Changed(_Body):
    changed: bool = Field(description="Whether anything changed (false: it was already so).")


class UserSavedBody(_Body):
    user_id: str = Field(description="The user.")
    role: Role = Field(description="Their role now.")
    previous_role: Role | None = Field(description="Their role before; null: the user is new.")
    went_offline: bool = Field(description="A demotion to viewer took them Offline.")
    changed: bool = Field(description="Whether anything changed (false: the user already had that role).")


class HeartbeatBody(_Body):
    online: bool = Field(description="Whether the user is Online (a heartbeat never sets anyone Online).")


class Accepted(_Body):
    job_id: str = Field(description="The RQ job a worker runs (a repeat of the same event is decided once).")


class BulkStarted(_Body):
    job_id: str | None = Field(description="The bulk job; null when nothing waited (nothing was enqueued).")
    progress: str | None = Field(description="Where to GET its progress; null with job_id.")
    message: str | None = Field(default=None, description="Why nothing was enqueued, when job_id is null.")


class EventEntry(_Body):
    entry_id: str = Field(description="The stream entry's id: pass the last one as `after` for the next page.")
    event: EventOrUnreadable = Field(description="The event (docs/EVENTS.md), or an unreadable entry in its place.")


class EventPage(_Body):
    events: list[EventEntry] = Field(description="Oldest first.")
    next_after: str | None = Field(description="`after` for the next page; null when this page is empty.")
