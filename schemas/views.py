"""Read models: what the CLI and APIs list (``--json`` prints exactly these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import AgentStatus, AwareDatetime, Channel, Role, UnassignedReason


class UnassignedTicket(BaseModel):
    """One row of an account's unassigned set (oldest first)."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str = Field(description="The ticket.")
    channel: Channel = Field(description="Channel the ticket arrived on.")
    reason: UnassignedReason = Field(description="Why it is unassigned.")
    created_at: AwareDatetime = Field(description="When the ticket arrived (UTC).")
    available_at: AwareDatetime | None = Field(description="after_hours: when office hours next open (UTC); else null.")


class UserView(BaseModel):
    """A user of an account with their status and rotation place."""

    model_config = ConfigDict(frozen=True)

    user_id: str = Field(description="The user.")
    role: Role = Field(description="The user's role.")
    status: AgentStatus = Field(description="online or offline.")
    place: int | None = Field(description="Rotation place (lower goes first); null if never in the rotation.")
    assigned: int = Field(description="Tickets assigned to the user by round robin (all time).")


class TeamView(BaseModel):
    """A team, its members and who of them is Online now (in rotation order)."""

    model_config = ConfigDict(frozen=True)

    team_id: str = Field(description="The team.")
    members: list[str] = Field(description="Members, sorted.")
    online: list[str] = Field(description="Members Online now, next to be assigned first.")
