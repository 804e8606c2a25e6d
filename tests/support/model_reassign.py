"""Reassignment when the assignee is away or a ticket is unanswered (issue 16, parts 2 and 3; docs/DESIGN.md,
"Reassignment (away, unanswered)") in the reference model of tests/support/model.py: a mixin of ``Model``.

What it mirrors from the engine:

* ``set_reassign_away`` / ``set_reassign_unanswered``: the value check first (``InvalidInput``), then the actor
  may manage; the same values again are a no-op; else ``settings.changed`` with ``reassign_away`` /
  ``reassign_away_grace_seconds``, or ``reassign_unanswered_after_seconds`` / ``reassign_unanswered_max``
  (both null when turned off; the max is kept only while it is on).
* ``offline_since``: the time an agent went Offline (by hand, a presence timeout, a demotion); going Online
  forgets it; an agent never Online counts as Offline since ever.
* ``customer_reply`` at ``at``: unknown ticket → ``UnknownTicket``; a reply at or before the last processed one
  → ``duplicate``; closed or unassigned → ``recorded``; assigned and away (setting on, round robin on, the
  assignee not Online and Offline since at least the grace before ``at``) → reassigned by the one pick
  (``ChannelRules.pick``, skipping the assignee), or to the waiting queue with the pick's reason; else ``kept``.
  A reopen of an assigned ticket applies the same rule at its time, after ``ticket.reopened``.
* The no-first-reply timers: ``timers`` mirrors the partition's ``unanswered_due`` entries of the account
  *exactly*, including the entries the engine leaves for its sweep to drop lazily (a bulk assignment, turning
  the setting off, a release filing a ticket already reassigned as often as the max allows).
  ``expire_unanswered`` re-checks everything like the script: dropped, later (re-filed at its true due),
  reassigned (``no_first_reply``) or stays (nobody else: re-filed at now + after).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.support.model_presence import epoch_ms
from worker.errors import InvalidInput, UnknownAccount, UnknownTicket

if TYPE_CHECKING:
    from tests.support.model import AccountModel, ModelEvent


@dataclass
class ReassignState:
    """One account's reassignment settings, offline times and no-first-reply timers."""

    away: bool = False
    grace: int = 0
    after: int | None = None
    max_times: int = 1
    offline_since: dict[str, int] = field(default_factory=dict)
    timers: dict[str, int] = field(default_factory=dict)
    """Ticket → ms: the account's entries of ``unanswered_due``."""


def timer_member(account_id: str, ticket_id: str) -> str:
    return f"{account_id} {ticket_id}"


