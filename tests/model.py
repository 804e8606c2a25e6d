"""A small, pure-Python reference model of PRODUCT.md, for the model-based test (tests/test_model_based.py).

It re-implements what the engine decides — roles and permissions, Online status, the rotation
(place numbers), the round-robin setting, idempotency, the unassigned set, per-agent counts and the
events each operation emits — with plain dicts and sets and no Redis. Time-zone logic is *not*
re-implemented: the webchat gate uses :func:`worker.office_hours.gate`, which has its own tests.

Every operation returns ``(result, events)``: the result the engine's method returns and the events it
should append to the account's stream, as dicts of every event field except ``id``. A refused operation
raises the engine's exception class (``Forbidden`` / ``UnknownUser``) and changes nothing.

Choices the model mirrors from the engine where PRODUCT.md is silent (see docs/DESIGN.md):

* ``set_status`` checks the actor exists, then the user, then "agent may only set their own status",
  then "a viewer can never go Online"; setting the status a user already has is a no-op (no event),
  also for a viewer going Offline.
* The rotation is a per-account counter ``seq``: a first join and every assignment take ``seq + 1``;
  going Offline keeps the place; the pick is the Online agent with the lowest place.
* The toast text is ``"New <channel> ticket <ticket_id> assigned to you"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from schemas.office_hours import OfficeHours
from worker.errors import Forbidden, UnknownUser
from worker.office_hours import gate

ModelEvent = dict[str, Any]
"""One expected event: every field the engine emits except ``id``."""


class Outcome(NamedTuple):
    """What ``Engine.decide`` returns, as the model predicts it (the ``Decision`` fields that matter)."""

    outcome: str
    agent_id: str | None
    reason: str
    available_at: datetime | None
    duplicate: bool
    channel: str
    """The channel the ticket was first decided on (a duplicate returns the stored one)."""


class UnassignedRow(NamedTuple):
    """A row of ``Queries.unassigned``."""

    ticket_id: str
    channel: str
    reason: str
    created_at: datetime
    available_at: datetime | None


class UserRow(NamedTuple):
    """A row of ``Queries.users``."""

    user_id: str
    role: str
    status: str
    place: int | None
    assigned: int


@dataclass
class _Stored:
    outcome: str
    agent_id: str | None
    reason: str
    available_at: datetime | None
    channel: str


@dataclass
class AccountModel:
    roles: dict[str, Role] = field(default_factory=dict)
    online: set[str] = field(default_factory=set)
    places: dict[str, int] = field(default_factory=dict)
    seq: int = 0
    round_robin: bool = False
    office_hours: OfficeHours | None = None
    unassigned: dict[str, UnassignedRow] = field(default_factory=dict)
    decided: dict[str, _Stored] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def next_place(self) -> int:
        self.seq += 1
        return self.seq


def _ms(instant: datetime) -> datetime:
    """``instant`` in UTC at millisecond precision (the wire format of every timestamp)."""
    instant = instant.astimezone(UTC)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


class Model:
    """The reference model: any number of accounts, each fully independent."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountModel] = {}

    def account(self, account_id: str) -> AccountModel:
        return self.accounts.setdefault(account_id, AccountModel())

    @staticmethod
    def _event(account_id: str, event_type: str, now: datetime, **payload: Any) -> ModelEvent:
        return {
            "type": event_type,
            "schema_version": "1",
            "account_id": account_id,
            "occurred_at": _ms(now),
            **payload,
        }

    @staticmethod
    def _role_of(account: AccountModel, user_id: str) -> Role:
        role = account.roles.get(user_id)
        if role is None:
            raise UnknownUser(f"unknown user {user_id}")
        return role

    def _require_manager(self, account: AccountModel, actor_id: str) -> None:
        if not self._role_of(account, actor_id).can_manage:
            raise Forbidden(f"{actor_id} may not change settings")

    # --- users, status, settings ---------------------------------------------------------------

    def upsert_user(
        self, account_id: str, user_id: str, role: Role, now: datetime
    ) -> tuple[tuple[Role | None, bool], list[ModelEvent]]:
        """Operator provisioning: no actor, never refused. Demotion to viewer takes the user Offline."""
        account = self.account(account_id)
        previous = account.roles.get(user_id)
        account.roles[user_id] = Role(role)
        if not Role(role).can_be_online and user_id in account.online:
            account.online.discard(user_id)  # the place is kept
            event = self._event(
                account_id, "agent.status_changed", now, user_id=user_id, status="offline", actor_id=None
            )
            return (previous, True), [event]
        return (previous, False), []

    def set_status(
        self, account_id: str, user_id: str, status: AgentStatus, actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        account = self.account(account_id)
        actor_role = self._role_of(account, actor_id)
        user_role = self._role_of(account, user_id)
        if actor_id != user_id and not actor_role.can_manage:
            raise Forbidden(f"{actor_id} may not set another user's status")
        if AgentStatus(status) is AgentStatus.ONLINE:
            if not user_role.can_be_online:
                raise Forbidden(f"{user_id} is a viewer")
            if user_id in account.online:
                return False, []
            if user_id not in account.places:
                account.places[user_id] = account.next_place()  # never in the rotation: back of the line
            account.online.add(user_id)
        else:
            if user_id not in account.online:
                return False, []
            account.online.discard(user_id)
        event = self._event(
            account_id,
            "agent.status_changed",
            now,
            user_id=user_id,
            status=AgentStatus(status).value,
            actor_id=actor_id,
        )
        return True, [event]

    def set_round_robin(
        self, account_id: str, enabled: bool, actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        account = self.account(account_id)
        self._require_manager(account, actor_id)
        if account.round_robin == enabled:
            return False, []
        account.round_robin = enabled
        changes = {"round_robin": "on" if enabled else "off"}
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=changes)]

    def set_office_hours(
        self, account_id: str, hours: OfficeHours | None, actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        account = self.account(account_id)
        self._require_manager(account, actor_id)
        if account.office_hours == hours:
            return False, []
        account.office_hours = hours
        value = None if hours is None else json.loads(hours.model_dump_json())
        changes = {"office_hours": value}
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=changes)]

    # --- tickets -------------------------------------------------------------------------------

    def decide(self, ticket: TicketCreated, now: datetime) -> tuple[Outcome, list[ModelEvent]]:
        account_id, ticket_id = ticket.account_id, ticket.ticket_id
        account = self.account(account_id)
        stored = account.decided.get(ticket_id)
        if stored is not None:  # idempotency: the first decision, nothing emitted
            outcome = Outcome(stored.outcome, stored.agent_id, stored.reason, stored.available_at, True, stored.channel)
            return outcome, []
        channel = Channel(ticket.channel).value

        def leave_unassigned(reason: str, available_at: datetime | None) -> tuple[Outcome, list[ModelEvent]]:
            available_at = None if available_at is None else _ms(available_at)
            account.decided[ticket_id] = _Stored("unassigned", None, reason, available_at, channel)
            account.unassigned[ticket_id] = UnassignedRow(
                ticket_id, channel, reason, _ms(ticket.created_at), available_at
            )
            event = self._event(
                account_id,
                "ticket.unassigned",
                now,
                ticket_id=ticket_id,
                channel=channel,
                reason=reason,
                available_at=available_at,
            )
            return Outcome("unassigned", None, reason, available_at, False, channel), [event]

        if not account.round_robin:
            return leave_unassigned("round_robin_off", None)
        if ticket.channel is Channel.WEBCHAT and account.office_hours is not None:
            is_open, next_open = gate(account.office_hours, ticket.created_at)
            if not is_open:
                return leave_unassigned("after_hours", next_open)
        if not account.online:
            return leave_unassigned("no_agent_online", None)
        agent_id = min(account.online, key=lambda user: (account.places[user], user))
        account.places[agent_id] = account.next_place()  # to the back of the line
        account.counts[agent_id] = account.counts.get(agent_id, 0) + 1
        account.decided[ticket_id] = _Stored("assigned", agent_id, "round_robin", None, channel)
        events = [
            self._event(
                account_id,
                "ticket.assigned",
                now,
                ticket_id=ticket_id,
                channel=channel,
                agent_id=agent_id,
                previous_agent_id=None,
                reason="round_robin",
                team_id=None,
            ),
            self._event(
                account_id,
                "toast",
                now,
                user_id=agent_id,
                text=f"New {channel} ticket {ticket_id} assigned to you",
                ticket_ids=[ticket_id],
            ),
        ]
        return Outcome("assigned", agent_id, "round_robin", None, False, channel), events

    # --- views ---------------------------------------------------------------------------------

    def unassigned(self, account_id: str) -> list[UnassignedRow]:
        """Oldest first; equal arrival times in ticket-id order (the sorted set's tie rule)."""
        rows = self.account(account_id).unassigned.values()
        return sorted(rows, key=lambda row: (row.created_at, row.ticket_id))

    def online_in_rotation_order(self, account_id: str) -> list[str]:
        account = self.account(account_id)
        return sorted(account.online, key=lambda user: (account.places[user], user))

    def agent_counts(self, account_id: str) -> dict[str, int]:
        return dict(self.account(account_id).counts)

    def users(self, account_id: str) -> list[UserRow]:
        account = self.account(account_id)
        return [
            UserRow(
                user,
                account.roles[user].value,
                "online" if user in account.online else "offline",
                account.places.get(user),
                account.counts.get(user, 0),
            )
            for user in sorted(account.roles)
        ]

    def settings(self, account_id: str) -> tuple[bool, OfficeHours | None]:
        account = self.account(account_id)
        return account.round_robin, account.office_hours
