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
* Capacity and auto-assign (issue 15, docs/DESIGN.md "Capacity and the waiting queue"): an agent's capacity is
  their override, else the account's, else none. ``set_capacity`` checks N ≥ 1 first (``InvalidInput``), then
  the actor may manage, then an override's target exists and is agent or higher; the same value again is a
  no-op; clearing the account's value while auto-assign is on is ``Refused``. ``set_auto_assign`` on needs
  the account's value (``Refused``). Round robin picks the least recently assigned Online agent below
  capacity; nobody below it → ``all_agents_at_capacity`` while anyone is Online. With auto-assign on, a new
  ticket never overtakes the queue: while it is not empty the ticket joins it (``older_tickets_waiting``).
* The waiting queue (``AccountModel.queue``): unassigned tickets waiting with ``no_agent_online``,
  ``all_agents_at_capacity``, ``older_tickets_waiting`` or ``reopened``, and ``after_hours`` ones once a
  release *noticed* their opening (``available_at`` at or before its ``now``), oldest first by
  ``created_at``, ties by ticket id. A release (``release``) gives them out one by one to the least recently
  assigned Online agent below capacity, reason ``waiting_queue``, while auto-assign, round robin and an
  account capacity are on, then sends one toast per agent (``"<n> waiting tickets assigned to you"``).
* When a release runs is the test's choice (it lags behind, as the job does in production); *that* one is
  owed is the model's: after every operation (``settle``), a release is rung when the account releases,
  its queue is not empty, an Online agent has room and none was rung since the last release ran. The
  workers' sweep and the end of a bulk job also count after-hours tickets whose opening has come.
  ``Model.rung`` lists the releases rung, for the harness to compare with the engine's.
* A bulk job ignores capacity; its result names the agents it assigned to who are now above capacity.
* The presence timeout (issue 16, part 1): tests/support/model_presence.py, a mixin of ``Model``.
* A redelivery of a ticket a bulk job handled returns what the ticket is now: ``Decision.reason`` is
  ``"round_robin"`` for every assigned ticket (the engine reports no other assigned reason), and the
  unassigned reason (e.g. ``no_team_member_online``) otherwise.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar, cast

from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import MAX_BULK_TICKETS, TicketCreated
from schemas.office_hours import OfficeHours
from tests.support.model_channels import ChannelRules
from tests.support.model_presence import PresenceRules, PresenceState, epoch_ms
from tests.support.model_reassign import ReassignRules, ReassignState
from worker.core.bulk import BATCH_SIZE, EmptyTeam, UnknownTeam
from worker.core.office_hours import gate
from worker.errors import Forbidden, HelpdeskError, InvalidInput, UnknownAccount, UnknownUser

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
    auto: bool = False
    """Assigned automatically (round robin, release, reassignment): only those are reassigned unanswered."""
    assigned_ms: int | None = None
    unanswered: int = 0
    """Reassignments for no first reply."""
    previous: str | None = None
    """The assignee a reassignment took it from (the record's ``previous_agent_id``)."""
    reply_ms: int | None = None
    """The last customer reply processed."""
    ttfr: int | None = None


