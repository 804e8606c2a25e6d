"""Readable one-line renderings of events for terminals (the CLI and the demo)."""

from __future__ import annotations

import json

from schemas.common import utc_iso
from schemas.events import EventOrUnreadable


def describe(event: EventOrUnreadable) -> str:
    """One readable line per event for terminals (an unreadable entry: its stream id and why)."""
    if event.type == "unreadable":
        return f"unreadable entry {event.entry_id}: {event.reason}"
    when = utc_iso(event.occurred_at)
    match event.type:
        case "ticket.assigned":
            extra = f" (was {event.previous_agent_id})" if event.previous_agent_id else ""
            return f"{when} ticket.assigned    {event.ticket_id} ({event.channel.value}) -> {event.agent_id}{extra}"
        case "ticket.unassigned":
            until = f" until {utc_iso(event.available_at)}" if event.available_at else ""
            return f"{when} ticket.unassigned  {event.ticket_id} ({event.channel.value}): {event.reason.value}{until}"
        case "toast":
            return f"{when} toast              @{event.user_id}: {event.text}"
        case "agent.status_changed":
            by = f" by {event.actor_id}" if event.actor_id and event.actor_id != event.user_id else ""
            return f"{when} agent.status       {event.user_id} is {event.status.value}{by}"
        case _:
            return f"{when} settings.changed   {json.dumps(event.changes)} by {event.actor_id}"
