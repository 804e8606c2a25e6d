"""Helpers of the reassignment tests (issue 16, parts 2 and 3): the events of a ticket, the record, loads."""

from __future__ import annotations

from datetime import timedelta

import redis

from schemas.events import TicketAssigned, TicketUnassigned
from tests.support.accounts import NOW
from worker.core.engine import Engine
from worker.core.keys import DEFAULT_PARTITIONS
from worker.core.queries import Queries
from worker.core.reassign import sweep_unanswered


def assignments(client: redis.Redis, ticket_id: str) -> list[tuple[str, str | None, str]]:
    """(agent, previous agent, reason) of every ticket.assigned of ``ticket_id``, in order."""
    return [
        (event.agent_id, event.previous_agent_id, event.reason.value)
        for _, event in Queries(client).events("acme", count=None)
        if isinstance(event, TicketAssigned) and event.ticket_id == ticket_id
    ]


def unassignments(client: redis.Redis, ticket_id: str) -> list[str]:
    return [
        event.reason.value
        for _, event in Queries(client).events("acme", count=None)
        if isinstance(event, TicketUnassigned) and event.ticket_id == ticket_id
    ]


def record(client: redis.Redis, ticket_id: str) -> dict[str, str]:
    stored = Queries(client).ticket("acme", ticket_id)
    assert stored is not None
    return stored


def loads(client: redis.Redis) -> dict[str, int]:
    return {user.user_id: user.load for user in Queries(client).users("acme") if user.load}


def sweep(engine: Engine, seconds_after: float) -> list[tuple[str, str, str]]:
    """The unanswered sweep ``seconds_after`` NOW."""
    return sweep_unanswered(engine.scripts, engine.keys, DEFAULT_PARTITIONS, NOW + timedelta(seconds=seconds_after))
