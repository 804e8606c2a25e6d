"""A small, pure-Python reference model of PRODUCT.md, for the model-based test (tests/test_model_based.py).

It re-implements what the engine decides — roles and permissions, Online status, the rotation
(place numbers), the round-robin setting, idempotency, the unassigned set, per-agent counts, teams,
bulk team assignment and the events each operation emits — with plain dicts and sets and no Redis.
Time-zone logic is *not* re-implemented: the webchat gate uses :func:`worker.core.office_hours.gate`, which
has its own tests.

Every operation returns ``(result, events)``: the result the engine's method returns and the events it
should append to the account's stream, as dicts of every event field except ``id``. A refused operation
raises the engine's exception class (``Forbidden``, ``UnknownUser``, ``InvalidInput``, ``UnknownTeam``)
and changes nothing.

Choices the model mirrors from the engine where PRODUCT.md is silent (see docs/DESIGN.md):

* ``set_status`` checks the actor exists, then the user, then "agent may only set their own status",
  then "a viewer can never go Online"; setting the status a user already has is a no-op (no event),
  also for a viewer going Offline.
* The rotation is a per-account counter ``seq``: a first join and every assignment take ``seq + 1``;
  going Offline keeps the place; the pick is the Online agent with the lowest place.
* The toast text is ``"New <channel> ticket <ticket_id> assigned to you"``.
* ``set_team`` checks, in this order: the member list is not empty (``InvalidInput``, before anything
  else), the actor may manage, then each member in sorted order exists (``UnknownUser``) and is agent
  or higher (``Forbidden``). The same members again is a no-op (no event).
* ``bulk_assign`` is the whole bulk job (``worker/core/bulk.py``): the request check (actor exists and is
  agent or higher, then the team exists and has members), the ticket list (explicit ids deduplicated in
  order, or the unassigned set oldest first), the batches of ``BATCH_SIZE`` with the team's Online members
  taken afresh per batch in rotation order, and the one toast per agent at the end
  (``"<n> tickets from team <team>"``). A ticket that had an owner keeps counting for that owner: counts
  are never decremented, also when the ticket becomes unassigned as ``no_team_member_online``.
* ``close_ticket`` / ``reopen_ticket`` (issue 15): a close keeps the ticket's record as it is and marks it
  closed; a closed waiting ticket leaves the unassigned set, and a reopen puts it back with the reason it
  waited for. A close of a ticket not decided yet is kept: the ticket, when it arrives, is recorded
  unassigned with reason ``closed`` (a ``ticket.unassigned`` event), outside the unassigned set, and a
  reopen then puts it in the set with reason ``reopened``; a reopen before it arrives forgets the close.
  A second close or reopen returns ``changed`` False and emits nothing; either returns the assignee (or
  None) as ``agent_id``. A bulk job skips a closed ticket (also one never seen) and counts it ``closed``.
* Load is not kept as a counter: an agent's load is *derived* — the tickets assigned to them and not
  closed — so the engine's incremental ``load`` hash is checked against the definition.
* A redelivery of a ticket a bulk job handled returns what the ticket is now: ``Decision.reason`` is
  ``"round_robin"`` for every assigned ticket (the engine reports no other assigned reason), and the
  unassigned reason (e.g. ``no_team_member_online``) otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import MAX_BULK_TICKETS, TicketCreated
from schemas.office_hours import OfficeHours
from worker.core.bulk import BATCH_SIZE, EmptyTeam, UnknownTeam
from worker.core.office_hours import gate
from worker.errors import Forbidden, InvalidInput, UnknownAccount, UnknownUser

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


class TeamRow(NamedTuple):
    """A row of ``Queries.teams``."""

    team_id: str
    members: list[str]
    online: list[str]
    """Members Online now, in rotation order."""


class UserRow(NamedTuple):
    """A row of ``Queries.users``."""

    user_id: str
    role: str
    status: str
    place: int | None
    assigned: int
    load: int
    """Open tickets assigned to the user: assigned and not closed."""


@dataclass
class _Stored:
    outcome: str
    agent_id: str | None
    reason: str
    available_at: datetime | None
    channel: str
    created_at: datetime
    """The first delivery's ``created_at`` (ms): the unassigned set's order if a bulk job un-assigns it."""


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
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Team id → members, sorted."""
    closed: set[str] = field(default_factory=set)
    """Tickets closed now, including closes that came before their ticket."""

    def assignee(self, ticket_id: str) -> str | None:
        stored = self.decided.get(ticket_id)
        return stored.agent_id if stored is not None and stored.outcome == "assigned" else None

    def load(self, user_id: str) -> int:
        open_tickets = (ticket_id for ticket_id in self.decided if ticket_id not in self.closed)
        return sum(1 for ticket_id in open_tickets if self.assignee(ticket_id) == user_id)

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
                account_id,
                "agent.status_changed",
                now,
                user_id=user_id,
                status="offline",
                actor_id=None,
                reason="role_change",
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
            reason="manual",
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
        if stored is not None:  # idempotency: the ticket as it stands now, nothing emitted
            reason = "round_robin" if stored.outcome == "assigned" else stored.reason  # also after a bulk job
            outcome = Outcome(stored.outcome, stored.agent_id, reason, stored.available_at, True, stored.channel)
            return outcome, []
        if not account.roles:  # nobody set the account up: refused, nothing written (docs/DESIGN.md, "Retention")
            raise UnknownAccount(f"account {account_id} has no users")
        channel = Channel(ticket.channel).value

        def leave_unassigned(reason: str, available_at: datetime | None) -> tuple[Outcome, list[ModelEvent]]:
            available_at = None if available_at is None else _ms(available_at)
            account.decided[ticket_id] = _Stored(
                "unassigned", None, reason, available_at, channel, _ms(ticket.created_at)
            )
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

        if ticket_id in account.closed:  # its close came first: recorded, never assigned, not waiting
            account.decided[ticket_id] = _Stored("unassigned", None, "closed", None, channel, _ms(ticket.created_at))
            event = self._event(
                account_id,
                "ticket.unassigned",
                now,
                ticket_id=ticket_id,
                channel=channel,
                reason="closed",
                available_at=None,
            )
            return Outcome("unassigned", None, "closed", None, False, channel), [event]
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
        account.decided[ticket_id] = _Stored("assigned", agent_id, "round_robin", None, channel, _ms(ticket.created_at))
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

    # --- ticket lifecycle (issue 15) ------------------------------------------------------------

    def close_ticket(
        self, account_id: str, ticket_id: str, now: datetime
    ) -> tuple[tuple[str, str, str, bool, str | None], list[ModelEvent]]:
        """Returns ``(account_id, ticket_id, "close", changed, agent_id)`` (``LifecycleChange``'s fields)."""
        account = self.account(account_id)
        if not account.roles:
            raise UnknownAccount(f"account {account_id} has no users")
        agent_id = account.assignee(ticket_id)
        if ticket_id in account.closed:
            return (account_id, ticket_id, "close", False, agent_id), []
        account.closed.add(ticket_id)
        account.unassigned.pop(ticket_id, None)
        event = self._event(account_id, "ticket.closed", now, ticket_id=ticket_id, agent_id=agent_id)
        return (account_id, ticket_id, "close", True, agent_id), [event]

    def reopen_ticket(
        self, account_id: str, ticket_id: str, now: datetime
    ) -> tuple[tuple[str, str, str, bool, str | None], list[ModelEvent]]:
        """Returns ``(account_id, ticket_id, "reopen", changed, agent_id)``."""
        account = self.account(account_id)
        if not account.roles:
            raise UnknownAccount(f"account {account_id} has no users")
        agent_id = account.assignee(ticket_id)
        if ticket_id not in account.closed:
            return (account_id, ticket_id, "reopen", False, agent_id), []
        account.closed.discard(ticket_id)
        stored = account.decided.get(ticket_id)
        if stored is not None and stored.outcome == "unassigned":  # waiting again
            if stored.reason == "closed":
                stored.reason = "reopened"
            account.unassigned[ticket_id] = UnassignedRow(
                ticket_id, stored.channel, stored.reason, stored.created_at, stored.available_at
            )
        event = self._event(account_id, "ticket.reopened", now, ticket_id=ticket_id, agent_id=agent_id)
        return (account_id, ticket_id, "reopen", True, agent_id), [event]

    # --- teams and bulk team assignment -------------------------------------------------------

    def set_team(
        self, account_id: str, team_id: str, members: Sequence[str], actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        account = self.account(account_id)
        unique = sorted(set(members))
        if not unique:
            raise InvalidInput("a team needs at least one member")
        self._require_manager(account, actor_id)
        for member in unique:
            if not self._role_of(account, member).can_be_online:
                raise Forbidden(f"{member} is a viewer; only agent or higher can be on a team")
        if account.teams.get(team_id) == tuple(unique):
            return False, []
        account.teams[team_id] = tuple(unique)
        changes = {"team": {"team_id": team_id, "members": unique}}
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=changes)]

    def bulk_assign(
        self,
        account_id: str,
        team_id: str,
        actor_id: str,
        ticket_ids: Sequence[str] | None,
        now: datetime,
        batch_size: int = BATCH_SIZE,
    ) -> tuple[dict[str, Any], list[ModelEvent]]:
        """A whole bulk job (``ticket_ids=None``: the unassigned set). Returns the job's result dict.

        Modelled batch by batch, as the job runs: each batch takes the team's Online members in rotation
        order at its start and cycles through them. (Since every assignment moves its agent behind
        everyone else, this is the same as one cycle over the whole job: ``batch_size`` changes nothing,
        which tests/test_model_based.py also checks on the model.)
        """
        account = self.account(account_id)
        if not self._role_of(account, actor_id).can_be_online:
            raise Forbidden(f"{actor_id} is a viewer; only agent or higher may bulk-assign tickets")
        if team_id not in account.teams:
            raise UnknownTeam(f"unknown team {team_id} in {account_id}")
        members = account.teams[team_id]
        if not members:  # pragma: no cover - set_team never stores an empty team
            raise EmptyTeam(f"team {team_id} has no members")
        if ticket_ids is not None:
            tickets = list(dict.fromkeys(ticket_ids))
        else:
            tickets = [row.ticket_id for row in self.unassigned(account_id)][:MAX_BULK_TICKETS]
        # a job is never re-run here
        totals = {"assigned": 0, "unassigned": 0, "unknown": 0, "already_done": 0, "closed": 0}
        toasts: dict[str, list[str]] = {}  # agent → ticket ids, agents in order of first assignment
        events: list[ModelEvent] = []
        for start in range(0, len(tickets), batch_size):
            queue = sorted((m for m in members if m in account.online), key=lambda m: (account.places[m], m))
            in_batch = 0
            for ticket_id in tickets[start : start + batch_size]:
                stored = account.decided.get(ticket_id)
                if ticket_id in account.closed:  # skipped, also a close that came before its ticket
                    totals["closed"] += 1
                    continue
                if stored is None:
                    totals["unknown"] += 1
                    continue
                if not queue:  # stays, or becomes, unassigned; an owner's count is not decremented
                    stored.outcome, stored.agent_id = "unassigned", None
                    stored.reason, stored.available_at = "no_team_member_online", None
                    account.unassigned[ticket_id] = UnassignedRow(
                        ticket_id, stored.channel, stored.reason, stored.created_at, None
                    )
                    events.append(
                        self._event(
                            account_id,
                            "ticket.unassigned",
                            now,
                            ticket_id=ticket_id,
                            channel=stored.channel,
                            reason="no_team_member_online",
                            available_at=None,
                        )
                    )
                    totals["unassigned"] += 1
                    continue
                agent_id = queue[in_batch % len(queue)]
                in_batch += 1
                previous = stored.agent_id if stored.outcome == "assigned" else None
                account.unassigned.pop(ticket_id, None)
                account.places[agent_id] = account.next_place()  # to the back of the line
                account.counts[agent_id] = account.counts.get(agent_id, 0) + 1
                stored.outcome, stored.agent_id, stored.reason, stored.available_at = (
                    "assigned",
                    agent_id,
                    "bulk_team",
                    None,
                )
                toasts.setdefault(agent_id, []).append(ticket_id)
                events.append(
                    self._event(
                        account_id,
                        "ticket.assigned",
                        now,
                        ticket_id=ticket_id,
                        channel=stored.channel,
                        agent_id=agent_id,
                        previous_agent_id=previous,
                        reason="bulk_team",
                        team_id=team_id,
                    )
                )
                totals["assigned"] += 1
        for agent_id, ids in toasts.items():
            noun = "ticket" if len(ids) == 1 else "tickets"
            text = f"{len(ids)} {noun} from team {team_id}"
            events.append(self._event(account_id, "toast", now, user_id=agent_id, text=text, ticket_ids=ids))
        result = {
            "account_id": account_id,
            "team_id": team_id,
            "tickets": len(tickets),
            **totals,
            "agents": len(toasts),
            "toasts": len(toasts),
            "above_capacity": [],  # the model has no capacity yet
            "no_team_member_online": totals["assigned"] == 0 and totals["unassigned"] > 0,
        }
        return result, events

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
                account.load(user),
            )
            for user in sorted(account.roles)
        ]

    def teams(self, account_id: str) -> list[TeamRow]:
        account = self.account(account_id)
        online = self.online_in_rotation_order(account_id)
        return [
            TeamRow(team_id, list(members), [user for user in online if user in members])
            for team_id, members in sorted(account.teams.items())
        ]

    def settings(self, account_id: str) -> tuple[bool, OfficeHours | None]:
        account = self.account(account_id)
        return account.round_robin, account.office_hours