class ReassignRules:
    """``Model``'s reassignment operations; each returns ``(result, events)`` like the others."""

    accounts: dict[str, AccountModel]

    if TYPE_CHECKING:  # provided by Model

        def account(self, account_id: str) -> AccountModel: ...

        def settle(self, account_id: str, opened_by: datetime | None = None) -> None: ...

        def _require_manager(self, account: AccountModel, actor_id: str) -> None: ...

        @staticmethod
        def _event(account_id: str, event_type: str, now: datetime, **payload: Any) -> ModelEvent: ...

        def pick(self, account: AccountModel, channel: str, skip: str | None = None) -> tuple[str | None, str]: ...

    def set_reassign_away(
        self, account_id: str, enabled: bool, grace: int, actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        if not 0 <= grace <= 365 * 24 * 3600:
            raise InvalidInput(f"grace {grace}")
        account = self.account(account_id)
        self._require_manager(account, actor_id)
        state = account.reassign
        if (state.away, state.grace) == (enabled, grace):
            return False, []
        state.away, state.grace = enabled, grace
        changes = {"reassign_away": enabled, "reassign_away_grace_seconds": grace}
        self.settle(account_id)
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=changes)]

    def set_reassign_unanswered(
        self, account_id: str, after: int | None, max_times: int, actor_id: str, now: datetime
    ) -> tuple[bool, list[ModelEvent]]:
        if after is not None and not (1 <= after <= 365 * 24 * 3600 and 1 <= max_times <= 1000):
            raise InvalidInput(f"after {after}, max {max_times}")
        account = self.account(account_id)
        self._require_manager(account, actor_id)
        state = account.reassign
        if state.after == after and (after is None or state.max_times == max_times):
            return False, []
        state.after = after
        state.max_times = 1 if after is None else max_times
        changes = {"reassign_unanswered_after_seconds": after, "reassign_unanswered_max": after and max_times}
        self.settle(account_id)
        return True, [self._event(account_id, "settings.changed", now, actor_id=actor_id, changes=changes)]

    def went_offline(self, account: AccountModel, user_id: str, now: datetime) -> None:
        account.reassign.offline_since[user_id] = epoch_ms(now)

    def away(self, account: AccountModel, agent_id: str, at_ms: int) -> bool:
        state = account.reassign
        if not (state.away and account.round_robin) or agent_id in account.online:
            return False
        return state.offline_since.get(agent_id, 0) + state.grace * 1000 <= at_ms

    def customer_reply(
        self, account_id: str, ticket_id: str, at: datetime, now: datetime
    ) -> tuple[tuple[str, str | None, str | None, str | None], list[ModelEvent]]:
        """Returns ``(outcome, agent_id, reason, previous_agent_id)`` (``ReplyOutcome``'s fields)."""
        account = self.account(account_id)
        if not account.roles:
            raise UnknownAccount(f"account {account_id} has no users")
        stored = account.decided.get(ticket_id)
        if stored is None:
            raise UnknownTicket(f"no such ticket {ticket_id}")
        at_ms = epoch_ms(at)
        if stored.reply_ms is not None and stored.reply_ms >= at_ms:
            return ("duplicate", None, None, None), []
        stored.reply_ms = at_ms
        agent = account.assignee(ticket_id)
        if ticket_id in account.closed or agent is None:
            return ("recorded", None, None, None), []
        if not self.away(account, agent, at_ms):
            return ("kept", agent, None, None), []
        result, events = self.move_away(account_id, ticket_id, now)
        self.settle(account_id)
        return result, events

    def move_away(
        self, account_id: str, ticket_id: str, now: datetime
    ) -> tuple[tuple[str, str | None, str | None, str | None], list[ModelEvent]]:
        """The assignee is away: the next agent, or the waiting queue with the pick's reason."""
        account = self.account(account_id)
        stored = account.decided[ticket_id]
        previous = stored.agent_id
        agent, why = self.pick(account, stored.channel, previous)
        if agent is not None:
            events = self.reassign(account_id, ticket_id, agent, "assignee_away", now)
            return ("reassigned", agent, None, previous), events
        from tests.support.model import UnassignedRow  # a cycle at import time

        account.reassign.timers.pop(ticket_id, None)
        stored.outcome, stored.agent_id, stored.reason, stored.available_at = "unassigned", None, why, None
        stored.previous, stored.assigned_ms = previous, None
        account.unassigned[ticket_id] = UnassignedRow(ticket_id, stored.channel, why, stored.created_at, None)
        event = self._event(
            account_id,
            "ticket.unassigned",
            now,
            ticket_id=ticket_id,
            channel=stored.channel,
            reason=why,
            available_at=None,
        )
        return ("waiting", None, why, previous), [event]

    def reassign(self, account_id: str, ticket_id: str, agent: str, reason: str, now: datetime) -> list[ModelEvent]:
        """The ticket leaves its assignee for ``agent`` (``reassign`` in ``lua/_common.lua``)."""
        account = self.account(account_id)
        stored = account.decided[ticket_id]
        previous = stored.agent_id
        state = account.reassign
        state.timers.pop(ticket_id, None)
        account.places[agent] = account.next_place()
        account.counts[agent] = account.counts.get(agent, 0) + 1
        stored.agent_id, stored.reason, stored.previous = agent, reason, previous
        stored.auto, stored.assigned_ms = True, epoch_ms(now)
        if reason == "no_first_reply":
            stored.unanswered += 1
        if state.after is not None and stored.unanswered < state.max_times:
            state.timers[ticket_id] = epoch_ms(now) + state.after * 1000
        return [
            self._event(
                account_id,
                "ticket.assigned",
                now,
                ticket_id=ticket_id,
                channel=stored.channel,
                agent_id=agent,
                previous_agent_id=previous,
                reason=reason,
                team_id=None,
            ),
            self._event(
                account_id,
                "toast",
                now,
                user_id=agent,
                text=f"{stored.channel} ticket {ticket_id} reassigned to you ({reason})",
                ticket_ids=[ticket_id],
            ),
        ]

    def file_timer(self, account: AccountModel, ticket_id: str, now: datetime) -> None:
        """An automatic assignment at ``now`` (round robin, the release) files its timer while the setting is on."""
        if account.reassign.after is not None:
            account.reassign.timers[ticket_id] = epoch_ms(now) + account.reassign.after * 1000

    def record_first_reply(
        self, account_id: str, ticket_id: str, agent_id: str, replied_at: datetime, now: datetime
    ) -> tuple[tuple[int, bool], list[ModelEvent]]:
        """The TTFR (whole seconds since the ticket's arrival) and whether one was recorded already; cancels the
        ticket's timer."""
        account = self.account(account_id)
        stored = account.decided.get(ticket_id)
        if stored is None:
            raise UnknownTicket(f"no such ticket {ticket_id}")
        if agent_id not in account.roles:
            from worker.errors import UnknownUser

            raise UnknownUser(f"unknown user {agent_id}")
        if stored.ttfr is not None:
            return (stored.ttfr, True), []
        stored.ttfr = (epoch_ms(replied_at) - epoch_ms(stored.created_at)) // 1000
        account.reassign.timers.pop(ticket_id, None)
        return (stored.ttfr, False), []

    def unanswered_due(self) -> dict[str, int]:
        """The ``unanswered_due`` zset of the accounts' partition: member → ms."""
        return {
            timer_member(account_id, ticket_id): at
            for account_id, account in self.accounts.items()
            for ticket_id, at in account.reassign.timers.items()
        }

    def expire_unanswered(
        self, account_id: str, ticket_id: str, now: datetime
    ) -> tuple[tuple[str, str, str], list[ModelEvent]]:
        """The sweep's step for one timer (``expire_unanswered-25``): ``(outcome, agent or '', previous or '')``."""
        account = self.account(account_id)
        state, stored, now_ms = account.reassign, account.decided.get(ticket_id), epoch_ms(now)
        agent = account.assignee(ticket_id)
        if (
            stored is None
            or agent is None
            or ticket_id in account.closed
            or stored.ttfr is not None
            or not stored.auto
            or stored.assigned_ms is None
            or state.after is None
            or not account.round_robin
            or stored.unanswered >= state.max_times
        ):
            state.timers.pop(ticket_id, None)
            return ("dropped", "", ""), []
        due = stored.assigned_ms + state.after * 1000
        if due > now_ms:
            state.timers[ticket_id] = due
            return ("later", "", ""), []
        new_agent, _ = self.pick(account, stored.channel, agent)
        if new_agent is None:
            state.timers[ticket_id] = now_ms + state.after * 1000
            return ("stays", agent, ""), []
        events = self.reassign(account_id, ticket_id, new_agent, "no_first_reply", now)
        self.settle(account_id)
        return ("reassigned", new_agent, agent), events

    def sweep_unanswered(self, now: datetime) -> tuple[list[tuple[str, str, str]], dict[str, list[ModelEvent]]]:
        """Every timer due at or before ``now``, in the zset's order (time, then member)."""
        now_ms = epoch_ms(now)
        due = sorted((at, member) for member, at in self.unanswered_due().items() if at <= now_ms)
        reassigned: list[tuple[str, str, str]] = []
        events: dict[str, list[ModelEvent]] = {}
        for _, member in due:
            account_id, _, ticket_id = member.partition(" ")
            (outcome, agent, _), step_events = self.expire_unanswered(account_id, ticket_id, now)
            if outcome == "reassigned":
                reassigned.append((account_id, ticket_id, agent))
            events.setdefault(account_id, []).extend(step_events)
        return reassigned, events
