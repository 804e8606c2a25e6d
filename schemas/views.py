"""Read models: what the CLI and APIs list (``--json`` prints exactly these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import AgentStatus, AwareDatetime, Channel, Role, UnassignedReason, WebhookSecretName
from schemas.config import AccountSettings


class UnassignedTicket(BaseModel):
    """One row of an account's unassigned set (oldest first)."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str = Field(description="The ticket.")
    channel: Channel = Field(description="Channel the ticket arrived on.")
    reason: UnassignedReason = Field(description="Why it is unassigned.")
    created_at: AwareDatetime = Field(description="When the ticket arrived (UTC).")
    available_at: AwareDatetime | None = Field(description="after_hours: when office hours next open (UTC); else null.")


class UserView(BaseModel):
    """A user of an account with their status, their turn in the rotation and what they were assigned."""

    model_config = ConfigDict(frozen=True)

    user_id: str = Field(description="The user.")
    role: Role = Field(description="The user's role.")
    status: AgentStatus = Field(description="online or offline.")
    place: int | None = Field(description="Rotation place (lower goes first); null if never in the rotation.")
    next_rank: int | None = Field(
        default=None,
        description="Turn among the Online agents: 1 gets the next ticket, 2 the one after; null when Offline. "
        "An agent whose load has reached their capacity keeps this turn but is skipped until they have room.",
    )
    assigned: int = Field(description="Tickets assigned to the user by round robin (all time).")
    load: int = Field(default=0, description="Open tickets assigned to the user: assigned and not closed.")
    capacity: int | None = Field(
        default=None,
        description="The most open tickets the user may hold (effective: their own override, else the account's); "
        "null when there is no limit, and for viewers (they take no tickets).",
    )
    capacity_override: bool = Field(
        default=False, description="capacity is the user's own override (true) or the account's value (false)."
    )
    assigned_today: int = Field(
        default=0, description="Tickets assigned to the user today, inbound and bulk (the current UTC day)."
    )
    last_heartbeat: AwareDatetime | None = Field(
        default=None,
        description="When the user's app last sent a heartbeat (going Online counts as one), UTC; null if never. "
        "With a presence timeout, an Online agent is set Offline that long after it.",
    )
    channels: list[Channel] | None = Field(
        default=None,
        description="The channels the user takes tickets of (per-channel pools); null means every channel (the "
        "default), and for viewers (they take no tickets).",
    )


class SettingsView(AccountSettings):
    """An account's settings as a person reads them: what is set (every ``AccountSettings`` field, so a
    policy added there shows here too) and what it means at ``as_of``."""

    account_id: str = Field(description="The account.")
    as_of: AwareDatetime = Field(description="The moment open_now and next_opening are judged at (UTC).")
    open_now: bool = Field(description="Webchat is inside office hours at as_of (always true without office hours).")
    channel_pools: bool = Field(
        default=False,
        description="Per-channel pools are in use: some agent takes only some channels (agent_channels is not "
        "empty), so each ticket goes to the least recently assigned Online agent who takes its channel.",
    )
    next_opening: AwareDatetime | None = Field(
        description="Closed now: when office hours next open (UTC); null when open now, without office hours, "
        "or when they do not open within 400 days."
    )
    waiting_tickets: int = Field(description="Tickets waiting now (the unassigned set).")
    max_waiting_tickets: int = Field(
        description="The most tickets the account may have waiting (HELPDESK_RR_MAX_WAITING_TICKETS, one value "
        "for the deployment); a ticket that would wait beyond it goes to the failed registry."
    )


class TeamView(BaseModel):
    """A team, its members and who of them is Online now (in rotation order)."""

    model_config = ConfigDict(frozen=True)

    team_id: str = Field(description="The team.")
    members: list[str] = Field(description="Members, sorted.")
    online: list[str] = Field(description="Members Online now, next to be assigned first.")


class ApiKeyView(BaseModel):
    """One API key as listed (``api-key ACCOUNT list``): never the key, never its hash."""

    model_config = ConfigDict(frozen=True)

    key_id: str = Field(description="Public id of the key: `api-key ACCOUNT revoke KEY_ID` takes it.")
    label: str = Field(description="What the key is for, as given at creation (may be empty).")
    created_at: str = Field(description="When it was made (UTC, ISO 8601).")


class CreatedApiKey(ApiKeyView):
    """A key just made: the only time the whole key is shown. Store it; it cannot be read back."""

    key: str = Field(description="The whole key: send it as `Authorization: Bearer <key>`.")


class BulkResult(BaseModel):
    """What a finished bulk job did (``bulk-assign --wait --json`` prints the same object)."""

    model_config = ConfigDict(frozen=True)

    tickets: int = Field(description="Tickets the job took (duplicates removed).")
    assigned: int = Field(description="Assigned to a team member.")
    agents: int = Field(description="Team members who got tickets.")
    toasts: int = Field(description="Toasts sent (one per agent who got tickets).")
    unassigned: int = Field(description="Left unassigned: no team member was Online.")
    unknown: int = Field(description="Never seen by helpdesk-rr (or their record expired).")
    already_done: int = Field(description="Already handled by this job (a retried attempt).")
    closed: int = Field(description="Closed tickets, skipped and never assigned.")
    above_capacity: list[str] = Field(description="Agents the job left above their capacity (bulk ignores it).")
    no_team_member_online: bool = Field(description="Nothing was assigned because nobody of the team was Online.")


class BulkJobView(BaseModel):
    """A bulk-assignment job as it runs: its status, how far it got, and when finished what it did."""

    model_config = ConfigDict(frozen=True)

    job_id: str = Field(description="The bulk job.")
    team_id: str = Field(description="The team it assigns to.")
    status: str = Field(
        description="RQ's status: queued, started, deferred or scheduled (waiting or running), finished, "
        "failed (see `helpdesk-rr failed`), stopped or canceled."
    )
    done: int = Field(description="Tickets handled so far.")
    total: int | None = Field(description="Tickets the job took; null until it has resolved its list.")
    result: BulkResult | None = Field(description="What it did, once finished; else null.")


class WebhookSecretView(BaseModel):
    """One of an account's webhook secrets as listed (``webhook-secret ACCOUNT list``): whether it is set, when
    and by whom. Never the secret."""

    model_config = ConfigDict(frozen=True)

    name: WebhookSecretName = Field(description="The secret: twilio, mailgun, meta, meta-verify-token or webchat.")
    provider: str = Field(description="Whose webhook it checks: twilio, mailgun, meta or webchat.")
    kind: str = Field(
        description="What the provider calls it: auth_token, signing_key, app_secret, verify_token or secret."
    )
    is_set: bool = Field(description="A secret is stored: that provider's webhooks of the account can be verified.")
    set_at: AwareDatetime | None = Field(description="When it was last set (UTC); null when not set.")
    set_by: str | None = Field(description="Who set it (the actor); null when not set.")
