"""Configuration models: an account's settings and its users (roles live in ``schemas.common``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Identifier, Role
from schemas.office_hours import OfficeHours


class AccountSettings(BaseModel):
    """What a manager configures for an account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round_robin: bool = Field(default=False, description="Round robin on (true) or off; off until turned on.")
    office_hours: OfficeHours | None = Field(
        default=None, description="Office hours gating webchat; null means always open."
    )


class User(BaseModel):
    """A seat in an account. Only agent or higher can be in the round-robin pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: Identifier = Field(description="The account.")
    user_id: Identifier = Field(description="The user.")
    role: Role = Field(description="owner, admin, manager, agent or viewer.")