RELEASABLE = frozenset(
    {"no_agent_online", "all_agents_at_capacity", "older_tickets_waiting", "reopened", "no_agent_for_channel"}
)
"""Reasons whose tickets wait for any agent with room (docs/DESIGN.md, "Capacity and the waiting queue")."""


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
    capacity: int | None = None
    """The account's capacity (None: not set)."""
    overrides: dict[str, int] = field(default_factory=dict)
    """Per-agent capacities, over the account's."""
    auto_assign: bool = False
    noticed: set[str] = field(default_factory=set)
    """After-hours tickets whose opening a release has seen (``available_at`` at or before its ``now``): from
    then on they wait in the queue like the others. Noticing is how the engine turns "eligible from
    ``available_at`` on" into a state; the issue allows the few seconds it takes. Closing a ticket forgets it
    (reopened, it waits for its opening to be noticed again)."""
    release_owed: bool = False
    """A release has been rung (its job enqueued) and no release has run since: another trigger rings nothing."""
    presence: PresenceState = field(default_factory=PresenceState)
    """The presence timeout and the last heartbeats (tests/support/model_presence.py)."""
    reassign: ReassignState = field(default_factory=ReassignState)
    """Reassign-away and -unanswered (tests/support/model_reassign.py)."""
    channels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Restricted agents → the channels they take, in ``Channel`` order (tests/support/model_channels.py)."""

    def assignee(self, ticket_id: str) -> str | None:
        stored = self.decided.get(ticket_id)
        return stored.agent_id if stored is not None and stored.outcome == "assigned" else None

    def assigned_open(self) -> list[str]:
        """Tickets assigned and not closed, by id."""
        return sorted(t for t in self.decided if t not in self.closed and self.assignee(t) is not None)

    def load(self, user_id: str) -> int:
        open_tickets = (ticket_id for ticket_id in self.decided if ticket_id not in self.closed)
        return sum(1 for ticket_id in open_tickets if self.assignee(ticket_id) == user_id)

    # --- capacity and the waiting queue (issue 15) ----------------------------------------------

    @property
    def capped(self) -> bool:
        """Any capacity set (the account's or an override): round robin then skips agents at capacity."""
        return self.capacity is not None or bool(self.overrides)

    def capacity_of(self, user_id: str) -> int | None:
        return self.overrides.get(user_id, self.capacity)

    def with_room(self) -> list[str]:
        """Online agents below their capacity (no capacity: no limit), least recently assigned first."""

        def has_room(user: str) -> bool:
            cap = self.capacity_of(user)
            return cap is None or self.load(user) < cap

        return sorted((user for user in self.online if has_room(user)), key=lambda user: (self.places[user], user))

    def queue(self) -> list[UnassignedRow]:
        """The waiting queue a release takes from, oldest first (ties by ticket id): tickets that wait for any
        agent with room, and after-hours ones whose opening was noticed. Not ``round_robin_off`` or
        ``no_team_member_online`` (they wait for people), nor after-hours ones before their opening."""
        rows = [
            row
            for row in self.unassigned.values()
            if row.reason in RELEASABLE or (row.reason == "after_hours" and row.ticket_id in self.noticed)
        ]
        return sorted(rows, key=lambda row: (row.created_at, row.ticket_id))

    def opened(self, now: datetime) -> list[str]:
        """After-hours tickets waiting whose opening is at or before ``now``."""
        return [
            row.ticket_id
            for row in self.unassigned.values()
            if row.reason == "after_hours" and row.available_at is not None and row.available_at <= now
        ]

    @property
    def releasing(self) -> bool:
        """Auto-assign on, with round robin on and an account capacity: releases assign."""
        return self.auto_assign and self.round_robin and self.capacity is not None

    def next_place(self) -> int:
        self.seq += 1
        return self.seq


class Refused(HelpdeskError):
    """An action refused by a rule (``RR_REFUSED``): auto-assign on without an account capacity, or the
    account's capacity cleared while auto-assign is on. The engine has no class for it yet (it raises
    ``redis.ResponseError``): tests/test_model_based.py accepts either until it does."""


def _ms(instant: datetime) -> datetime:
    """``instant`` in UTC at millisecond precision (the wire format of every timestamp)."""
    instant = instant.astimezone(UTC)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


F = TypeVar("F", bound=Callable[..., Any])


def _settles(method: F) -> F:
    """After the operation (not after a refusal), ring a release if one is owed now (``Model.settle``)."""

    @functools.wraps(method)
    def run(self: Model, first: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, first, *args, **kwargs)
        self.settle(first if isinstance(first, str) else first.account_id)
        return result

    return cast(F, run)


class Model(PresenceRules, ChannelRules, ReassignRules):
    """The reference model: any number of accounts, each fully independent."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountModel] = {}
        self.rung: list[str] = []
        """Accounts whose release was rung (a release job enqueued), in order; the harness takes them."""

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

    @_settles
    def upsert_user(
        self, account_id: str, user_id: str, role: Role, now: datetime
    ) -> tuple[tuple[Role | None, bool], list[ModelEvent]]:
        """Operator provisioning: no actor, never refused. Demotion to viewer takes the user Offline."""
        account = self.account(account_id)
        previous = account.roles.get(user_id)
        account.roles[user_id] = Role(role)
        if not Role(role).can_be_online and user_id in account.online:
            account.online.discard(user_id)  # the place is kept
            self.went_offline(account, user_id, now)
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

    @_settles
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
            account.presence.heartbeats[user_id] = epoch_ms(now)  # going Online counts as a heartbeat
            account.reassign.offline_since.pop(user_id, None)
        else:
            if user_id not in account.online:
                return False, []
            account.online.discard(user_id)
            self.went_offline(account, user_id, now)
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

    @_settles
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

    @_settles
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

    @_settles
    def decide(self, ticket: TicketCreated, now: datetime) -> tuple[Outcome, list[ModelEvent]]:
        """Round robin, with capacity (issue 15): the least recently assigned Online agent below capacity; nobody
        below it while someone is Online → ``all_agents_at_capacity``. With auto-assign on, a ticket never
        overtakes the waiting queue: while it is not empty the ticket joins it (``older_tickets_waiting``)."""
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
        agent_id, nobody = self.pick(account, channel)
        if agent_id is None:
            return leave_unassigned(nobody, None)
        older = account.queue()
        if account.channels:  # pools on: only the ticket's own channel's queue holds it back
            older = [row for row in older if row.channel == channel]
        if account.auto_assign and older:
            return leave_unassigned("older_tickets_waiting", None)
        account.places[agent_id] = account.next_place()  # to the back of the line
        account.counts[agent_id] = account.counts.get(agent_id, 0) + 1
        account.decided[ticket_id] = _Stored(
            "assigned", agent_id, "round_robin", None, channel, _ms(ticket.created_at), True, epoch_ms(now)
        )
        self.file_timer(account, ticket_id, now)
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

    @_settles
    def close_ticket(
        self, account_id: str, ticket_id: str, now: datetime
    ) -> tuple[tuple[str, str, str, bool, str | None, str | None], list[ModelEvent]]:
        """Returns ``(account_id, ticket_id, "close", changed, agent_id, None)`` (``LifecycleChange``'s fields)."""
        account = self.account(account_id)
        if not account.roles:
            raise UnknownAccount(f"account {account_id} has no users")
        agent_id = account.assignee(ticket_id)
        if ticket_id in account.closed:
            return (account_id, ticket_id, "close", False, agent_id, None), []
        account.closed.add(ticket_id)
        account.unassigned.pop(ticket_id, None)
        account.reassign.timers.pop(ticket_id, None)
        account.noticed.discard(ticket_id)
        event = self._event(account_id, "ticket.closed", now, ticket_id=ticket_id, agent_id=agent_id)
        return (account_id, ticket_id, "close", True, agent_id, None), [event]

    @_settles
    def reopen_ticket(
        self, account_id: str, ticket_id: str, now: datetime
    ) -> tuple[tuple[str, str, str, bool, str | None, str | None], list[ModelEvent]]:
        """Returns ``(account_id, ticket_id, "reopen", changed, agent_id, reassigned_from)``: a reopen counts as a
        customer reply (reassign-away, at the reopen's time)."""
        account = self.account(account_id)
        if not account.roles:
            raise UnknownAccount(f"account {account_id} has no users")
        agent_id = account.assignee(ticket_id)
        if ticket_id not in account.closed:
            return (account_id, ticket_id, "reopen", False, agent_id, None), []
        account.closed.discard(ticket_id)
        stored = account.decided.get(ticket_id)
        if stored is not None and stored.outcome == "unassigned":  # waiting again
            if stored.reason == "closed":
                stored.reason = "reopened"
            account.unassigned[ticket_id] = UnassignedRow(
                ticket_id, stored.channel, stored.reason, stored.created_at, stored.available_at
            )
        event = self._event(account_id, "ticket.reopened", now, ticket_id=ticket_id, agent_id=agent_id)
        if agent_id is None or not self.away(account, agent_id, epoch_ms(now)):
            return (account_id, ticket_id, "reopen", True, agent_id, None), [event]
        (_, new_agent, _, _), moved = self.move_away(account_id, ticket_id, now)
        return (account_id, ticket_id, "reopen", True, new_agent, agent_id), [event, *moved]

    # --- capacity and the waiting queue (issue 15) ---------------------------------------------

    @_settles
    def set_capacity(
        self, account_id: str, capacity: int | None, actor_id: str, now: datetime, agent_id: str | None = None
    ) -> tuple[bool, list[ModelEvent]]:
        """Set or clear (None) the account's capacity, or ``agent_id``'s override (manager or higher; N ≥ 1;
        an override only for an agent or higher). The account's cannot be cleared while auto-assign is on."""
        if capacity is not None and capacity < 1:
            raise InvalidInput(f"capacity must be a whole number of at least 1 (got {capacity})")
        account = self.account(account_id)
        self._require_manager(account, actor_id)
        if agent_id is not None and not self._role_of(account, agent_id).can_be_online:
            raise Forbidden(f"{agent_id} is a viewer; only agents and higher have a capacity")
        current = account.capacity if agent_id is None else account.overrides.get(agent_id)
        if current == capacity:
            return False, []
        if agent_id is None and capacity is None and account.auto_assign:
            raise Refused("auto-assign is on: without an account capacity the first agent Online would take the queue")
        change: dict[str, Any]
        if agent_id is None:
            account.capacity = capacity
            change = {"capacity": capacity}
        else:
            if capacity is None:
                del account.overrides[agent_id]
            else:
                account.overrides[agent_id] = capacity
            change = {"agent_capacity": {"user_id": agent_id, "capacity": capacity}}
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=change)]

    @_settles
    def set_auto_assign(
        self, account_id: str, enabled: bool, actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        """Turn the release of the waiting queue on or off (manager or higher); on needs an account capacity."""
        account = self.account(account_id)
        self._require_manager(account, actor_id)
        if account.auto_assign == enabled:
            return False, []
        if enabled and account.capacity is None:
            raise Refused(f"account {account_id} has no capacity: the first agent Online would take the whole queue")
        account.auto_assign = enabled
        changes = {"auto_assign": "on" if enabled else "off"}
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=changes)]

    def settle(self, account_id: str, opened_by: datetime | None = None) -> None:
        """Ring a release when one is owed and none is: the account releases, no release was rung since the
        last ran, and either tickets wait in its queue while an Online agent has room, or (with ``opened_by``:
        what the workers' sweep and the end of a bulk job look at) an after-hours ticket's opening is at or
        before it and no release noticed it yet.

        The engine rings where room may appear (an agent Online, a close, a capacity, auto-assign or round robin
        on, a ticket behind the queue, the end of a bulk job, the sweep); the model asks after *every*
        operation, so a trigger the engine misses shows as a missing ring."""
        account = self.account(account_id)
        if account.release_owed or not account.releasing:
            return
        unnoticed = opened_by is not None and set(account.opened(opened_by)) - account.noticed
        # An opening nobody noticed yet rings even when nobody has room: the release notices it (moves the
        # ticket into the queue), so the room that comes later finds it there.
        if unnoticed or self.owed(account):
            account.release_owed = True
            self.rung.append(account_id)

    def owed(self, account: AccountModel) -> bool:
        """Tickets wait that an agent with room could take (pools on: one who takes the ticket's channel)."""
        return any(self.pick(account, row.channel)[0] is not None for row in account.queue())

    def release(self, account_id: str, now: datetime) -> tuple[tuple[str, int, int], list[ModelEvent]]:
        """A release of the waiting queue at ``now`` (``worker.core.release.run_release``): after-hours tickets
        whose opening has come are noticed; then, while the account releases, the oldest ticket of the queue
        goes to the least recently assigned Online agent below capacity (who goes to the back of the line),
        until the queue is empty or nobody has room; then one toast per agent, in agent id order. Returns
        ``(account_id, assigned, toasts)``."""
        account = self.account(account_id)
        account.release_owed = False
        account.noticed.update(account.opened(now))
        released: dict[str, list[str]] = {}
        events: list[ModelEvent] = []
        while account.releasing and (picks := self.release_picks(account)):
            ticket_id, agent_id = picks
            stored = account.decided[ticket_id]
            del account.unassigned[ticket_id]
            account.places[agent_id] = account.next_place()
            account.counts[agent_id] = account.counts.get(agent_id, 0) + 1
            stored.outcome, stored.agent_id, stored.reason, stored.available_at = (
                "assigned",
                agent_id,
                "waiting_queue",
                None,
            )
            stored.auto, stored.assigned_ms = True, epoch_ms(now)
            self.file_timer(account, ticket_id, now)
            released.setdefault(agent_id, []).append(ticket_id)
            events.append(
                self._event(
                    account_id,
                    "ticket.assigned",
                    now,
                    ticket_id=ticket_id,
                    channel=stored.channel,
                    agent_id=agent_id,
                    previous_agent_id=stored.previous,
                    reason="waiting_queue",
                    team_id=None,
                )
            )
        for agent_id, ids in sorted(released.items()):
            text = f"{len(ids)} waiting {'ticket' if len(ids) == 1 else 'tickets'} assigned to you"
            events.append(self._event(account_id, "toast", now, user_id=agent_id, text=text, ticket_ids=ids))
        self.settle(account_id)
        return (account_id, sum(len(ids) for ids in released.values()), len(released)), events

    def release_picks(self, account: AccountModel) -> tuple[str, str] | None:
        """The release's next step: the oldest waiting ticket an agent with room takes (pools on: of a channel
        whose pool has one: no head-of-line blocking), and that agent."""
        for row in account.queue():
            agent_id, _ = self.pick(account, row.channel)
            if agent_id is not None:
                return row.ticket_id, agent_id
        return None

    def sweep(self, now: datetime) -> tuple[list[str], list[ModelEvent]]:
        """The workers' sweep at ``now``: rings every account that owes a release (``settle`` with the openings
        up to ``now``). Returns the accounts rung, sorted; it emits nothing."""
        before = len(self.rung)
        for account_id in sorted(self.accounts):
            self.settle(account_id, opened_by=now)
        return sorted(self.rung[before:]), []

    # --- teams and bulk team assignment -------------------------------------------------------

    @_settles
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
                    stored.auto, stored.assigned_ms = False, None
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
                stored.auto, stored.assigned_ms = False, None  # a manager's act: never reassigned unanswered
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
            "above_capacity": [agent for agent in sorted(toasts) if self._above_capacity(account, agent)],
            "no_team_member_online": totals["assigned"] == 0 and totals["unassigned"] > 0,
        }
        self.settle(account_id, opened_by=now)  # the job's end: the tickets it moved may have made room
        return result, events

    @staticmethod
    def _above_capacity(account: AccountModel, agent_id: str) -> bool:
        cap = account.capacity_of(agent_id)
        return cap is not None and account.load(agent_id) > cap

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

    def capacities(self, account_id: str) -> tuple[int | None, dict[str, int], bool]:
        """The account's capacity, the per-agent overrides and auto-assign."""
        account = self.account(account_id)
        return account.capacity, dict(account.overrides), account.auto_assign

    def settings(self, account_id: str) -> tuple[bool, OfficeHours | None]:
        account = self.account(account_id)
        return account.round_robin, account.office_hours
