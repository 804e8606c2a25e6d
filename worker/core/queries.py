"""Read-only views of an account: users, the unassigned set, events, counts.

Reads need no atomicity beyond a single command or a pipeline, so they live outside the Lua scripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from pydantic import ValidationError

from schemas.common import AgentStatus, Channel, Role, UnassignedReason
from schemas.config import AccountSettings
from schemas.events import EventOrUnreadable, UnreadableEvent, parse_event
from schemas.office_hours import OfficeHours
from schemas.views import SettingsView, TeamView, UnassignedTicket, UserView
from worker.core.capacity import ACCOUNT
from worker.core.channels import channels_of
from worker.core.keys import AccountKeys
from worker.core.office_hours import is_open, next_opening
from worker.core.text import optional_text, text
from worker.errors import validation_summary

EVENTS_PAGE = 500
"""Stream entries one XRANGE reads (~0.5 ms of Redis time): a whole stream is read in pages, never in one call."""


def read_entry(account_id: str, entry_id: str, fields: dict[Any, Any]) -> EventOrUnreadable:
    """The event in a stream entry, or an ``UnreadableEvent`` saying why there is none: one bad entry
    must not stop a reader of the whole account."""
    data = fields.get(b"data", fields.get("data"))
    if data is None:
        return UnreadableEvent(id=entry_id, account_id=account_id, entry_id=entry_id, reason="no data field")
    try:
        return parse_event(data)
    except ValidationError as error:
        reason = validation_summary(error)[:200]  # one line (validation_summary), short
        return UnreadableEvent(id=entry_id, account_id=account_id, entry_id=entry_id, reason=reason)


def _capacity_of(user_id: str, role: Role, caps: dict[str, int]) -> dict[str, Any]:
    """A user's effective capacity (their override, else the account's, else none) and whether it is their
    own; viewers take no tickets, so they have none."""
    if not role.can_be_online:
        return {"capacity": None, "capacity_override": False}
    own = caps.get(user_id)
    return {"capacity": own if own is not None else caps.get(ACCOUNT), "capacity_override": own is not None}


def _from_ms(ms: int) -> datetime:
    """A time stored as epoch milliseconds, exactly (no float rounding), in UTC."""
    return datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)


class Queries:
    def __init__(self, client: redis.Redis, partitions: int | None = None) -> None:
        self.client = client
        self._partitions = partitions

    def keys(self, account_id: str) -> AccountKeys:
        return AccountKeys.for_account(account_id, self._partitions)

    def settings(self, account_id: str) -> AccountSettings:
        """The account's current settings (round robin, office hours, capacity and its overrides, auto-assign,
        the presence timeout, reassignment)."""
        keys = self.keys(account_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(keys.settings, ["round_robin", "office_hours", "oh_active", "auto_assign", "presence_timeout"])
        pipe.hgetall(keys.capacity)
        pipe.hmget(keys.settings, ["reassign_away", "reassign_away_grace", "unanswered_after", "unanswered_max"])
        pipe.hgetall(keys.agent_channels)
        (round_robin, hours, active, auto_assign, presence), capacity, reassign, restricted = pipe.execute()
        caps = {text(field): int(value) for field, value in capacity.items()}
        account_cap = caps.pop(ACCOUNT, None)
        return AccountSettings.model_validate(
            {
                "round_robin": text(round_robin or b"off") == "on",
                "office_hours": OfficeHours.model_validate_json(hours) if hours and text(active) == "1" else None,
                "capacity": account_cap,
                "agent_capacities": dict(sorted(caps.items())),
                "auto_assign": text(auto_assign or b"off") == "on",
                "presence_timeout_seconds": int(presence) if presence else None,
                **_reassign_settings([optional_text(value) for value in reassign]),
                "agent_channels": {text(user): channels_of(value) for user, value in sorted(restricted.items())},
            }
        )

    def settings_view(self, account_id: str, now: datetime, max_waiting_tickets: int) -> SettingsView:
        """The settings with what they mean at ``now``: webchat open or when it opens, tickets waiting
        against the ceiling (``max_waiting_tickets``: the deployment's, worker/config.py)."""
        settings = self.settings(account_id)
        hours = settings.office_hours
        open_now = is_open(hours, now)
        return SettingsView.model_validate(
            {
                **dict(settings),
                "account_id": account_id,
                "as_of": now,
                "open_now": open_now,
                "channel_pools": bool(settings.agent_channels),
                "next_opening": None if open_now else next_opening(hours, now),
                "waiting_tickets": int(self.client.zcard(self.keys(account_id).unassigned)),
                "max_waiting_tickets": max_waiting_tickets,
            }
        )

    def users(self, account_id: str, today: str | None = None) -> list[UserView]:
        """Every user, by id: role, status, place and turn in the rotation, tickets assigned, last heartbeat.

        ``today``: the UTC day (``YYYY-MM-DD``, docs/STATS.md) whose ``assigned:<agent>`` counters fill
        ``assigned_today``; None reads no day (0)."""
        keys = self.keys(account_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.users)
        pipe.zrange(keys.online, 0, -1)
        pipe.hgetall(keys.places)
        pipe.hgetall(keys.counts)
        pipe.hgetall(keys.load)
        pipe.hgetall(keys.capacity)
        pipe.hgetall(keys.heartbeats)
        pipe.hgetall(keys.agent_channels)
        roles, online, places, counts, loads, capacity, heartbeats, restricted = pipe.execute()
        channels_of_user = {text(k): channels_of(v) for k, v in restricted.items()}
        caps = {text(k): int(v) for k, v in capacity.items()}
        rank_of = {text(u): rank for rank, u in enumerate(online, start=1)}
        place_of = {text(k): int(v) for k, v in places.items()}
        count_of = {text(k): int(v) for k, v in counts.items()}
        load_of = {text(k): int(v) for k, v in loads.items()}
        beat_of = {text(k): _from_ms(int(v)) for k, v in heartbeats.items()}
        role_of = {text(user): Role(text(role)) for user, role in roles.items()}
        user_ids = sorted(role_of)
        today_of = self._assigned_on(keys, today, user_ids)
        return [
            UserView(
                user_id=user,
                role=role_of[user],
                status=AgentStatus.ONLINE if user in rank_of else AgentStatus.OFFLINE,
                place=place_of.get(user),
                next_rank=rank_of.get(user),
                assigned=count_of.get(user, 0),
                load=load_of.get(user, 0),
                assigned_today=today_of.get(user, 0),
                last_heartbeat=beat_of.get(user),
                channels=channels_of_user.get(user) if role_of[user].can_be_online else None,
                **_capacity_of(user, role_of[user], caps),
            )
            for user in user_ids
        ]

    def _assigned_on(self, keys: AccountKeys, day: str | None, user_ids: list[str]) -> dict[str, int]:
        """Tickets assigned to each user on ``day`` (the per-day stats hash), only the users' fields."""
        if day is None or not user_ids:
            return {}
        values = self.client.hmget(keys.stats(day), [f"assigned:{user}" for user in user_ids])
        return {user: int(value) for user, value in zip(user_ids, values, strict=True) if value is not None}

    def has_users(self, account_id: str) -> bool:
        """Whether anybody set the account up (it has a user): an account with none is unknown."""
        return bool(self.client.exists(self.keys(account_id).users))

    def role(self, account_id: str, user_id: str) -> Role | None:
        role = self.client.hget(self.keys(account_id).users, user_id)
        return Role(text(role)) if role else None

    def team_members(self, account_id: str, team_id: str) -> list[str]:
        return sorted(text(m) for m in self.client.smembers(self.keys(account_id).team(team_id)))

    def teams(self, account_id: str) -> list[TeamView]:
        """Every team with its members and who of them is Online (rotation order)."""
        keys = self.keys(account_id)
        team_ids = sorted(text(t) for t in self.client.smembers(keys.teams))
        online = self.online_in_rotation_order(account_id)
        views = []
        for team_id in team_ids:
            members = self.team_members(account_id, team_id)
            views.append(TeamView(team_id=team_id, members=members, online=[u for u in online if u in members]))
        return views

    def online_in_rotation_order(self, account_id: str) -> list[str]:
        """Online agents, next to be assigned first."""
        return [text(u) for u in self.client.zrange(self.keys(account_id).online, 0, -1)]

    def unassigned(self, account_id: str, limit: int | None = None) -> list[UnassignedTicket]:
        """The unassigned set, oldest first."""
        keys = self.keys(account_id)
        stop = -1 if limit is None else limit - 1
        ticket_ids = [text(t) for t in self.client.zrange(keys.unassigned, 0, stop)]
        pipe = self.client.pipeline(transaction=False)
        for ticket_id in ticket_ids:
            pipe.hmget(keys.ticket(ticket_id), ["channel", "reason", "created_at", "available_at"])
        rows = []
        for ticket_id, (channel, reason, created_at, available_at) in zip(ticket_ids, pipe.execute(), strict=True):
            if channel is None:  # record removed by hand: skip rather than invent fields
                continue
            rows.append(
                UnassignedTicket(
                    ticket_id=ticket_id,
                    channel=Channel(text(channel)),
                    reason=UnassignedReason(text(reason)),
                    created_at=datetime.fromisoformat(text(created_at)),
                    available_at=datetime.fromisoformat(text(available_at)) if available_at else None,
                )
            )
        return rows

    def ticket(self, account_id: str, ticket_id: str) -> dict[str, str] | None:
        """A ticket's stored decision, or None if it was never seen (or its record expired)."""
        raw = self.client.hgetall(self.keys(account_id).ticket(ticket_id))
        return {text(k): text(v) for k, v in raw.items()} or None

    def iter_events(
        self, account_id: str, after: str = "-", count: int | None = None
    ) -> Iterator[tuple[str, EventOrUnreadable]]:
        """The account's events after stream id ``after`` (exclusive), oldest first, read ``EVENTS_PAGE``
        entries per call (each call bounded, whatever the stream's length) and yielded as they come."""
        stream = self.keys(account_id).events
        start = "-" if after == "-" else f"({after}"
        left = count
        while left is None or left > 0:
            page = EVENTS_PAGE if left is None else min(EVENTS_PAGE, left)
            entries: Any = self.client.xrange(stream, min=start, max="+", count=page)
            for entry_id, fields in entries:
                yield text(entry_id), read_entry(account_id, text(entry_id), fields)
            if len(entries) < page:
                return
            start = f"({text(entries[-1][0])}"
            left = None if left is None else left - len(entries)

    def events(
        self, account_id: str, after: str = "-", count: int | None = None
    ) -> list[tuple[str, EventOrUnreadable]]:
        """``iter_events`` as a list (for a whole long stream, iterate instead: it is read in pages anyway)."""
        return list(self.iter_events(account_id, after=after, count=count))

    def follow_events(
        self, account_id: str, after: str = "$", block_ms: int = 1000
    ) -> Iterator[tuple[str, EventOrUnreadable]]:
        """Yield the account's events as they are appended (blocking), starting after ``after``."""
        stream = self.keys(account_id).events
        last = after
        while True:
            reply: Any = self.client.xread({stream: last}, block=block_ms, count=100) or []
            for _name, entries in reply:
                for entry_id, fields in entries:
                    last = text(entry_id)
                    yield last, read_entry(account_id, last, fields)


def _reassign_settings(values: list[str | None]) -> dict[str, object]:
    """The reassignment fields of ``AccountSettings`` from the settings hash (docs/DESIGN.md, "Reassignment")."""
    away, grace, after, most = values
    return {
        "reassign_away": away == "on",
        "reassign_away_grace_seconds": int(grace or 0),
        "reassign_unanswered_after_seconds": int(after) if after else None,
        "reassign_unanswered_max": int(most or 1) if after else None,
    }
