"""Configuration models: an account's settings, as a manager configures them (roles live in ``schemas.common``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.office_hours import OfficeHours


class AccountSettings(BaseModel):
    """What a manager configures for an account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round_robin: bool = Field(default=False, description="Round robin on (true) or off; off until turned on.")
    office_hours: OfficeHours | None = Field(
        default=None, description="Office hours gating webchat; null means always open."
    )
