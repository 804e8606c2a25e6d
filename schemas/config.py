"""Configuration models: an account's settings, as a manager configures them (roles live in ``schemas.common``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Channel
from schemas.office_hours import OfficeHours


class AccountSettings(BaseModel):
    """What a manager configures for an account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round_robin: bool = Field(default=False, description="Round robin on (true) or off; off until turned on.")
    office_hours: OfficeHours | None = Field(
        default=None, description="Office hours gating webchat; null means always open."
    )
    capacity: int | None = Field(
        default=None,
        description="The most open tickets an agent may hold (the account's value); null means no limit.",
    )
    agent_capacities: dict[str, int] = Field(
        default_factory=dict, description="Per-agent overrides of capacity, user id → capacity (sorted by user id)."
    )
    auto_assign: bool = Field(
        default=False,
        description="Waiting tickets are released to agents with room, oldest first (needs capacity); off by default.",
    )
    presence_timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Presence timeout in whole seconds: an Online agent without a heartbeat for this long is set "
        "Offline automatically (never Online); null means off (the default: only people change a status).",
    )
    reassign_away: bool = Field(
        default=False,
        description="A customer reply or reopen on a ticket whose assignee is Offline (for at least the grace) "
        "sends it through the rotation again (reason assignee_away); off by default.",
    )
    reassign_away_grace_seconds: int = Field(
        default=0, ge=0, description="How long the assignee must have been Offline, in whole seconds (default 0)."
    )
    reassign_unanswered_after_seconds: int | None = Field(
        default=None,
        ge=1,
        description="An automatically assigned ticket without a first reply this long after its assignment goes to "
        "the next agent (reason no_first_reply); null means off (the default).",
    )
    reassign_unanswered_max: int | None = Field(
        default=None,
        ge=1,
        description="At most this many no_first_reply reassignments per ticket (default 1); null while off.",
    )
    agent_channels: dict[str, list[Channel]] = Field(
        default_factory=dict,
        description="Agents restricted to some channels, user id → the channels they take (sorted by user id; "
        "channels in email, webchat, sms, social order). An agent not listed takes every channel (the default).",
    )
