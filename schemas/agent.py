"""Read models of the agent page (docs/HTTP.md, "The agent page"): an agent link, the agent's open tickets and
what the page shows about its agent. Kept apart from schemas/views.py: they belong to one surface."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import AgentStatus, AwareDatetime, Channel, Role


class AgentLink(BaseModel):
    """A signed, expiring token for one user's agent page (``helpdesk-rr agent-link``)."""

    model_config = ConfigDict(frozen=True)

    account_id: str = Field(description="The account.")
    user_id: str = Field(description="The user the link is for.")
    token: str = Field(description="The token: `<base URL>/agent?token=<token>` opens the page.")
    expires_at: AwareDatetime = Field(description="When the token stops working (UTC).")


class OpenTicket(BaseModel):
    """A ticket assigned to the agent and not closed."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str = Field(description="The ticket.")
    channel: Channel = Field(description="Channel the ticket arrived on.")
    created_at: AwareDatetime | None = Field(description="When the ticket arrived (UTC).")


class OpenTickets(BaseModel):
    """An agent's open tickets, newest assignment first, found through the account's event stream and checked
    against each ticket's record (worker/core/open_tickets.py)."""

    model_config = ConfigDict(frozen=True)

    tickets: list[OpenTicket] = Field(description="Open tickets assigned to the agent, newest assignment first.")
    load: int = Field(description="The agent's open tickets as counted by the rotation (their load).")
    complete: bool = Field(
        description="Every ticket the load counts was found. False when some were assigned before the "
        "retained event history (the account stream keeps ~100,000 events) or their record expired."
    )


class AgentView(BaseModel):
    """What the agent page shows: who the link is for, their status and their open tickets."""

    model_config = ConfigDict(frozen=True)

    account_id: str = Field(description="The account.")
    user_id: str = Field(description="The agent.")
    role: Role = Field(description="Their role (a viewer cannot go Online).")
    status: AgentStatus = Field(description="online or offline.")
    can_be_online: bool = Field(description="Whether the role may go Online (agent or higher).")
    open_tickets: OpenTickets = Field(description="Their open tickets.")
