"""Readable renderings for terminals (the CLI and the demo): events in one line, times in UTC with the
account's local time next to them (``LocalTimes`` finds each account's zone through the control API).

A person reads local time; scripts and the JSON keep UTC only. With an account zone (its office hours'),
a moment reads ``2026-11-24T14:00:00.000Z (09:00 America/New_York)``; when the local date is not the UTC
date, the local date is shown too: ``2026-11-25T02:00:00.000Z (2026-11-24 21:00 America/New_York)``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from schemas.common import utc_iso
from schemas.events import EventOrUnreadable
from schemas.office_hours import OfficeHours
from worker.api import Helpdesk, HelpdeskError


def account_zone(hours: OfficeHours | None) -> ZoneInfo | None:
    """The zone an account's times are shown in: its office hours' (None: UTC only)."""
    return hours.zone if hours is not None else None


class LocalTimes:
    """Events described with times in their account's zone, read once per account and again after an
    event changed its office hours (so ``events --follow`` picks up a new zone)."""

    def __init__(self, helpdesk: Helpdesk) -> None:
        self._helpdesk = helpdesk
        self._zones: dict[str, ZoneInfo | None] = {}

    def zone(self, account_id: str) -> ZoneInfo | None:
        if account_id not in self._zones:
            try:
                self._zones[account_id] = account_zone(self._helpdesk.settings(account_id).office_hours)
            except HelpdeskError:  # an account nobody set up: its times in UTC only
                self._zones[account_id] = None
        return self._zones[account_id]

    def describe(self, event: EventOrUnreadable) -> str:
        if event.type == "settings.changed" and "office_hours" in event.changes:
            self._zones.pop(event.account_id, None)
        return describe(event, self.zone(event.account_id))


def when(moment: datetime, zone: ZoneInfo | None = None) -> str:
    """``moment`` in UTC, followed by its wall-clock time in ``zone`` when there is one."""
    utc = utc_iso(moment)
    if zone is None:
        return utc
    local = moment.astimezone(zone)
    shown = f"{local:%H:%M}" if local.date() == moment.astimezone(UTC).date() else f"{local:%Y-%m-%d %H:%M}"
    return f"{utc} ({shown} {zone.key})"


def describe(event: EventOrUnreadable, zone: ZoneInfo | None = None) -> str:
    """One readable line per event for terminals (an unreadable entry: its stream id and why); times
    also in ``zone`` when given."""
    if event.type == "unreadable":
        return f"unreadable entry {event.entry_id}: {event.reason}"
    at = when(event.occurred_at, zone)
    match event.type:
        case "ticket.assigned":
            extra = "" if event.reason.value == "round_robin" else f": {event.reason.value}"  # bulk_team, waiting_queue
            extra += f" (was {event.previous_agent_id})" if event.previous_agent_id else ""
            return f"{at} ticket.assigned    {event.ticket_id} ({event.channel.value}) -> {event.agent_id}{extra}"
        case "ticket.unassigned":
            until = f" until {when(event.available_at, zone)}" if event.available_at else ""
            return f"{at} ticket.unassigned  {event.ticket_id} ({event.channel.value}): {event.reason.value}{until}"
        case "toast":
            return f"{at} toast              @{event.user_id}: {event.text}"
        case "agent.status_changed":
            by = f" by {event.actor_id}" if event.actor_id and event.actor_id != event.user_id else ""
            why = "" if event.reason.value == "manual" else f" ({event.reason.value})"  # presence_timeout, role_change
            return f"{at} agent.status       {event.user_id} is {event.status.value}{by}{why}"
        case "ticket.closed" | "ticket.reopened":
            by = f" (assigned to {event.agent_id})" if event.agent_id else ""
            return f"{at} {event.type:<18} {event.ticket_id}{by}"
        case _:
            return f"{at} settings.changed   {json.dumps(event.changes)} by {event.actor_id}"
