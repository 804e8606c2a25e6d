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
    agent_channels: dict[str, list[Channel]] = Field(
        default_factory=dict,
        description="Agents restricted to some channels, user id → the channels they take (sorted by user id; "
        "channels in email, webchat, sms, social order). An agent not listed takes every channel (the default).",
    )
