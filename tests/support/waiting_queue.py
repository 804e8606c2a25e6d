"""Issue 15's invariants of capacity and the waiting queue, checked after every step of tests/test_model_based.py.

They are checked on the *engine's* state (what ``Queries`` and the account's keys show) and the step's new
events, not on the reference model's: the model is written from the same rules and could share a mistake
with the engine; these checks state the rules once more, directly:

* no automatic assignment (round robin, the waiting queue's release) takes an agent's load above their
  capacity (bulk may: a manager's explicit act);
* with auto-assign on, a newer ticket is never assigned automatically while an eligible older one waits
  (oldest first by ``created_at``, ties by ticket id), and one step's automatic assignments go oldest first;
* when a release has ended, either no eligible ticket waits or no Online agent has spare capacity;
* with no capacity and auto-assign off, nothing of issue 15 shows: no ``all_agents_at_capacity``,
  ``older_tickets_waiting`` or ``waiting_queue`` (the seed's rules, which the rest of the model checks).

"Eligible" is the issue's: waiting with a reason that waits for any agent with room (``RELEASABLE``), or after
hours once the opening was noticed (``noticed``, the model's record of the releases that saw it: the issue
allows the few seconds it takes to notice an opening).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from tests.support.model import RELEASABLE, ModelEvent, UnassignedRow, UserRow
from worker.core.keys import AccountKeys
from worker.core.text import text

AUTOMATIC = frozenset({"round_robin", "waiting_queue"})
"""``ticket.assigned`` reasons of automatic assignments (not ``bulk_team``)."""
REASSIGNED = frozenset({"assignee_away", "no_first_reply"})
"""``ticket.assigned`` reasons of reassignments (issue 16): automatic too, but not the waiting queue's order."""
ISSUE_15_REASONS = frozenset({"all_agents_at_capacity", "older_tickets_waiting", "waiting_queue"})


def stored_capacities(client: redis.Redis, account_id: str) -> tuple[int | None, dict[str, int], bool]:
    """The account's capacity, its per-agent overrides and auto-assign, as stored (the views do not show them yet)."""
    keys = AccountKeys.for_account(account_id)
    raw = {text(field): int(value) for field, value in client.hgetall(keys.capacity).items()}
    account_capacity = raw.pop("*", None)
    return account_capacity, raw, client.hget(keys.settings, "auto_assign") in (b"on", "on")


@dataclass(frozen=True)
class QueueState:
    """What the engine shows of one account after a step."""

    round_robin: bool
    auto_assign: bool
    capacity: int | None
    overrides: dict[str, int]
    loads: dict[str, int]
    """Every user's load."""
    online: frozenset[str]
    waiting: list[UnassignedRow]
    """The unassigned set."""
    channels: dict[str, list[str]] = field(default_factory=dict)
    """Restricted agents → the channels they take (issue 16: pools are on while any agent is restricted)."""

    @classmethod
    def of(
        cls,
        round_robin: bool,
        capacities: tuple[int | None, dict[str, int], bool],
        users: Iterable[UserRow],
        unassigned: list[UnassignedRow],
        channels: dict[str, list[str]] | None = None,
    ) -> QueueState:
        """From what the views read: the round-robin setting, ``stored_capacities``, the users and unassigned rows."""
        capacity, overrides, auto_assign = capacities
        users = list(users)
        return cls(
            round_robin=round_robin,
            auto_assign=auto_assign,
            capacity=capacity,
            overrides=overrides,
            loads={user.user_id: user.load for user in users},
            online=frozenset(user.user_id for user in users if user.status == "online"),
            waiting=unassigned,
            channels=channels or {},
        )

    def capacity_of(self, user_id: str) -> int | None:
        return self.overrides.get(user_id, self.capacity)

    def has_room(self, user_id: str) -> bool:
        cap = self.capacity_of(user_id)
        return cap is None or self.loads.get(user_id, 0) < cap

    def takes(self, user_id: str, channel: str) -> bool:
        return user_id not in self.channels or channel in self.channels[user_id]

    def eligible(self, noticed: set[str]) -> list[UnassignedRow]:
        rows = (
            r for r in self.waiting if r.reason in RELEASABLE or (r.reason == "after_hours" and r.ticket_id in noticed)
        )
        return sorted(rows, key=lambda row: (row.created_at, row.ticket_id))


def automatic_assignments(events: Iterable[ModelEvent]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "ticket.assigned" and e["reason"] in AUTOMATIC]


def check_step(
    state: QueueState,
    events: list[ModelEvent],
    created_at: dict[str, datetime],
    noticed: set[str],
    release_ended: bool,
) -> None:
    """The invariants after one step of one account: ``events`` are the step's new events of the account,
    ``created_at`` the arrival of every ticket they assigned, ``release_ended`` whether the step was a release."""
    automatic = automatic_assignments(events)
    reassigned = [e for e in events if e["type"] == "ticket.assigned" and e["reason"] in REASSIGNED]
    for assigned in [*automatic, *reassigned]:
        agent_id = assigned["agent_id"]
        cap = state.capacity_of(agent_id)
        assert cap is None or state.loads[agent_id] <= cap, f"{assigned['ticket_id']} took {agent_id} above {cap}"
    if state.auto_assign and automatic:
        order = [(created_at[e["ticket_id"]], e["ticket_id"]) for e in automatic]
        assert order == sorted(order), f"released out of order: {order}"
        last = automatic[-1]["channel"]  # pools on: a ticket waits behind its own channel's only
        overtaken = [
            row.ticket_id
            for row in state.eligible(noticed)
            if (row.created_at, row.ticket_id) < order[-1] and (not state.channels or row.channel == last)
        ]
        assert not overtaken, f"{order[-1][1]} was assigned while older {overtaken} wait"
    if release_ended and state.round_robin and state.auto_assign and state.capacity is not None:
        with_room = [user for user in state.online if state.has_room(user)]
        waiting = [
            row.ticket_id
            for row in state.eligible(noticed)
            if any(state.takes(user, row.channel) for user in with_room)
        ]
        assert not waiting, f"the release ended with {waiting} waiting and room for {with_room}"
    if state.capacity is None and not state.overrides and not state.auto_assign:
        shown = {e.get("reason") for e in events} & ISSUE_15_REASONS
        assert not shown, f"issue 15's reasons {shown} without a capacity or auto-assign"
