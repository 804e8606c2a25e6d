"""One ticket's decision as callers see it, built from the decision script's reply, and its log line.

Shared by the per-ticket path (``Engine.decide``) and the burst intake's batches (worker/core/decide_many.py),
so both report and log a decision the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog

from schemas.common import Channel
from worker.core.scripts import DecideReply

log = structlog.get_logger("helpdesk_rr.engine")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one ticket (also what a duplicate delivery gets back)."""

    account_id: str
    ticket_id: str
    channel: Channel
    outcome: Literal["assigned", "unassigned"]
    agent_id: str | None
    reason: str
    """``round_robin`` when assigned, else the unassigned reason."""
    available_at: datetime | None
    duplicate: bool


def decision_of(account_id: str, ticket_id: str, reply: DecideReply) -> Decision:
    """The decision a reply holds, logged (one line per decision: account, ticket, agent, reason)."""
    assigned = reply.outcome == "assigned"
    decision = Decision(
        account_id=account_id,
        ticket_id=ticket_id,
        channel=Channel(reply.channel),
        outcome="assigned" if assigned else "unassigned",
        agent_id=reply.agent_or_reason if assigned else None,
        reason="round_robin" if assigned else reply.agent_or_reason,
        available_at=datetime.fromisoformat(reply.available_at) if reply.available_at else None,
        duplicate=reply.duplicate,
    )
    log.info(
        "ticket.decided",
        account_id=decision.account_id,
        ticket_id=decision.ticket_id,
        channel=decision.channel.value,
        outcome=decision.outcome,
        agent_id=decision.agent_id,
        reason=decision.reason,
        available_at=reply.available_at or None,
        duplicate=decision.duplicate,
    )
    return decision
