"""The default clock of engine tests, the ticket factory's type and an account set up in one call.

The ``make_ticket`` fixture that builds tickets stays in tests/conftest.py; its type is here so a test
module can annotate its argument without importing conftest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from schemas.common import AgentStatus, Role
from schemas.inbound import TicketCreated
from worker.core.engine import Engine

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
"""A Tuesday, 15:00 UTC: the default clock of engine tests (time is passed in)."""

TicketFactory = Callable[..., TicketCreated]


def setup_account(
    engine: Engine,
    account_id: str = "acme",
    *,
    agents: tuple[str, ...] = ("ana", "ben", "cara"),
    online: tuple[str, ...] = (),
    round_robin: bool = True,
    manager: str = "max",
) -> None:
    """An account with a manager, some agents (those in ``online`` set Online, in that order)."""
    engine.upsert_user(account_id, manager, Role.MANAGER, NOW)
    for agent in agents:
        engine.upsert_user(account_id, agent, Role.AGENT, NOW)
    for agent in online:
        engine.set_status(account_id, agent, AgentStatus.ONLINE, agent, NOW)
    if round_robin:
        engine.set_round_robin(account_id, True, manager, NOW)
