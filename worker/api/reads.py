"""The control API's reads (a mixin of worker/api/helpdesk.py's ``Helpdesk``): users, settings, teams, the
unassigned queue, events and the report, each after checking the account exists. Kept apart from the
verbs that change state so either side can grow without the other."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Protocol

from schemas.common import check_id
from schemas.config import AccountSettings
from schemas.events import EventOrUnreadable
from schemas.plain import shown
from schemas.report import Report
from schemas.views import SettingsView, TeamView, UnassignedTicket, UserView
from worker.api.refusals import known_account, refusing, typed_refusals
from worker.config import Settings
from worker.core.engine import utc_now
from worker.core.queries import Queries
from worker.core.scripts import day_of
from worker.errors import InvalidInput
from worker.ops.consumer import EventConsumer
from worker.reports import load_report, resolve_period

STREAM_ID = re.compile(r"-|[0-9]{1,20}(-[0-9]{1,20})?")
"""What ``events(after=…)`` takes: the start, or a stream entry id (checked: Redis would refuse anything else)."""


class _Host(Protocol):
    """What the mixin needs from ``Helpdesk``."""

    config: Settings

    @property
    def state(self) -> Any: ...

    @property
    def queries(self) -> Queries: ...

    def redis_location(self) -> str: ...


class ReadsApi:
    """Reads of one account (docs/API.md), on a host with ``queries``, ``state`` and ``config``."""

    @refusing
    def users(self: _Host, account_id: str, now: datetime | None = None) -> list[UserView]:
        """Every user, by id: role, status, rotation place and turn (``next_rank`` 1 is next), tickets assigned
        in all and today (the UTC day of ``now``: docs/STATS.md), load, capacity, last heartbeat."""
        known_account(self.queries, account_id)
        return self.queries.users(account_id, day_of(now or utc_now()))

    @refusing
    def settings(self: _Host, account_id: str) -> AccountSettings:
        """The account's settings: round robin, office hours, capacity, auto-assign, the presence timeout."""
        known_account(self.queries, account_id)
        return self.queries.settings(account_id)

    @refusing
    def settings_view(self: _Host, account_id: str, now: datetime | None = None) -> SettingsView:
        """The settings as a person reads them: every ``settings`` field, whether webchat is open at
        ``now`` and when it next opens, and the tickets waiting against the waiting-ticket ceiling."""
        known_account(self.queries, account_id)
        return self.queries.settings_view(account_id, now or utc_now(), self.config.retention.max_waiting_tickets)

    @refusing
    def teams(self: _Host, account_id: str) -> list[TeamView]:
        """Every team with its members and who of them is Online (rotation order)."""
        known_account(self.queries, account_id)
        return self.queries.teams(account_id)

    @refusing
    def unassigned(self: _Host, account_id: str, limit: int | None = None) -> list[UnassignedTicket]:
        """The unassigned tickets, oldest first, with their reason."""
        known_account(self.queries, account_id)
        return self.queries.unassigned(account_id, limit)

    @refusing
    def events(
        self: _Host, account_id: str, after: str = "-", count: int | None = None
    ) -> list[tuple[str, EventOrUnreadable]]:
        """The account's events after stream id ``after`` (exclusive), oldest first, with their ids. An
        entry that is not a valid event comes back as an ``UnreadableEvent`` (its id and why), in place.
        ``after`` is ``-`` (from the start) or an id this returned; ``count`` (1 to 10,000) bounds the page."""
        known_account(self.queries, account_id)
        if not isinstance(after, str) or not STREAM_ID.fullmatch(after):
            raise InvalidInput(f"after: use - or an entry id events gave, e.g. 1764600000000-0 (got {shown(after)})")
        if count is not None and not (isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 10_000):
            raise InvalidInput(f"limit: use a whole number from 1 to 10,000 (got {shown(count)})")
        return self.queries.events(account_id, after=after, count=count)

    def iter_events(self: _Host, account_id: str, after: str = "-") -> Iterator[tuple[str, EventOrUnreadable]]:
        """``events``, yielded as they are read (a page of 500 per Redis call): for long streams, where
        a list of every event would not fit in memory."""
        with typed_refusals(self.redis_location):
            known_account(self.queries, account_id)
            yield from self.queries.iter_events(account_id, after=after)

    def follow_events(
        self: _Host, account_id: str, after: str = "$", block_ms: int = 1000
    ) -> Iterator[tuple[str, EventOrUnreadable]]:
        """Yield the account's events as they are appended (blocking), starting after ``after``."""
        with typed_refusals(self.redis_location):
            known_account(self.queries, account_id)
            yield from self.queries.follow_events(account_id, after=after, block_ms=block_ms)

    def event_consumer(self: _Host, group: str, consumer: str, block_ms: int | None = 1000) -> EventConsumer:
        """A consumer-group reader of every account's events (the partition streams; docs/CONSUMERS.md).

        ``block_ms=None`` drains what is there and returns; call ``ensure_groups`` first."""
        with typed_refusals(self.redis_location):
            _ids(group=group, consumer=consumer)
            return EventConsumer(self.state, group, consumer, self.config.partitions, block_ms=block_ms)

    @refusing
    def report(
        self: _Host,
        account_id: str,
        day_from: date | str | None = None,
        day_to: date | str | None = None,
        now: datetime | None = None,
    ) -> Report:
        """The account's figures over whole UTC days (default: the last 7 days up to today)."""
        _ids(account=account_id)
        now = now or utc_now()
        start, end = resolve_period(now.date(), _day_text(day_from), _day_text(day_to))
        known_account(self.queries, account_id)
        return load_report(self.state, account_id, start, end, now=now, partitions=self.config.partitions)


def _ids(**values: str) -> None:
    """Ids become parts of key names: refuse a bad one with a message naming the field."""
    for field, value in values.items():
        check_id(field, value)


def _day_text(day: date | str | None) -> str | None:
    return day.isoformat() if isinstance(day, date) else day
