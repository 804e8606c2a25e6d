"""One agent's open tickets: the smallest correct read the state allows.

The state keeps no per-agent set of tickets (only each agent's *count* of open tickets, ``load``, which every
script that assigns, closes, reopens or moves a ticket keeps exact). So the tickets are found through the
account's event stream, newest first: every ``ticket.assigned`` or ``ticket.reopened`` naming the agent
gives a candidate, and the ticket's record — the truth — says whether it is still theirs and open (``status``
assigned, ``agent_id`` the agent, no ``closed``). The read stops as soon as it has found ``load`` tickets,
so an agent's page costs one or two pages of the stream in the usual case; it reads the whole retained
stream (~100,000 events, in pages of 500) only when some ticket cannot be found, and then says so
(``complete`` false) instead of guessing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from schemas.agent import OpenTicket, OpenTickets
from schemas.common import Channel
from worker.core.keys import AccountKeys
from worker.core.text import optional_text, text

PAGE = 500
CANDIDATE_TYPES = (b"ticket.assigned", b"ticket.reopened", "ticket.assigned", "ticket.reopened")


def _candidate(fields: dict[Any, Any], user_id: str) -> str | None:
    """The ticket id of an event that may have left the ticket with ``user_id``, else None."""
    kind = fields.get(b"type", fields.get("type"))
    if kind not in CANDIDATE_TYPES:
        return None
    try:
        event = json.loads(fields.get(b"data", fields.get("data")) or "")
    except (TypeError, ValueError):
        return None
    if not isinstance(event, dict) or event.get("agent_id") != user_id:
        return None
    ticket = event.get("ticket_id")
    return ticket if isinstance(ticket, str) else None


def _still_open(record: list[Any], user_id: str) -> bool:
    status, agent, closed = (optional_text(value) for value in record[:3])
    return status == "assigned" and agent == user_id and closed != "1"


def _open_ticket(ticket_id: str, record: list[Any]) -> OpenTicket | None:
    channel, created_at = optional_text(record[3]), optional_text(record[4])
    if channel not in {c.value for c in Channel}:
        return None
    return OpenTicket(
        ticket_id=ticket_id,
        channel=Channel(channel),
        created_at=datetime.fromisoformat(created_at) if created_at else None,
    )


def open_tickets(client: Any, account_id: str, user_id: str, partitions: int | None = None) -> OpenTickets:
    """``user_id``'s open tickets in ``account_id``, newest assignment first (see the module's docstring)."""
    keys = AccountKeys.for_account(account_id, partitions)
    load = int(client.hget(keys.load, user_id) or 0)
    found: list[OpenTicket] = []
    seen: set[str] = set()
    cursor = "+"
    while len(found) < load:
        entries: Any = client.xrevrange(keys.events, max=cursor, min="-", count=PAGE)
        fresh = []
        for _entry_id, fields in entries:
            ticket = _candidate(fields, user_id)
            if ticket is not None and ticket not in seen:
                seen.add(ticket)
                fresh.append(ticket)
        pipe = client.pipeline(transaction=False)
        for ticket in fresh:
            pipe.hmget(keys.ticket(ticket), ["status", "agent_id", "closed", "channel", "created_at"])
        for ticket, record in zip(fresh, pipe.execute() if fresh else [], strict=True):
            row = _open_ticket(ticket, record) if _still_open(record, user_id) else None
            if row is not None:
                found.append(row)
        if len(entries) < PAGE:
            break
        cursor = f"({text(entries[-1][0])}"
    return OpenTickets(tickets=found, load=load, complete=len(found) >= load)


def is_online(client: Any, account_id: str, user_id: str, partitions: int | None = None) -> bool:
    """Whether the user is Online (in the account's rotation set)."""
    return client.zscore(AccountKeys.for_account(account_id, partitions).online, user_id) is not None


def newest_event_id(client: Any, account_id: str, partitions: int | None = None) -> str:
    """The id of the account's newest event, ``0-0`` when it has none: where a new live reader starts."""
    newest: Any = client.xrevrange(AccountKeys.for_account(account_id, partitions).events, count=1)
    return text(newest[0][0]) if newest else "0-0"
