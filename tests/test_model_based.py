"""Model-based test: random sequences of every engine operation against the reference model (tests/support/model.py).

A ``RuleBasedStateMachine`` drives the real ``worker.core.engine.Engine`` (two engine instances sharing the
client, like two worker processes, so the stale-office-hours reload path is exercised) over two accounts
that share a partition. After every step it compares the engine's result (or exception class) with the
model's and the events newly appended to the account's stream with the model's, ignoring only each
event's ``id``; invariants compare the unassigned set, the rotation order, counts, users, settings and
teams. Teams are set by random actors to random members (viewers and an unknown user included); a bulk
team assignment runs as it does in production — ``start_bulk_assign`` enqueues the RQ job and an
in-process worker runs it (``work(burst=True)``) — with the job's clock pinned to the step's ``now`` and a
random batch size, and its result dict is compared with the model's. It runs on a real Redis and on
fakeredis.

Capacity and the waiting queue (issue 15): random actors set and clear the account's capacity and per-agent
overrides and turn auto-assign on and off (refusals included). A release the engine rings
(``Engine.on_release``, which enqueues ``worker.jobs.process_release`` in production) is recorded and
compared with the releases the model says are owed, and run *later*, by the ``run_release`` rule
(``worker.core.release.run_release``, the job's body, at that step's ``now``): tickets keep arriving while it
is pending and must queue behind older ones. Now and then a release nobody rang runs (a retry, a second
worker), and the ``sweep`` rule runs the workers' sweep (``sweep_due``), mostly at after-hours openings.
After every step, besides the views, issue 15's invariants are checked on the engine's state
(tests/support/waiting_queue.py): no automatic assignment above capacity, oldest first, a release ends with
no eligible ticket waiting or nobody with room, and no trace of issue 15 without a capacity or auto-assign.
At the end, time passes: every opening comes, and every release rung runs. A second, narrower machine
(``WaitingQueueMachine``, real Redis) drops the rules about other concerns, so that its runs are mostly
tickets, closes, capacities and releases. ``BatchMachine`` (issue 18) adds batches of tickets decided in one
``decide_batch`` call, the burst intake's path, compared with the model deciding them one by one.

Failures hypothesis finds are kept below the machine as ordinary tests named for the behaviour (while an
engine bug is open, its test is marked ``xfail(strict=True)`` and the machine steers clear of what
triggers it).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rq.job import Job, JobStatus

import worker.core.bulk
import worker.jobs
from producers.queue import SERIALIZER
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import AgentFirstReply, BulkAssignRequest, TicketCreated
from schemas.office_hours import OfficeHours
from tests.support import replies
from tests.support.model import Model, ModelEvent, Outcome, Refused, TeamRow, UnassignedRow, UserRow
from tests.support.model_checks import check_issue16
from tests.support.model_presence import epoch_ms
from tests.support.snapshots import agent_counts
from tests.support.waiting_queue import QueueState, automatic_assignments, check_step, stored_capacities
from worker.core.bulk import BATCH_SIZE, start_bulk_assign
from worker.core.decide_many import Arrival, Refusal, decide_many
from worker.core.decision import Decision
from worker.core.engine import Engine
from worker.core.keys import DEFAULT_PARTITIONS, AccountKeys, partition_of
from worker.core.presence import expire, sweep_presence
from worker.core.queries import Queries
from worker.core.reassign import expire_unanswered, sweep_unanswered
from worker.core.release import run_release, sweep_due
from worker.core.text import text
from worker.errors import Forbidden, HelpdeskError, InvalidInput, UnknownUser
from worker.runtime.runner import make_worker

NOW = datetime(2026, 10, 29, 12, 0, tzinfo=UTC)
"""A Thursday. Europe/Berlin fell back on Sun 25 Oct, America/New_York falls back on Sun 1 Nov 2026:
arrival times within five days either side cross both changes."""

SPREAD_MINUTES = 5 * 24 * 60

LAST_OPENING = NOW + timedelta(minutes=SPREAD_MINUTES, days=14)
"""After every ticket's next opening (``HOURS`` open at least once a week)."""

ACCOUNTS = ("acme", "hooli")
"""Two accounts in the same partition (14 of 16): isolation even within one partition stream."""

USERS = ("ana", "ben", "cara", "max", "olga")
ACTORS = (*USERS, "ghost")
"""``ghost`` is never created: an unknown user or actor."""
TEAMS = ("billing", "support")
"""Teams the rules set; bulk jobs also name ``void``, which never exists (``UnknownTeam``)."""
BULK_TEAMS = (*TEAMS, *TEAMS, "void")
BATCH_SIZES = (1, 2, 3, BATCH_SIZE)
"""The job's batch size, patched per run: small ones make a job several batches (the rotation is taken
afresh per batch), and the real one."""
CAPACITIES = (None, 1, 1, 2, 3, 0)
"""Capacities the rules set: small, so that agents reach them; 0 is refused (``InvalidInput``)."""
SEED_CAPACITIES = ((None, False), (1, True), (2, True), (1, True), (1, False))
"""The account's capacity and auto-assign to start with."""
PRESENCE_TIMEOUTS = (None, 1, 90, 900, 7200, 86400, 0)
"""Presence timeouts the rules set (seconds): from one second to a day; 0 is refused (``InvalidInput``)."""
SEED_PRESENCE = (None, 90, 900, 7200)
CHANNEL_SETS: tuple[tuple[str, ...] | None, ...] = (
    None,
    ("email",),
    ("webchat",),
    ("email", "sms"),
    ("webchat", "social", "sms"),
    ("email", "webchat", "sms", "social"),  # every channel: stored as "every channel"
    (),  # none at all: refused (InvalidInput)
)
"""Channel sets the rules restrict agents to (issue 16, part 4)."""
GRACES = (0, 0, 1, 60, 900, 86400, -1)
"""Reassign-away graces (seconds); -1 is refused (``InvalidInput``)."""
AFTERS = (None, 1, 60, 600, 3600, 0)
"""Reassign-unanswered delays (seconds); 0 is refused."""
MAX_TIMES = (1, 1, 2, 3)
SEED_REASSIGN = ((False, 0, None, 1), (True, 0, None, 1), (True, 600, 600, 1), (False, 0, 60, 2), (True, 0, 3600, 1))
"""Reassign-away on, its grace, reassign-unanswered's delay and max, to start with."""
REPLY_OFFSETS = tuple(timedelta(milliseconds=ms) for ms in (-3_600_000, -1, 0, 0, 1, 60_000))
"""Where a customer reply falls relative to the time its assignee counts as away (Offline since + grace)."""
PRESENCE_OFFSETS = tuple(timedelta(milliseconds=ms) for ms in (-1, 0, 0, 1, 5000, 3_600_000))
"""Where a presence sweep runs relative to an agent's time: just before, at, just after, later."""
SEED_ROLES = (Role.AGENT, Role.AGENT, Role.AGENT, Role.OWNER, Role.ADMIN, Role.MANAGER, Role.VIEWER)
"""Roles of the initial users (agents weighted up, so that tickets get assigned)."""

HOURS: tuple[OfficeHours | None, ...] = (
    None,
    OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"]),
    OfficeHours.from_specs("America/New_York", ["mon-fri 08:00-12:00 13:00-18:00"]),
    OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"], ["2026-10-30", "2026-11-02"]),
    OfficeHours.from_specs("America/New_York", ["daily 22:00-02:00"], ["2026-11-01"]),
    OfficeHours.from_specs("Europe/Berlin", ["sat-sun 01:30-02:30"]),
    OfficeHours(timezone="UTC", weekly={}),  # never opens: after_hours with no available_at
)

times = st.integers(-SPREAD_MINUTES, SPREAD_MINUTES).map(lambda minutes: NOW + timedelta(minutes=minutes))
delays = st.integers(0, 180).map(lambda minutes: timedelta(minutes=minutes))
accounts = st.sampled_from(ACCOUNTS)
engines = st.integers(0, 1)


def ticket_created(
    account_id: str, ticket_id: str, channel: Channel, created_at: datetime, now: datetime
) -> TicketCreated:
    return TicketCreated.model_validate(
        {"account_id": account_id, "ticket_id": ticket_id, "channel": channel, "created_at": created_at},
        context={"now": now},
    )


def from_ms(ms: int) -> datetime:
    """The instant of ``ms`` (epoch milliseconds), exactly."""
    return datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)


def clock_at(moment: datetime) -> Callable[[], datetime]:
    """A release's clock, stopped at ``moment``."""
    return lambda: moment


def decision_outcome(decision: Decision) -> Outcome:
    return Outcome(
        decision.outcome,
        decision.agent_id,
        decision.reason,
        decision.available_at,
        decision.duplicate,
        decision.channel.value,
    )


@contextmanager
def bulk_job_clock(now: datetime, batch_size: int) -> Iterator[None]:
    """The bulk job's clock (``worker.core.bulk.utc_now``: the events' ``occurred_at``) pinned to ``now``, and its
    batch size set. Not freezegun: fakeredis expires keys by the (frozen) wall clock, so a key written
    with a TTL under a clock weeks in the past — the job itself, kept one day — is gone when it thaws."""
    with (
        mock.patch.object(worker.core.bulk, "utc_now", lambda: now),
        mock.patch.object(worker.core.bulk, "BATCH_SIZE", batch_size),
        mock.patch.object(worker.core.bulk, "BATCH_TARGET_US", None),  # fixed batches: the model's
    ):
        yield


def work_burst(client: redis.Redis) -> None:
    """``make_worker(client).work(burst=True)`` without RQ's command channel (a burst run in a test never
    gets a command): stopping its pubsub thread blocks for up to a second (``Worker.unsubscribe`` joins
    it with ``timeout=1``) whenever the thread is waiting for a message, which would dominate the runtime."""
    rq_worker = make_worker(client)
    with mock.patch.object(rq_worker, "subscribe"):
        rq_worker.work(burst=True, logging_level="WARNING")


def same_refusal(expected: HelpdeskError, raised: Exception) -> bool:
    """The engine refused as the model did. ``RR_REFUSED`` has no exception class in the engine yet: it raises
    ``redis.ResponseError`` (test_a_rule_refusal_is_a_typed_helpdesk_error); a class named ``Refused`` is
    accepted too, so the harness keeps working once it has one."""
    if isinstance(expected, Refused):
        return type(raised).__name__ == "Refused" or (
            isinstance(raised, redis.ResponseError) and str(raised).startswith("RR_REFUSED")
        )
    return type(raised) is type(expected)


class EngineHarness:
    """Calls the engine and the model alike and compares results, exceptions, new events and rung releases.

    A release the engine rings (``Engine.on_release``; a bulk job's, through ``worker.jobs.enqueue_release``)
    is recorded and, as in production, run later: ``queued`` holds the release jobs not run yet, and
    :meth:`release` runs one (``worker.core.release.run_release``, the job's body) whenever the test says."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.engines = (Engine(client), Engine(client))
        self.queries = Queries(client)
        self.model = Model()
        self.last_event_id = dict.fromkeys(ACCOUNTS, "-")
        self.note: Callable[[str], None] = lambda label: None
        """Where outcome labels go: ``hypothesis.event`` inside the machine (``--hypothesis-show-statistics``)."""
        self.rung: list[str] = []
        """Accounts whose release the engine rang during the current step."""
        self.queued: list[str] = []
        """Release jobs enqueued and not run yet (an account may have several: a retry, a sweep)."""
        self.step_events: dict[str, list[ModelEvent]] = {}
        self.released: str | None = None
        """The account the last step released, if it was a release."""
        self.clean = True
        """No check has failed (a failed one leaves this False)."""
        self.touched: set[str] = set()
        """Accounts the steps since the last look at the views acted on."""
        for engine in self.engines:
            engine.on_release = self.rung.append

    def accept_extra_rings(self) -> None:
        """With per-channel pools on, a trigger rings when tickets wait and anyone has room (``ring_release``'s one
        test), though nobody with room may take the waiting tickets' channels: the release then finds nothing
        (``claim_release`` / ``end_release`` test per channel, as the model does). Such a ring is accepted only
        for an account with pools on and no release owed; the model then owes the release the engine took the
        lease for. Every ring the model says is owed must still come."""
        extra = list(self.rung)
        for account_id in self.model.rung:
            if account_id in extra:
                extra.remove(account_id)
        for account_id in extra:
            account = self.model.account(account_id)
            if account.channels and not account.release_owed and account.releasing:
                account.release_owed = True
                self.model.rung.append(account_id)
                self.note("release rung (pools: no channel with room)")

    def new_events(self, account_id: str) -> list[ModelEvent]:
        entries = self.queries.events(account_id, after=self.last_event_id[account_id])
        if entries:
            self.last_event_id[account_id] = entries[-1][0]
        return [event.model_dump(exclude={"id"}) for _, event in entries]

    def check(
        self,
        account_id: str,
        engine_call: Callable[[], Any],
        model_call: Callable[[], tuple[Any, list[ModelEvent] | dict[str, list[ModelEvent]]]],
        convert: Callable[[Any], Any] = lambda result: result,
    ) -> Any:
        """Run the model, then the engine; the same result (or refusal), the same new events and the same
        releases rung. Returns the result."""
        actual = None
        self.released = None
        self.clean = False
        self.touched.add(account_id)
        try:
            expected, expected_events = model_call()  # events of account_id, or a dict by account (a sweep)
        except HelpdeskError as refusal:
            self.note(f"refused: {type(refusal).__name__}")
            try:
                engine_call()
            except Exception as raised:  # any class: compared with the model's refusal below
                assert same_refusal(refusal, raised), f"expected {refusal!r}, got {raised!r}"
            else:
                pytest.fail(f"the engine did not refuse: {refusal!r}")
            expected_events = []
        else:
            if isinstance(expected, Outcome):
                self.note(f"ticket: {expected.outcome} {expected.reason}{' (duplicate)' if expected.duplicate else ''}")
            actual = convert(engine_call())
            assert actual == expected
        by_account = expected_events if isinstance(expected_events, dict) else {account_id: expected_events}
        for account in ACCOUNTS:  # the other account's stream must not move
            self.step_events[account] = self.new_events(account)
            assert self.step_events[account] == by_account.get(account, [])
        self.accept_extra_rings()
        assert sorted(self.rung) == sorted(self.model.rung), "releases rung"
        if self.rung:
            self.note("release rung")
        self.queued += self.rung
        self.rung.clear()
        self.model.rung.clear()
        self.clean = True
        return actual

    def call(self, name: str, account_id: str, *args: Any, engine: int = 0) -> Any:
        """Call ``name`` (upsert_user, set_status, set_round_robin, set_office_hours) on an engine and the model."""
        return self.check(
            account_id,
            lambda: getattr(self.engines[engine], name)(account_id, *args),
            lambda: getattr(self.model, name)(account_id, *args),
        )

    def bulk_assign(
        self,
        account_id: str,
        team_id: str,
        actor_id: str,
        ticket_ids: Sequence[str] | None,
        now: datetime,
        batch_size: int = BATCH_SIZE,
    ) -> dict[str, Any]:
        """Enqueue a bulk job (``ticket_ids=None``: the unassigned set) and run it in an in-process worker."""
        request = BulkAssignRequest(
            account_id=account_id,
            team_id=team_id,
            actor_id=actor_id,
            ticket_ids=None if ticket_ids is None else list(ticket_ids),
            unassigned=ticket_ids is None,
        )

        def run_job() -> Any:
            with (
                bulk_job_clock(now, batch_size),
                mock.patch.object(
                    worker.jobs, "enqueue_release", lambda account_id, queue: self.rung.append(account_id)
                ),
            ):
                job = start_bulk_assign(self.client, request)  # a refusal raises here, before enqueueing
                work_burst(self.client)
            job = Job.fetch(job.id, connection=self.client, serializer=SERIALIZER)
            assert job.get_status() == JobStatus.FINISHED, job.latest_result()
            return job.return_value()

        def model_call() -> tuple[dict[str, Any], list[ModelEvent]]:
            result, events = self.model.bulk_assign(account_id, team_id, actor_id, ticket_ids, now, batch_size)
            kind = "assigned" if result["assigned"] else "unassigned" if result["unassigned"] else "nothing to do"
            self.note(f"bulk: {kind}{' (and unknown tickets)' if result['unknown'] else ''}")
            return result, events

        result: dict[str, Any] = self.check(account_id, run_job, model_call)
        return result

    def lifecycle(self, name: str, account_id: str, ticket_id: str, now: datetime, engine: int = 0) -> bool:
        """``close_ticket`` or ``reopen_ticket`` on an engine and the model; returns whether it changed anything."""
        change: tuple[str, str, str, bool, str | None, str | None] = self.check(
            account_id,
            lambda: getattr(self.engines[engine], name)(account_id, ticket_id, now),
            lambda: getattr(self.model, name)(account_id, ticket_id, now),
            lambda c: (c.account_id, c.ticket_id, c.action, c.changed, c.agent_id, c.reassigned_from),
        )
        self.note(f"{name}: {'changed' if change[3] else 'no change'}{' (assigned)' if change[4] else ''}")
        return change[3]

    def release(self, account_id: str, now: datetime, engine: int = 0) -> tuple[str, int, int]:
        """One release job of ``account_id`` at ``now`` (its clock pinned): ``(account_id, assigned, toasts)``."""
        scripts, keys = self.engines[engine].scripts, self.engines[engine].keys(account_id)
        result: tuple[str, int, int] = self.check(
            account_id,
            lambda: run_release(scripts, keys, clock_at(now)),
            lambda: self.model.release(account_id, now),
            lambda r: (r.account_id, r.assigned, r.toasts),
        )
        self.released = account_id
        self.note(f"release: {'assigned' if result[1] else 'nothing to do'}")
        return result

    def sweep(self, now: datetime) -> list[str]:
        """The workers' sweep at ``now`` (``worker.core.release.sweep_due``): the accounts it rang, sorted."""
        engine = self.engines[0]
        self.touched.update(ACCOUNTS)
        rung: list[str] = self.check(
            ACCOUNTS[0],
            lambda: sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, now, self.rung.append),
            lambda: self.model.sweep(now),
            sorted,
        )
        self.note(f"sweep: {'rang' if rung else 'nothing due'}")
        return rung

    def sweep_presence(self, now: datetime, engine: int = 0) -> list[tuple[str, str]]:
        """The workers' presence sweep at ``now`` (``worker.core.presence.sweep_presence``): ``(account, agent)``
        of each agent it set Offline, in its order; the events of both accounts are checked."""
        scripts, keys_of = self.engines[engine].scripts, self.engines[engine].keys
        self.touched.update(ACCOUNTS)
        expired: list[tuple[str, str]] = self.check(
            ACCOUNTS[0],
            lambda: sweep_presence(scripts, keys_of, DEFAULT_PARTITIONS, now),
            lambda: self.model.sweep_presence(now),
        )
        self.note(f"presence sweep: {len(expired) if expired else 'nobody'} Offline")
        return expired

    def expire(self, account_id: str, user_id: str, now: datetime, engine: int = 0) -> bool:
        """One step of a sweep (``worker.core.presence.expire``) for an entry it may have read before a heartbeat
        moved it (a sweep racing a heartbeat): whether ``user_id`` went Offline."""
        scripts, keys = self.engines[engine].scripts, self.engines[engine].keys(account_id)
        went_offline: bool = self.check(
            account_id,
            lambda: expire(scripts, keys, user_id, now),
            lambda: self.model.expire_presence(account_id, user_id, now),
        )
        self.note(f"expire: {'Offline' if went_offline else 'kept'}")
        return went_offline

    def customer_reply(self, account_id: str, ticket_id: str, at: datetime, now: datetime, engine: int = 0) -> str:
        """A customer reply at ``at`` processed at ``now``: the outcome."""
        result: tuple[str, str | None, str | None, str | None] = self.check(
            account_id,
            lambda: self.engines[engine].customer_reply(account_id, ticket_id, at, now),
            lambda: self.model.customer_reply(account_id, ticket_id, at, now),
            lambda r: (r.outcome, r.agent_id, r.reason, r.previous_agent_id),
        )
        if result is None:  # refused
            return "refused"
        self.note(f"customer reply: {result[0]}{' ' + result[2] if result[2] else ''}")
        return result[0]

    def first_reply(self, account_id: str, ticket_id: str, agent_id: str, at: datetime, engine: int = 0) -> None:
        reply = AgentFirstReply(account_id=account_id, ticket_id=ticket_id, agent_id=agent_id, replied_at=at)
        self.check(
            account_id,
            lambda: self.engines[engine].record_first_reply(reply, at),
            lambda: self.model.record_first_reply(account_id, ticket_id, agent_id, at, at),
        )

    def sweep_unanswered(self, now: datetime, engine: int = 0) -> list[tuple[str, str, str]]:
        """The workers' sweep of no-first-reply timers at ``now``: (account, ticket, new agent) per reassignment."""
        scripts, keys_of = self.engines[engine].scripts, self.engines[engine].keys
        self.touched.update(ACCOUNTS)
        done: list[tuple[str, str, str]] = self.check(
            ACCOUNTS[0],
            lambda: sweep_unanswered(scripts, keys_of, DEFAULT_PARTITIONS, now, self.rung.append),
            lambda: self.model.sweep_unanswered(now),
        )
        self.note(f"unanswered sweep: {len(done) if done else 'nothing'} reassigned")
        return done

    def expire_unanswered(self, account_id: str, ticket_id: str, now: datetime, engine: int = 0) -> str:
        """One step of the unanswered sweep for an entry it may have read before it moved."""
        scripts, keys = self.engines[engine].scripts, self.engines[engine].keys(account_id)
        result: tuple[str, str, str] = self.check(
            account_id,
            lambda: expire_unanswered(scripts, keys, ticket_id, now, self.rung.append),
            lambda: self.model.expire_unanswered(account_id, ticket_id, now),
        )
        self.note(f"expire unanswered: {result[0]}")
        return result[0]

    def decide(self, ticket: TicketCreated, now: datetime, engine: int = 0) -> Outcome:
        outcome: Outcome = self.check(
            ticket.account_id,
            lambda: self.engines[engine].decide(ticket, now),
            lambda: self.model.decide(ticket, now),
            decision_outcome,
        )
        return outcome

    def check_views(self, touched_only: bool = False) -> None:
        """The views agree with the model, and issue 15's invariants hold on them (tests/support/waiting_queue.py).

        ``touched_only``: only the accounts acted on since the last look (after a step; the other account's
        stream is checked by every step, and its views when a step acts on it, or at the end)."""
        self.clean = False
        for account_id in sorted(self.touched) if touched_only else ACCOUNTS:
            unassigned = [
                UnassignedRow(r.ticket_id, r.channel.value, r.reason.value, r.created_at, r.available_at)
                for r in self.queries.unassigned(account_id)
            ]
            assert unassigned == self.model.unassigned(account_id)
            assert self.queries.online_in_rotation_order(account_id) == self.model.online_in_rotation_order(account_id)
            assert agent_counts(self.queries.client, account_id) == self.model.agent_counts(account_id)
            users = [
                UserRow(u.user_id, u.role.value, u.status.value, u.place, u.assigned, u.load)
                for u in self.queries.users(account_id)
            ]
            assert users == self.model.users(account_id)
            current = self.queries.settings(account_id)
            assert (current.round_robin, current.office_hours) == self.model.settings(account_id)
            capacities = stored_capacities(self.client, account_id)
            assert capacities == self.model.capacities(account_id)
            teams = [TeamRow(t.team_id, t.members, t.online) for t in self.queries.teams(account_id)]
            assert teams == self.model.teams(account_id)
            self.check_presence(account_id, current.presence_timeout_seconds)
            views = self.queries.users(account_id)
            check_issue16(self.client, self.model, account_id, current, views)
            channels = {u.user_id: [c.value for c in u.channels] for u in views if u.channels is not None}
            state = QueueState.of(current.round_robin, capacities, users, unassigned, channels)
            self.check_waiting_queue(account_id, state)
        self.step_events.clear()  # consumed: a step that calls nothing (skipped) brings no events
        self.released = None
        self.touched.clear()
        self.clean = True

    def check_presence(self, account_id: str, timeout: int | None) -> None:
        """Issue 16, part 1: the timeout and last heartbeats shown are the model's; ``presence_due`` holds exactly
        the Online agents of the accounts with a timeout, at last heartbeat + timeout (no lag: every change
        re-files at once); ``ready`` holds exactly the Online agents below capacity while a capacity is set."""
        model = self.model.account(account_id)
        assert timeout == model.presence.timeout
        beats = {u.user_id: u.last_heartbeat for u in self.queries.users(account_id) if u.last_heartbeat is not None}
        assert {user: round(at.timestamp() * 1000) for user, at in beats.items()} == model.presence.heartbeats
        keys = AccountKeys.for_account(account_id)
        entries: list[tuple[bytes, float]] = self.client.zrange(keys.presence_due, 0, -1, withscores=True)  # type: ignore[assignment]
        stored = {text(member): int(score) for member, score in entries}
        assert stored == self.model.presence_due()  # both accounts: they share the partition
        ready = [text(m) for m in self.client.zrange(keys.ready, 0, -1)]
        assert ready == (model.with_room() if model.capped else []), "ready"

    def check_waiting_queue(self, account_id: str, state: QueueState) -> None:
        events = self.step_events.get(account_id, [])
        model = self.model.account(account_id)
        created_at = {e["ticket_id"]: model.decided[e["ticket_id"]].created_at for e in automatic_assignments(events)}
        check_step(state, events, created_at, model.noticed, release_ended=self.released == account_id)

    def check_partition_stream(self) -> None:
        """The partition stream holds exactly each account's stream, in the same order."""
        partitions = {partition_of(account_id) for account_id in ACCOUNTS}
        assert len(partitions) == 1, "the accounts are chosen to share a partition"
        shared = replies.xrange(self.client, AccountKeys.for_account(ACCOUNTS[0]).partition_events)
        for account_id in ACCOUNTS:
            own = [
                fields[b"data"] for _, fields in replies.xrange(self.client, AccountKeys.for_account(account_id).events)
            ]
            in_partition = [fields[b"data"] for _, fields in shared if fields[b"account_id"] == account_id.encode()]
            assert in_partition == own


class ModelMachine(RuleBasedStateMachine):
    """Subclasses supply ``make_client``."""

    tickets = Bundle("tickets")
    broad = True
    """False narrows the machine to capacity and the waiting queue (``WaitingQueueMachine``): the rules about
    other concerns (roles, other users' status, office hours, redeliveries, teams, closes before their
    ticket) are off, so that more of each run is tickets, closes, capacity and releases."""
    presence_focus = False
    """True adds rules weighing the presence timeout up (``PresenceMachine``)."""
    reassign_focus = False
    """True adds rules weighing reassignment and pools up (``ReassignMachine``)."""

    def make_client(self) -> redis.Redis:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.client = self.make_client()
        self.harness = EngineHarness(self.client)
        self.harness.note = event
        self.ticket_counter = 0

    def teardown(self) -> None:
        """Time passes: every opening comes, the sweep rings what is owed, and every release rung runs. (Not
        after a failed check: hypothesis calls this anyway, and a second failure would hide the first.)"""
        if self.harness.clean:
            self.harness.check_views()  # both accounts
            self.harness.sweep_presence(LAST_OPENING)  # every heartbeat is older than a day: all timed out
            self.harness.sweep_unanswered(LAST_OPENING)  # every timer is due
            self.harness.sweep(LAST_OPENING)
            while self.harness.queued:
                self.harness.release(self.harness.queued.pop(0), LAST_OPENING)
                self.harness.check_views()
            self.harness.check_partition_stream()
        self.client.close()

    @initialize(
        target=tickets,
        managers=st.tuples(*[st.sampled_from([Role.OWNER, Role.ADMIN, Role.MANAGER])] * len(ACCOUNTS)),
        roles=st.lists(st.sampled_from(SEED_ROLES), min_size=2 * len(USERS), max_size=2 * len(USERS)),
        online=st.tuples(*[st.sets(st.sampled_from(USERS))] * len(ACCOUNTS)),
        round_robin=st.tuples(*[st.sampled_from([True, True, False])] * len(ACCOUNTS)),
        hours=st.tuples(*[st.sampled_from(HOURS)] * len(ACCOUNTS)),
        billing=st.tuples(*[st.sets(st.sampled_from(USERS), min_size=1)] * len(ACCOUNTS)),
        support=st.tuples(*[st.sampled_from(USERS)] * len(ACCOUNTS)),
        capacity=st.tuples(*[st.sampled_from(SEED_CAPACITIES)] * len(ACCOUNTS)),
        presence=st.tuples(*[st.sampled_from(SEED_PRESENCE)] * len(ACCOUNTS)),
        reassign=st.tuples(*[st.sampled_from(SEED_REASSIGN)] * len(ACCOUNTS)),
        restricted=st.tuples(*[st.dictionaries(st.sampled_from(USERS), st.sampled_from(CHANNEL_SETS[1:5]))] * 2),
        arrivals=st.lists(st.tuples(accounts, st.sampled_from(list(Channel)), times, delays), max_size=6),
    )
    def seed_accounts(
        self,
        managers: tuple[Role, ...],
        roles: list[Role],
        online: tuple[set[str], ...],
        round_robin: tuple[bool, ...],
        hours: tuple[OfficeHours | None, ...],
        billing: tuple[set[str], ...],
        support: tuple[str, ...],
        capacity: tuple[tuple[int | None, bool], ...],
        presence: tuple[int | None, ...],
        reassign: tuple[tuple[bool, int, int | None, int], ...],
        restricted: tuple[dict[str, tuple[str, ...]], ...],
        arrivals: list[tuple[str, Channel, datetime, timedelta]],
    ) -> MultipleResults[str]:
        """Every user exists in both accounts (``max`` can manage), round robin mostly on, two teams of users
        who are not viewers (``max`` when none is left): ``billing`` of some, ``support`` of one (so that often
        no member is Online); often a small capacity, and then often auto-assign; a few tickets (the night's
        backlog: they wait, nobody is Online yet); then some users go Online (releasing the backlog, when
        auto-assign is on).

        Only a head start, through the same checked calls as the rules, which change all of it.
        """
        for index, account_id in enumerate(ACCOUNTS):
            for position, user_id in enumerate(USERS):
                role = managers[index] if user_id == "max" else roles[index * len(USERS) + position]
                self.upsert_user(account_id, user_id, role, NOW, 0)
            if round_robin[index]:
                self.set_round_robin(account_id, True, "max", NOW, 0)
            self.set_office_hours(account_id, hours[index], "max", NOW, 1)
            roles_now = self.harness.model.account(account_id).roles
            for team_id, members in (("billing", billing[index]), ("support", {support[index]})):
                fit = [user for user in sorted(members) if roles_now[user].can_be_online]
                self.set_team(account_id, team_id, fit or ["max"], "max", NOW, 0)
            cap, auto_assign = capacity[index]
            if cap is not None:
                self.set_capacity(account_id, cap, None, "max", NOW, 0)
                self.set_auto_assign(account_id, auto_assign, "max", NOW, 1)
            if presence[index] is not None:
                self.set_presence_timeout(account_id, presence[index], "max", NOW, 0)
            away, grace, after, max_times = reassign[index]
            self.set_reassign_away(account_id, away, grace, "max", NOW, 0)
            self.set_reassign_unanswered(account_id, after, max_times, "max", NOW, 1)
            for user_id, chosen in sorted(restricted[index].items()):  # a viewer is refused, and checked
                self.set_agent_channels(account_id, user_id, chosen, "max", NOW, 0)
        ticket_ids = [self.arrive(account_id, channel, at, delay, 0) for account_id, channel, at, delay in arrivals]
        for index, account_id in enumerate(ACCOUNTS):
            for position, user_id in enumerate(sorted(online[index])):  # a viewer is refused, and checked
                self.set_status(account_id, user_id, AgentStatus.ONLINE, user_id, NOW, position % 2)
        return multiple(*ticket_ids)

    # --- rules ---------------------------------------------------------------------------------

    @precondition(lambda self: self.broad)
    @rule(
        account_id=accounts,
        user_id=st.sampled_from(USERS),
        role=st.sampled_from(list(Role)),
        now=times,
        engine=engines,
    )
    def upsert_user(self, account_id: str, user_id: str, role: Role, now: datetime, engine: int) -> None:
        self.harness.call("upsert_user", account_id, user_id, role, now, engine=engine)

    @rule(
        account_id=accounts,
        user_id=st.sampled_from(ACTORS),
        status=st.sampled_from(list(AgentStatus)),
        now=times,
        engine=engines,
    )
    def set_own_status(self, account_id: str, user_id: str, status: AgentStatus, now: datetime, engine: int) -> None:
        self.set_status(account_id, user_id, status, user_id, now, engine)

    @precondition(lambda self: self.broad)
    @rule(
        account_id=accounts,
        user_id=st.sampled_from(ACTORS),
        status=st.sampled_from(list(AgentStatus)),
        actor_id=st.sampled_from(ACTORS),
        now=times,
        engine=engines,
    )
    def set_status(
        self, account_id: str, user_id: str, status: AgentStatus, actor_id: str, now: datetime, engine: int
    ) -> None:
        self.harness.call("set_status", account_id, user_id, status, actor_id, now, engine=engine)

    @rule(account_id=accounts, enabled=st.booleans(), actor_id=st.sampled_from(ACTORS), now=times, engine=engines)
    def set_round_robin(self, account_id: str, enabled: bool, actor_id: str, now: datetime, engine: int) -> None:
        self.harness.call("set_round_robin", account_id, enabled, actor_id, now, engine=engine)

    @precondition(lambda self: self.broad)
    @rule(
        account_id=accounts,
        hours=st.sampled_from(HOURS),
        actor_id=st.sampled_from(ACTORS),
        now=times,
        engine=engines,
    )
    def set_office_hours(
        self, account_id: str, hours: OfficeHours | None, actor_id: str, now: datetime, engine: int
    ) -> None:
        self.harness.call("set_office_hours", account_id, hours, actor_id, now, engine=engine)

    @rule(
        target=tickets,
        account_id=accounts,
        channel=st.sampled_from(list(Channel)),
        created_at=times,
        delay=delays,
        engine=engines,
    )
    def new_ticket(self, account_id: str, channel: Channel, created_at: datetime, delay: timedelta, engine: int) -> str:
        return self.arrive(account_id, channel, created_at, delay, engine)

    @rule(target=tickets, account_id=accounts, created_at=times, delay=delays, engine=engines)
    def new_webchat_ticket(self, account_id: str, created_at: datetime, delay: timedelta, engine: int) -> str:
        """Tickets arrive twice as often as other steps happen, and webchat ones (office hours: after-hours
        tickets and their openings, which start releases) more often than the others."""
        return self.arrive(account_id, Channel.WEBCHAT, created_at, delay, engine)

    def arrive(self, account_id: str, channel: Channel, created_at: datetime, delay: timedelta, engine: int) -> str:
        """A new ticket id, delivered once."""
        self.ticket_counter += 1
        ticket_id = f"t{self.ticket_counter}"
        self.deliver(account_id, ticket_id, channel, created_at, delay, engine)
        return ticket_id

    @precondition(lambda self: self.broad)
    @rule(
        ticket_id=tickets,
        account_id=accounts,
        channel=st.sampled_from(list(Channel)),
        created_at=times,
        delay=delays,
        engine=engines,
    )
    def redeliver_ticket(
        self, ticket_id: str, account_id: str, channel: Channel, created_at: datetime, delay: timedelta, engine: int
    ) -> None:
        """A repeat delivery (possibly another channel or time: the first decision stands), or the same
        ticket id arriving in the other account, where it is a new ticket."""
        self.deliver(account_id, ticket_id, channel, created_at, delay, engine)

    @precondition(lambda self: self.broad)
    @rule(
        account_id=accounts,
        team_id=st.sampled_from(TEAMS),
        members=st.lists(st.sampled_from(ACTORS), max_size=4),
        actor_id=st.sampled_from(("max", "max", *ACTORS)),
        now=times,
        engine=engines,
    )
    def set_team(
        self, account_id: str, team_id: str, members: list[str], actor_id: str, now: datetime, engine: int
    ) -> None:
        """Random members (repeats, viewers, ``ghost``, none at all) by a random actor, mostly ``max``."""
        self.harness.call("set_team", account_id, team_id, members, actor_id, now, engine=engine)

    @rule(
        account_id=accounts,
        team_id=st.sampled_from(BULK_TEAMS),
        actor_id=st.sampled_from(("max", *ACTORS)),
        unassigned=st.booleans(),
        now=times,
        batch_size=st.sampled_from(BATCH_SIZES),
        data=st.data(),
    )
    def bulk_assign(
        self,
        account_id: str,
        team_id: str,
        actor_id: str,
        unassigned: bool,
        now: datetime,
        batch_size: int,
        data: st.DataObject,
    ) -> None:
        """``--unassigned``, or earlier ticket ids (repeats, tickets of the other account) and sometimes one
        helpdesk-rr never saw."""
        if unassigned and not self.harness.model.unassigned(account_id):
            unassigned = data.draw(st.integers(0, 3)) == 0  # an empty set now and then, not half the time
        ticket_ids: list[str] | None = None
        if not unassigned:
            own = sorted(self.harness.model.account(account_id).decided)  # mostly the account's own tickets
            earlier = [f"t{n}" for n in range(1, self.ticket_counter + 1)]
            choices = [st.sampled_from(ids) for ids in (own, own, earlier) if ids]
            ticket_ids = data.draw(st.lists(st.one_of(choices), max_size=8)) if choices else []
            if not ticket_ids or data.draw(st.booleans()):
                ticket_ids.insert(data.draw(st.integers(0, len(ticket_ids))), "never-seen")
        self.harness.bulk_assign(account_id, team_id, actor_id, ticket_ids, now, batch_size)

    def some_ticket(self, account_id: str, data: st.DataObject, closed: bool) -> str:
        """Mostly one of the account's closed tickets (``closed``: also closes before their ticket) or of its open
        decided ones, else any earlier ticket id: in the other account, one it has not seen yet."""
        model = self.harness.model.account(account_id)
        own = sorted(model.closed) if closed else sorted(t for t in model.decided if t not in model.closed)
        earlier = [f"t{n}" for n in range(1, self.ticket_counter + 1)]
        return data.draw(st.one_of([st.sampled_from(ids) for ids in (own, own, own, earlier) if ids]))

    @precondition(lambda self: self.ticket_counter > 0)
    @rule(account_id=accounts, now=times, engine=engines, data=st.data())
    def close_ticket(self, account_id: str, now: datetime, engine: int, data: st.DataObject) -> None:
        """A close, mostly of an open ticket of the account (assigned or waiting); of a ticket the account has
        not seen yet, a close that comes first, which ``redeliver_ticket`` may then deliver there."""
        ticket_id = self.some_ticket(account_id, data, closed=False)
        self.harness.lifecycle("close_ticket", account_id, ticket_id, now, engine)

    @precondition(lambda self: any(model.assigned_open() for model in self.harness.model.accounts.values()))
    @rule(now=times, engine=engines, data=st.data())
    def close_assigned_ticket(self, now: datetime, engine: int, data: st.DataObject) -> None:
        """An agent closes one of their tickets: the most common way room appears under a capacity."""
        accounts = self.harness.model.accounts
        account_id = data.draw(st.sampled_from(sorted(a for a in accounts if accounts[a].assigned_open())))
        ticket_id = data.draw(st.sampled_from(accounts[account_id].assigned_open()))
        self.harness.lifecycle("close_ticket", account_id, ticket_id, now, engine)

    @precondition(lambda self: self.broad)
    @rule(target=tickets, account_id=accounts, now=times, engine=engines)
    def close_unseen_ticket(self, account_id: str, now: datetime, engine: int) -> str:
        """A close before its ticket: a new ticket id, delivered later (or reopened first) by the other rules."""
        self.ticket_counter += 1
        ticket_id = f"t{self.ticket_counter}"
        self.harness.lifecycle("close_ticket", account_id, ticket_id, now, engine)
        return ticket_id

    @precondition(lambda self: any(account.closed for account in self.harness.model.accounts.values()))
    @rule(account_id=accounts, now=times, engine=engines, data=st.data())
    def reopen_ticket(self, account_id: str, now: datetime, engine: int, data: st.DataObject) -> None:
        """A reopen, mostly of a closed ticket of the account; of an open or unseen one it changes nothing."""
        ticket_id = self.some_ticket(account_id, data, closed=True)
        self.harness.lifecycle("reopen_ticket", account_id, ticket_id, now, engine)

    @rule(
        account_id=accounts,
        capacity=st.sampled_from(CAPACITIES),
        agent_id=st.sampled_from((None, None, *ACTORS)),
        actor_id=st.sampled_from(("max", "max", *ACTORS)),
        now=times,
        engine=engines,
    )
    def set_capacity(
        self, account_id: str, capacity: int | None, agent_id: str | None, actor_id: str, now: datetime, engine: int
    ) -> None:
        """The account's capacity or an agent's override (viewers and ``ghost`` too), set or cleared, by a random
        actor, mostly ``max``."""
        self.harness.call("set_capacity", account_id, capacity, actor_id, now, agent_id, engine=engine)

    @rule(
        account_id=accounts,
        enabled=st.booleans(),
        actor_id=st.sampled_from(("max", "max", *ACTORS)),
        now=times,
        engine=engines,
    )
    def set_auto_assign(self, account_id: str, enabled: bool, actor_id: str, now: datetime, engine: int) -> None:
        self.harness.call("set_auto_assign", account_id, enabled, actor_id, now, engine=engine)

    @precondition(lambda self: self.harness.queued)
    @rule(account_id=accounts, now=times, engine=engines, data=st.data())
    def run_release(self, account_id: str, now: datetime, engine: int, data: st.DataObject) -> None:
        """A release job rung earlier (steps may have run since it was enqueued: releases lag behind, as in
        production), or now and then a release of ``account_id`` nobody rang (a retry, a second worker)."""
        queued = self.harness.queued
        job = data.draw(st.integers(0, len(queued) - 1)) if data.draw(st.integers(0, 3)) > 0 else None
        if job is not None:
            account_id = queued[job]
        if job is not None:
            del queued[job]
        self.harness.release(account_id, now, engine)

    @rule(now=times, data=st.data())
    def sweep(self, now: datetime, data: st.DataObject) -> None:
        """The workers' sweep (after-hours openings, and releases owed whose job is gone), mostly at or just after
        the opening of a ticket waiting after hours, else at any time."""
        openings = sorted(
            row.available_at
            for account in self.harness.model.accounts.values()
            for row in account.unassigned.values()
            if row.reason == "after_hours" and row.available_at is not None
        )
        if openings and data.draw(st.integers(0, 3)) > 0:
            now = data.draw(st.sampled_from(openings)) + data.draw(delays) / 60  # up to 3 minutes late
        self.harness.sweep(now)

    @precondition(lambda self: not self.reassign_focus)
    @rule(
        account_id=accounts,
        seconds=st.sampled_from(PRESENCE_TIMEOUTS),
        actor_id=st.sampled_from(("max", "max", *ACTORS)),
        now=times,
        engine=engines,
    )
    def set_presence_timeout(
        self, account_id: str, seconds: int | None, actor_id: str, now: datetime, engine: int
    ) -> None:
        """Set, change or clear the presence timeout (issue 16), by a random actor, mostly ``max``: every Online
        agent is filed from their last heartbeat, or taken out."""
        self.harness.call("set_presence_timeout", account_id, seconds, actor_id, now, engine=engine)

    @precondition(lambda self: not self.reassign_focus)
    @rule(account_id=accounts, user_id=st.sampled_from(ACTORS), now=times, engine=engines)
    def heartbeat(self, account_id: str, user_id: str, now: datetime, engine: int) -> None:
        """A heartbeat of anyone (Offline, a viewer, ``ghost``), at any time: it moves an Online agent's time, and
        sets nobody Online."""
        self.harness.call("heartbeat", account_id, user_id, now, engine=engine)

    @precondition(lambda self: not self.reassign_focus)
    @rule(now=times, engine=engines, data=st.data())
    def sweep_presence(self, now: datetime, engine: int, data: st.DataObject) -> None:
        """The workers' presence sweep, mostly just before, at or just after an Online agent's time, else at any
        time (with time running back and forth, as the rules' ``now`` do)."""
        due = sorted(set(self.harness.model.presence_due().values()))
        if due and data.draw(st.integers(0, 3)) > 0:
            now = from_ms(data.draw(st.sampled_from(due))) + data.draw(st.sampled_from(PRESENCE_OFFSETS))
        self.harness.sweep_presence(now, engine)

    @precondition(lambda self: not self.reassign_focus)
    @rule(account_id=accounts, user_id=st.sampled_from(USERS), now=times, engine=engines, data=st.data())
    def expire_stale_entry(
        self, account_id: str, user_id: str, now: datetime, engine: int, data: st.DataObject
    ) -> None:
        """A sweep's step for an entry it read before the agent's time moved (a heartbeat, going Offline, a new
        timeout came between its read and its call): mostly for an Online agent around their time now, so that
        they are often *not* due yet and must stay Online; else for anyone at any time."""
        due = self.harness.model.presence_due()
        if due and data.draw(st.integers(0, 3)) > 0:
            member = data.draw(st.sampled_from(sorted(due)))
            account_id, _, user_id = member.partition(" ")
            now = from_ms(due[member] + data.draw(st.sampled_from((-3_600_000, -1, -1, 0, 1))))
        self.harness.expire(account_id, user_id, now, engine)

    @precondition(lambda self: self.presence_focus)
    @rule(engine=engines, data=st.data())
    def heartbeat_before_due(self, engine: int, data: st.DataObject) -> None:
        """An Online agent's heartbeat shortly before their time: a sweep at the old time must keep them."""
        due = self.harness.model.presence_due()
        if not due:
            return
        member = data.draw(st.sampled_from(sorted(due)))
        account_id, _, user_id = member.partition(" ")
        self.harness.call("heartbeat", account_id, user_id, from_ms(due[member] - 1000), engine=engine)

    @precondition(lambda self: self.presence_focus)
    @rule(account_id=accounts, user_id=st.sampled_from(USERS), now=times, engine=engines, data=st.data())
    def expire_stale_entry_again(
        self, account_id: str, user_id: str, now: datetime, engine: int, data: st.DataObject
    ) -> None:
        """One more stale entry (``PresenceMachine`` weighs the presence rules up)."""
        self.expire_stale_entry(account_id, user_id, now, engine, data)

    @precondition(lambda self: self.presence_focus)
    @rule(now=times, engine=engines, data=st.data())
    def sweep_presence_again(self, now: datetime, engine: int, data: st.DataObject) -> None:
        """One more presence sweep (``PresenceMachine`` weighs the presence rules up)."""
        self.sweep_presence(now, engine, data)

    # --- issue 16, parts 2-4: reassignment and per-channel pools ---------------------------------------

    @rule(
        account_id=accounts,
        agent_id=st.sampled_from(ACTORS),
        chosen=st.sampled_from(CHANNEL_SETS),
        actor_id=st.sampled_from(("max", "max", *ACTORS)),
        now=times,
        engine=engines,
    )
    def set_agent_channels(
        self, account_id: str, agent_id: str, chosen: tuple[str, ...] | None, actor_id: str, now: datetime, engine: int
    ) -> None:
        """Restrict anyone (viewers and ``ghost`` too) to some channels, or to every channel again, by a random
        actor, mostly ``max``: the first restriction builds the pools, the last clearing drops them."""
        self.harness.call("set_agent_channels", account_id, agent_id, chosen, actor_id, now, engine=engine)

    @rule(
        account_id=accounts,
        enabled=st.booleans(),
        grace=st.sampled_from(GRACES),
        actor_id=st.sampled_from(("max", "max", *ACTORS)),
        now=times,
        engine=engines,
    )
    def set_reassign_away(
        self, account_id: str, enabled: bool, grace: int, actor_id: str, now: datetime, engine: int
    ) -> None:
        self.harness.call("set_reassign_away", account_id, enabled, grace, actor_id, now, engine=engine)

    @rule(
        account_id=accounts,
        after=st.sampled_from(AFTERS),
        max_times=st.sampled_from(MAX_TIMES),
        actor_id=st.sampled_from(("max", "max", *ACTORS)),
        now=times,
        engine=engines,
    )
    def set_reassign_unanswered(
        self, account_id: str, after: int | None, max_times: int, actor_id: str, now: datetime, engine: int
    ) -> None:
        self.harness.call("set_reassign_unanswered", account_id, after, max_times, actor_id, now, engine=engine)

    def away_ticket(self, data: st.DataObject) -> tuple[str, str, datetime] | None:
        """Mostly an open assigned ticket whose assignee is Offline, with the time they count as away from
        (Offline since + grace; never Online: since ever), else any decided ticket at any time."""
        candidates = []
        models = sorted(self.harness.model.accounts.items())
        if data.draw(st.integers(0, 3)) > 0:  # mostly where the reply may move the ticket
            models = [(a, account) for a, account in models if account.reassign.away and account.round_robin]
        for account_id, account in models:
            for ticket_id in account.assigned_open():
                agent = account.assignee(ticket_id)
                if agent is not None and agent not in account.online:
                    since = account.reassign.offline_since.get(agent, epoch_ms(NOW))
                    candidates.append((account_id, ticket_id, from_ms(since + account.reassign.grace * 1000)))
        if candidates and data.draw(st.integers(0, 3)) > 0:
            return data.draw(st.sampled_from(candidates))
        models = sorted(self.harness.model.accounts.items())
        decided = [(account_id, ticket) for account_id, account in models for ticket in sorted(account.decided)]
        if not decided:
            return None
        account_id, ticket_id = data.draw(st.sampled_from(decided))
        return account_id, ticket_id, data.draw(times)

    @precondition(lambda self: self.ticket_counter > 0)
    @rule(engine=engines, delay=delays, data=st.data())
    def customer_reply(self, engine: int, delay: timedelta, data: st.DataObject) -> None:
        """A customer reply just before, at or after the time the assignee counts as away, processed a little
        later (a reply written before they left keeps the ticket with them); now and then one never seen."""
        picked = self.away_ticket(data)
        if picked is None or data.draw(st.integers(0, 9)) == 0:
            account_id, ticket_id, at = data.draw(accounts), "never-seen", NOW
        else:
            account_id, ticket_id, at = picked
            at += data.draw(st.sampled_from(REPLY_OFFSETS))
        self.harness.customer_reply(account_id, ticket_id, at, at + delay, engine)

    @precondition(lambda self: any(model.closed for model in self.harness.model.accounts.values()))
    @rule(engine=engines, data=st.data())
    def reopen_away(self, engine: int, data: st.DataObject) -> None:
        """A reopen of a closed assigned ticket around the time its (Offline) assignee counts as away: a reopen
        counts as a customer reply."""
        closed = [
            (account_id, ticket_id)
            for account_id, account in sorted(self.harness.model.accounts.items())
            for ticket_id in sorted(account.closed)
            if account.assignee(ticket_id) is not None
        ]
        if not closed:
            return
        account_id, ticket_id = data.draw(st.sampled_from(closed))
        account = self.harness.model.account(account_id)
        agent = account.assignee(ticket_id)
        assert agent is not None
        since = account.reassign.offline_since.get(agent, epoch_ms(NOW)) + account.reassign.grace * 1000
        now = from_ms(since) + data.draw(st.sampled_from(REPLY_OFFSETS))
        self.harness.lifecycle("reopen_ticket", account_id, ticket_id, now, engine)

    @precondition(lambda self: any(model.assigned_open() for model in self.harness.model.accounts.values()))
    @rule(engine=engines, delay=delays, data=st.data())
    def first_reply(self, engine: int, delay: timedelta, data: st.DataObject) -> None:
        """An agent's first reply on an open assigned ticket (mostly by its assignee): it cancels the timer."""
        accounts_ = self.harness.model.accounts
        account_id = data.draw(st.sampled_from(sorted(a for a in accounts_ if accounts_[a].assigned_open())))
        ticket_id = data.draw(st.sampled_from(accounts_[account_id].assigned_open()))
        stored = accounts_[account_id].decided[ticket_id]
        agent = data.draw(st.sampled_from((stored.agent_id or "max", stored.agent_id or "max", *USERS)))
        self.harness.first_reply(account_id, ticket_id, agent, stored.created_at + delay, engine)

    @rule(now=times, engine=engines, data=st.data())
    def sweep_unanswered(self, now: datetime, engine: int, data: st.DataObject) -> None:
        """The workers' sweep of no-first-reply timers, mostly just before, at or just after a timer's time."""
        due = sorted(set(self.harness.model.unanswered_due().values()))
        if due and data.draw(st.integers(0, 3)) > 0:
            now = from_ms(data.draw(st.sampled_from(due))) + data.draw(st.sampled_from(PRESENCE_OFFSETS))
        self.harness.sweep_unanswered(now, engine)

    @precondition(lambda self: self.ticket_counter > 0)
    @rule(engine=engines, data=st.data())
    def expire_unanswered_entry(self, engine: int, data: st.DataObject) -> None:
        """A sweep's step for an entry it read before the ticket moved (a reply, a close, a reassignment came
        between): mostly a filed timer around its time, else any decided ticket at any time."""
        due = self.harness.model.unanswered_due()
        if due and data.draw(st.integers(0, 3)) > 0:
            member = data.draw(st.sampled_from(sorted(due)))
            account_id, _, ticket_id = member.partition(" ")
            now = from_ms(due[member] + data.draw(st.sampled_from((-60_000, -1, 0, 1, 3_600_000))))
        else:
            picked = self.away_ticket(data)
            if picked is None:
                return
            account_id, ticket_id, now = picked
        self.harness.expire_unanswered(account_id, ticket_id, now, engine)

    @precondition(lambda self: self.reassign_focus)
    @rule(now=times, engine=engines, data=st.data())
    def assignee_goes_offline(self, now: datetime, engine: int, data: st.DataObject) -> None:
        """An Online agent with open tickets leaves (so that the next customer reply finds them away), or an
        Offline agent comes back (``ReassignMachine``)."""
        model = self.harness.model
        leaving = [
            (account_id, agent)
            for account_id, account in sorted(model.accounts.items())
            for agent in sorted(account.online)
            if any(account.assignee(t) == agent for t in account.assigned_open())
        ]
        back = [
            (account_id, user)
            for account_id, account in sorted(model.accounts.items())
            for user, role in sorted(account.roles.items())
            if role.can_be_online and user not in account.online
        ]
        choices = [st.sampled_from(pairs) for pairs in (leaving, leaving, back) if pairs]
        if not choices:
            return
        account_id, user_id = data.draw(st.one_of(choices))
        status = AgentStatus.OFFLINE if user_id in model.account(account_id).online else AgentStatus.ONLINE
        self.harness.call("set_status", account_id, user_id, status, user_id, now, engine=engine)

    @precondition(lambda self: self.reassign_focus)
    @rule(account_id=accounts, agents=st.sets(st.sampled_from(USERS), min_size=2), now=times)
    def steady_day(self, account_id: str, agents: set[str], now: datetime) -> None:
        """``max`` turns round robin on and office hours off, and some agents come Online (``ReassignMachine``:
        so that tickets get assigned, and then reassigned)."""
        self.harness.call("set_round_robin", account_id, True, "max", now)
        self.harness.call("set_office_hours", account_id, None, "max", now)
        roles = self.harness.model.account(account_id).roles
        for user_id in sorted(agents):
            if roles[user_id].can_be_online:
                self.harness.call("set_status", account_id, user_id, AgentStatus.ONLINE, user_id, now)

    @precondition(lambda self: self.reassign_focus)
    @rule(
        account_id=accounts,
        grace=st.sampled_from(GRACES[:-1]),
        after=st.sampled_from(AFTERS[:-1]),
        max_times=st.sampled_from(MAX_TIMES),
        now=times,
    )
    def reassign_on(self, account_id: str, grace: int, after: int | None, max_times: int, now: datetime) -> None:
        """``max`` turns reassign-away on (with a grace) and sets reassign-unanswered (``ReassignMachine``)."""
        self.harness.call("set_reassign_away", account_id, True, grace, "max", now)
        self.harness.call("set_reassign_unanswered", account_id, after, max_times, "max", now)

    @precondition(lambda self: self.reassign_focus)
    @rule(target=tickets, account_id=accounts, created_at=times, delay=delays, engine=engines)
    def new_email_ticket(self, account_id: str, created_at: datetime, delay: timedelta, engine: int) -> str:
        """More tickets, of a channel agents are often restricted to (``ReassignMachine``)."""
        return self.arrive(account_id, Channel.EMAIL, created_at, delay, engine)

    @precondition(lambda self: self.reassign_focus)
    @rule(engine=engines, delay=delays, data=st.data())
    def customer_reply_again(self, engine: int, delay: timedelta, data: st.DataObject) -> None:
        """One more customer reply (``ReassignMachine`` weighs reassignment up)."""
        self.customer_reply(engine, delay, data)

    @precondition(lambda self: self.reassign_focus)
    @rule(now=times, engine=engines, data=st.data())
    def sweep_unanswered_again(self, now: datetime, engine: int, data: st.DataObject) -> None:
        """One more unanswered sweep (``ReassignMachine`` weighs reassignment up)."""
        self.sweep_unanswered(now, engine, data)

    @precondition(lambda self: self.reassign_focus)
    @rule(
        account_id=accounts,
        agent_id=st.sampled_from(USERS),
        chosen=st.sampled_from(CHANNEL_SETS),
        now=times,
        engine=engines,
    )
    def set_agent_channels_again(
        self, account_id: str, agent_id: str, chosen: tuple[str, ...] | None, now: datetime, engine: int
    ) -> None:
        """One more restriction, by ``max`` (``ReassignMachine`` weighs pools up)."""
        self.set_agent_channels(account_id, agent_id, chosen, "max", now, engine)

    def deliver(
        self, account_id: str, ticket_id: str, channel: Channel, created_at: datetime, delay: timedelta, engine: int
    ) -> None:
        now = created_at + delay
        self.harness.decide(ticket_created(account_id, ticket_id, channel, created_at, now), now, engine)

    @invariant()
    def views_agree(self) -> None:
        """The views of the accounts the step acted on agree with the model, and issue 15's invariants hold."""
        self.harness.check_views(touched_only=True)


class FakeRedisMachine(ModelMachine):
    def make_client(self) -> redis.Redis:
        return fakeredis.FakeRedis(server=fakeredis.FakeServer())


MACHINE_SETTINGS = settings(
    max_examples=30,  # 60 before teams and bulk jobs (a job runs an RQ worker); 30 keeps the suite within 5 min
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_engine_matches_model_on_fakeredis() -> None:
    run_state_machine_as_test(FakeRedisMachine, settings=MACHINE_SETTINGS)


def real_redis_machine(machine: type[ModelMachine], redis_url: str) -> type[ModelMachine]:
    class RealRedisMachine(machine):  # type: ignore[valid-type, misc]  # a class made at run time
        def make_client(self) -> redis.Redis:
            client = redis.Redis.from_url(redis_url)
            client.flushdb()
            return client

    return RealRedisMachine


def test_engine_matches_model_on_real_redis(redis_url: str) -> None:
    try:
        run_state_machine_as_test(real_redis_machine(ModelMachine, redis_url), settings=MACHINE_SETTINGS)
    finally:
        cleanup = redis.Redis.from_url(redis_url)
        cleanup.flushdb()
        cleanup.close()


class WaitingQueueMachine(ModelMachine):
    """The machine narrowed to capacity and the waiting queue (``broad`` off): the same harness, checks and
    invariants, with most steps spent on tickets, closes and reopens, statuses, capacities, auto-assign,
    bulk jobs, releases and sweeps."""

    broad = False


WAITING_QUEUE_SETTINGS = settings(MACHINE_SETTINGS, max_examples=15)


class PresenceMachine(ModelMachine):
    """The narrow machine with the presence timeout (issue 16, part 1) weighed up: heartbeats just before an
    agent's time, more sweeps, and sweeps' stale entries, among tickets, statuses, capacities and releases."""

    broad = False
    presence_focus = True


REASSIGN_SETTINGS = settings(MACHINE_SETTINGS, max_examples=25, stateful_step_count=80)
"""Longer runs: a reassignment needs an assignment, its assignee leaving and a reply (or a timer) first."""


class ReassignMachine(ModelMachine):
    """The narrow machine with reassignment (away, unanswered) and per-channel pools (issue 16, parts 2-4) weighed
    up: more customer replies, unanswered sweeps and restrictions, among tickets, statuses, capacities and
    releases."""

    broad = False
    reassign_focus = True


def test_reassignment_and_pools_match_model_on_real_redis(redis_url: str) -> None:
    """On a real Redis only, for the suite's time: the broad machine covers fakeredis."""
    try:
        run_state_machine_as_test(real_redis_machine(ReassignMachine, redis_url), settings=REASSIGN_SETTINGS)
    finally:
        cleanup = redis.Redis.from_url(redis_url)
        cleanup.flushdb()
        cleanup.close()


def test_presence_timeout_matches_model_on_real_redis(redis_url: str) -> None:
    """On a real Redis only, for the suite's time: the broad machine covers fakeredis."""
    try:
        run_state_machine_as_test(real_redis_machine(PresenceMachine, redis_url), settings=WAITING_QUEUE_SETTINGS)
    finally:
        cleanup = redis.Redis.from_url(redis_url)
        cleanup.flushdb()
        cleanup.close()


def test_waiting_queue_matches_model_on_real_redis(redis_url: str) -> None:
    """On a real Redis only, for the suite's time: the broad machine covers fakeredis."""
    try:
        run_state_machine_as_test(real_redis_machine(WaitingQueueMachine, redis_url), settings=WAITING_QUEUE_SETTINGS)
    finally:
        cleanup = redis.Redis.from_url(redis_url)
        cleanup.flushdb()
        cleanup.close()


# --- the burst intake's batch path (issue 18) -----------------------------------------------------
# ``BatchMachine`` is the machine with one more rule, ``ticket_batch``, that decides several tickets in one
# ``decide_batch`` call (``worker.core.decide_many.decide_many``, the drain's step) and checks them against the
# model deciding the same tickets one after another: the same outcomes in order, the same events in each
# account's stream, the same releases rung, and every view and invariant checked after a step. A batch mixes
# the two accounts (they share a partition, as a lane's batch does), new tickets, redeliveries of earlier
# ones, one ticket twice in one batch, and tickets of an account nobody set up (``tyrell``, same partition),
# which the batch refuses alone (``Refusal``) while it decides the others. On fakeredis and a real Redis
# (``HELPDESK_RR_MODEL_BATCH_EXAMPLES`` examples each, default 30).

NOBODY = "tyrell"
"""An account nobody sets up, in the machine's accounts' partition: its tickets are refused in the batch."""
BATCH_SETTINGS = settings(MACHINE_SETTINGS, max_examples=int(os.environ.get("HELPDESK_RR_MODEL_BATCH_EXAMPLES", "30")))

BatchRefusal = tuple[str, str]
"""A refusal in a batch as both sides are compared: ("refused", the error class)."""


def engine_outcome(result: Decision | Refusal) -> Outcome | BatchRefusal:
    if isinstance(result, Refusal):
        return ("refused", result.reason.split(":", 1)[0])
    return decision_outcome(result)


class BatchMachine(ModelMachine):
    """``ModelMachine`` with ``ticket_batch``; subclasses supply ``make_client``."""

    def __init__(self) -> None:
        super().__init__()
        self.in_batch = False
        self.per_step_check = self.harness.check_waiting_queue
        self.harness.check_waiting_queue = self.check_waiting_queue  # type: ignore[method-assign]

    def check_waiting_queue(self, account_id: str, state: QueueState) -> None:
        """After a batch, only capacity: issue 15's order checks (tests/support/waiting_queue.py ``check_step``)
        take a step to be one arrival or one release, so a batch where a newer ticket arrives, and is assigned,
        before an older one would fail them though each ticket was decided as it would be alone; that the batch
        decides each ticket as the model does one at a time (where ``check_step`` holds) is checked exactly."""
        if not self.in_batch:
            self.per_step_check(account_id, state)
            return
        for assigned in automatic_assignments(self.harness.step_events.get(account_id, [])):
            cap = state.capacity_of(assigned["agent_id"])
            assert cap is None or state.loads[assigned["agent_id"]] <= cap, f"{assigned['ticket_id']} above {cap}"

    @invariant()
    def views_agree(self) -> None:
        try:
            super().views_agree()
        finally:
            self.in_batch = False

    @rule(
        picks=st.lists(
            st.tuples(st.sampled_from((*ACCOUNTS, *ACCOUNTS, NOBODY)), st.sampled_from(list(Channel)), times),
            min_size=2,
            max_size=6,
        ),
        repeats=st.lists(st.integers(0, 10**6), max_size=3),
        delay=delays,
        engine=engines,
    )
    def ticket_batch(
        self, picks: list[tuple[str, Channel, datetime]], repeats: list[int], delay: timedelta, engine: int
    ) -> None:
        """New tickets (ids continue the machine's), and redeliveries of earlier ones (possibly decided in this
        very batch), decided in one call at one ``now`` (after every ticket's creation)."""
        chosen: list[tuple[str, str, Channel, datetime]] = []
        for account_id, channel, created_at in picks:
            self.ticket_counter += 1
            chosen.append((account_id, f"t{self.ticket_counter}", channel, created_at))
        for repeat in repeats:  # an earlier ticket (or one of this batch) delivered again, maybe elsewhere
            account_id, _, channel, created_at = chosen[repeat % len(chosen)]
            ticket_id = f"t{repeat % self.ticket_counter + 1}"
            chosen.insert(repeat % (len(chosen) + 1), (account_id, ticket_id, channel, created_at))
        self.decide_batch(chosen, max(at for *_, at in chosen) + delay, engine)

    @rule(
        picks=st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(list(Channel)), times), min_size=3),
        delay=delays,
        engine=engines,
    )
    def another_ticket_batch(self, picks: list[tuple[str, Channel, datetime]], delay: timedelta, engine: int) -> None:
        """New tickets of the machine's accounts only (batches come twice as often as another step)."""
        self.ticket_batch(picks[:8], [], delay, engine)

    @precondition(lambda self: self.ticket_counter > 0)
    @rule(engine=engines, delay=delays, data=st.data())
    def redeliver_as_batch(self, engine: int, delay: timedelta, data: st.DataObject) -> None:
        """Earlier tickets only, again through the batch: duplicates, nothing emitted."""
        ids = data.draw(st.lists(st.integers(1, self.ticket_counter), min_size=2, max_size=5))
        account_id = data.draw(st.sampled_from(ACCOUNTS))
        chosen = [(account_id, f"t{n}", Channel.EMAIL, data.draw(times)) for n in ids]
        self.decide_batch(chosen, max(at for *_, at in chosen) + delay, engine)

    def decide_batch(self, chosen: list[tuple[str, str, Channel, datetime]], now: datetime, engine: int) -> None:
        assert {partition_of(account_id) for account_id, *_ in chosen} == {partition_of(ACCOUNTS[0])}
        tickets = [
            ticket_created(account_id, ticket_id, channel, at, now) for account_id, ticket_id, channel, at in chosen
        ]
        harness = self.harness
        harness.touched.update(ACCOUNTS)
        self.in_batch = True

        def model_call() -> tuple[list[Outcome | BatchRefusal], dict[str, list[ModelEvent]]]:
            outcomes: list[Outcome | BatchRefusal] = []
            events: dict[str, list[ModelEvent]] = {}
            for ticket in tickets:
                known = ticket.account_id in harness.model.accounts
                try:
                    outcome, emitted = harness.model.decide(ticket, now)
                except HelpdeskError as refusal:
                    if not known:  # the model made an empty account on the way: nobody set it up
                        harness.model.accounts.pop(ticket.account_id, None)
                    outcomes.append(("refused", type(refusal).__name__))
                    continue
                outcomes.append(outcome)
                events.setdefault(ticket.account_id, []).extend(emitted)
            return outcomes, events

        def engine_call() -> list[Any]:
            arrivals = [Arrival(ticket) for ticket in tickets]
            return [engine_outcome(result) for result in decide_many(harness.engines[engine], arrivals, now)]

        outcomes = harness.check(ACCOUNTS[0], engine_call, model_call)
        for outcome in outcomes:
            harness.note(f"batch ticket: {outcome[0]}")


class FakeRedisBatchMachine(BatchMachine):
    def make_client(self) -> redis.Redis:
        return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def test_batch_decisions_match_model_on_fakeredis() -> None:
    run_state_machine_as_test(FakeRedisBatchMachine, settings=BATCH_SETTINGS)


def test_batch_decisions_match_model_on_real_redis(redis_url: str) -> None:
    try:
        run_state_machine_as_test(real_redis_machine(BatchMachine, redis_url), settings=BATCH_SETTINGS)
    finally:
        cleanup = redis.Redis.from_url(redis_url)
        cleanup.flushdb()
        cleanup.close()


# --- regular tests: behaviours the machine relies on, and failures it found ---------------------------
# (A failing example the machine finds goes here as a plain test named for the behaviour, marked
# xfail(strict=True) while the bug is open: see the end of the module.)


@pytest.fixture
def harness(client: redis.Redis) -> EngineHarness:
    return EngineHarness(client)


def test_refused_actions_raise_the_same_error_and_change_nothing(harness: EngineHarness) -> None:
    h = harness
    h.call("upsert_user", "acme", "ana", Role.AGENT, NOW)
    h.call("upsert_user", "acme", "vic", Role.VIEWER, NOW)
    for name, args, error in [
        ("set_round_robin", (True, "ana", NOW), Forbidden),  # an agent may not change settings
        ("set_office_hours", (HOURS[1], "vic", NOW), Forbidden),
        ("set_status", ("vic", AgentStatus.ONLINE, "vic", NOW), Forbidden),  # a viewer never goes Online
        ("set_status", ("vic", AgentStatus.OFFLINE, "ana", NOW), Forbidden),  # an agent sets only their own
        ("set_status", ("ana", AgentStatus.ONLINE, "ghost", NOW), UnknownUser),
        ("set_status", ("ghost", AgentStatus.ONLINE, "ana", NOW), UnknownUser),
        ("set_round_robin", (True, "ghost", NOW), UnknownUser),
        ("set_office_hours", (None, "ghost", NOW), UnknownUser),
    ]:
        with pytest.raises(error):
            getattr(h.model, name)("acme", *args)
        h.call(name, "acme", *args)
        h.check_views()


def test_demotion_to_viewer_takes_an_online_user_offline_and_keeps_their_place(harness: EngineHarness) -> None:
    h = harness
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    h.call("set_round_robin", "acme", True, "max", NOW)
    for agent in ("ana", "ben"):
        h.call("upsert_user", "acme", agent, Role.AGENT, NOW)
        h.call("set_status", "acme", agent, AgentStatus.ONLINE, agent, NOW)
    h.call("upsert_user", "acme", "ana", Role.VIEWER, NOW)  # agent.status_changed with actor_id None
    assert h.queries.online_in_rotation_order("acme") == ["ben"]
    h.call("upsert_user", "acme", "ana", Role.AGENT, NOW)
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "max", NOW)
    assert h.decide(ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"  # kept her place
    h.check_views()


def test_redelivery_on_another_channel_returns_the_first_decision_and_emits_nothing(harness: EngineHarness) -> None:
    h = harness
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    h.call("set_round_robin", "acme", True, "max", NOW)
    h.call("set_office_hours", "acme", HOURS[1], "max", NOW)
    saturday = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    first = h.decide(ticket_created("acme", "t1", Channel.WEBCHAT, saturday, saturday), saturday)
    assert not first.duplicate
    assert (first.reason, first.available_at) == ("after_hours", datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    h.call("set_status", "acme", "max", AgentStatus.ONLINE, "max", NOW)
    later = saturday + timedelta(days=3)
    again = h.decide(ticket_created("acme", "t1", Channel.EMAIL, later, later), later)
    assert again == first._replace(duplicate=True)
    h.call("upsert_user", "hooli", "hal", Role.MANAGER, NOW)
    other_account = h.decide(ticket_created("hooli", "t1", Channel.EMAIL, later, later), later)
    assert other_account.reason == "round_robin_off"  # the same ticket id elsewhere is another ticket
    h.check_views()


def test_stale_office_hours_in_a_second_worker_are_reloaded(harness: EngineHarness) -> None:
    """Worker 1 cached "always open"; worker 0 then sets hours: worker 1's next webchat decision uses them."""
    h = harness
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    h.call("set_round_robin", "acme", True, "max", NOW)
    h.call("set_status", "acme", "max", AgentStatus.ONLINE, "max", NOW)
    saturday = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    thursday = saturday - timedelta(days=2)
    assert h.decide(ticket_created("acme", "t1", Channel.WEBCHAT, thursday, saturday), saturday, engine=1).agent_id
    h.call("set_office_hours", "acme", HOURS[1], "max", NOW, engine=0)
    second = h.decide(ticket_created("acme", "t2", Channel.WEBCHAT, saturday, saturday), saturday, engine=1)
    assert second.reason == "after_hours"
    h.check_views()


def test_team_checks_run_in_order_and_the_same_members_again_change_nothing(harness: EngineHarness) -> None:
    h = harness
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    h.call("upsert_user", "acme", "ana", Role.AGENT, NOW)
    h.call("upsert_user", "acme", "vic", Role.VIEWER, NOW)
    for members, actor_id, error in [
        ([], "ghost", InvalidInput),  # an empty team is refused before the actor is even looked at
        (["ana"], "ghost", UnknownUser),
        (["ana"], "ana", Forbidden),  # an agent may not define teams
        (["vic", "ghost"], "max", UnknownUser),  # members are checked in sorted order: ghost first
        (["ana", "vic"], "max", Forbidden),  # a viewer cannot be on a team
    ]:
        with pytest.raises(error):
            h.model.set_team("acme", "billing", members, actor_id, NOW)
        h.call("set_team", "acme", "billing", members, actor_id, NOW)
    assert h.call("set_team", "acme", "billing", ["max", "ana", "ana"], "max", NOW) is True
    assert h.call("set_team", "acme", "billing", ["ana", "max"], "max", NOW) is False  # no event
    h.check_views()


def test_bulk_unassigned_takes_the_oldest_first_and_equal_times_in_ticket_id_order(harness: EngineHarness) -> None:
    """The unassigned set is a sorted set scored by arrival (ms): ZRANGE breaks ties by member bytes."""
    h = harness
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    h.call("set_team", "acme", "billing", ["max"], "max", NOW)
    later = NOW + timedelta(minutes=10)
    for ticket_id, minutes in [("t9", 0), ("t10", 0), ("t2", -1), ("a", 1), ("T9", 0)]:  # round robin is off
        h.decide(ticket_created("acme", ticket_id, Channel.EMAIL, NOW + timedelta(minutes=minutes), later), later)
    h.call("set_status", "acme", "max", AgentStatus.ONLINE, "max", NOW)
    result = h.bulk_assign("acme", "billing", "max", None, later, batch_size=2)
    assert (result["tickets"], result["assigned"], result["toasts"]) == (5, 5, 1)
    _, toast = h.queries.events("acme")[-1]
    assert toast.ticket_ids == ["t2", "T9", "t10", "t9", "a"]  # type: ignore[union-attr]
    assert toast.text == "5 tickets from team billing"  # type: ignore[union-attr]
    h.check_views()


def test_bulk_reassigns_and_unassigns_without_taking_counts_back(harness: EngineHarness) -> None:
    """A ticket keeps counting for every agent it was ever assigned to; a redelivery reports it as it is now."""
    h = harness
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    for agent in ("ana", "ben"):
        h.call("upsert_user", "acme", agent, Role.AGENT, NOW)
    h.call("set_round_robin", "acme", True, "max", NOW)
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    h.call("set_team", "acme", "billing", ["ben"], "max", NOW)
    ticket = ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW)
    assert h.decide(ticket, NOW).agent_id == "ana"
    result = h.bulk_assign("acme", "billing", "ana", ["t1", "t1"], NOW)  # ben is Offline
    assert (result["tickets"], result["unassigned"], result["no_team_member_online"]) == (1, 1, True)
    assert agent_counts(h.queries.client, "acme") == {"ana": 1}
    assert h.decide(ticket, NOW).reason == "no_team_member_online"
    h.call("set_status", "acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    result = h.bulk_assign("acme", "billing", "ben", ["never-seen", "t1"], NOW)
    assert (result["assigned"], result["unknown"], result["toasts"]) == (1, 1, 1)
    h.bulk_assign("acme", "billing", "ben", ["t1"], NOW)  # to ben again: previous_agent_id ben
    assert agent_counts(h.queries.client, "acme") == {"ana": 1, "ben": 2}
    again = h.decide(ticket, NOW)
    assert (again.agent_id, again.reason, again.duplicate) == ("ben", "round_robin", True)  # Decision's only reason
    h.check_views()


@given(
    online=st.permutations(USERS).flatmap(lambda users: st.integers(1, len(users)).map(lambda n: users[:n])),
    earlier=st.integers(0, 6),
    tickets=st.integers(0, 12),
    batch_size=st.integers(1, 5),
)
@settings(max_examples=100, deadline=None)
def test_model_batches_make_no_difference(online: list[str], earlier: int, tickets: int, batch_size: int) -> None:
    """The model runs a bulk job batch by batch, taking the rotation afresh per batch, as the job does; that
    must be the same as one cycle over the whole job (every assignment moves its agent behind everyone)."""
    model = Model()
    model.upsert_user("acme", "boss", Role.MANAGER, NOW)
    model.set_round_robin("acme", True, "boss", NOW)
    for user in online:
        model.upsert_user("acme", user, Role.AGENT, NOW)
        model.set_status("acme", user, AgentStatus.ONLINE, user, NOW)
    model.set_team("acme", "billing", online, "boss", NOW)
    for n in range(earlier):  # inbound tickets shuffle the rotation
        model.decide(ticket_created("acme", f"e{n}", Channel.EMAIL, NOW, NOW), NOW)
    model.set_round_robin("acme", False, "boss", NOW)
    for n in range(tickets):
        model.decide(ticket_created("acme", f"b{n}", Channel.EMAIL, NOW, NOW), NOW)
    one_cycle = copy.deepcopy(model)
    assert model.bulk_assign("acme", "billing", "boss", None, NOW, batch_size) == one_cycle.bulk_assign(
        "acme", "billing", "boss", None, NOW, batch_size=10**6
    )
    assert model.accounts == one_cycle.accounts


def test_close_and_reopen_move_load_and_a_close_that_came_first_is_kept_or_forgotten(harness: EngineHarness) -> None:
    """Every lifecycle path the machine takes at random, once for certain: an assigned ticket closed and
    reopened (load), a waiting one closed and reopened (the unassigned set), a close before its ticket (the
    ticket arrives closed; reopened, it waits as ``reopened``), and a reopen that forgets a close that came
    first; a bulk job skips a closed ticket, also one never seen, and moves load."""
    h = harness
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    for agent in ("ana", "ben"):
        h.call("upsert_user", "acme", agent, Role.AGENT, NOW)
    h.call("set_round_robin", "acme", True, "max", NOW)
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    h.call("set_team", "acme", "billing", ["ben"], "max", NOW)
    for ticket_id in ("a1", "a2"):
        assert h.decide(ticket_created("acme", ticket_id, Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    assert h.lifecycle("close_ticket", "acme", "a1", NOW) and not h.lifecycle("close_ticket", "acme", "a1", NOW)
    assert [(u.user_id, u.load) for u in h.queries.users("acme")] == [("ana", 1), ("ben", 0), ("max", 0)]
    assert h.lifecycle("reopen_ticket", "acme", "a1", NOW) and not h.lifecycle("reopen_ticket", "acme", "a1", NOW)
    h.check_views()
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    h.decide(ticket_created("acme", "w1", Channel.SMS, NOW, NOW), NOW)  # waits: no_agent_online
    h.lifecycle("close_ticket", "acme", "w1", NOW)
    h.lifecycle("close_ticket", "acme", "early", NOW)
    h.lifecycle("close_ticket", "acme", "forgotten", NOW)
    h.check_views()
    assert h.decide(ticket_created("acme", "early", Channel.EMAIL, NOW, NOW), NOW).reason == "closed"
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    h.lifecycle("reopen_ticket", "acme", "forgotten", NOW)
    assert h.decide(ticket_created("acme", "forgotten", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.call("set_status", "acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    result = h.bulk_assign("acme", "billing", "max", ["a1", "a2", "w1", "early", "never-seen"], NOW)
    assert (result["assigned"], result["closed"], result["unknown"]) == (2, 2, 1)
    for ticket_id in ("w1", "early"):
        h.lifecycle("reopen_ticket", "acme", ticket_id, NOW)
    waiting = [(r.ticket_id, r.reason) for r in h.model.unassigned("acme")]
    assert waiting == [("early", "reopened"), ("w1", "no_agent_online")]
    h.check_views()
    assert [(u.user_id, u.load) for u in h.queries.users("acme")] == [("ana", 1), ("ben", 2), ("max", 0)]


# --- capacity and the waiting queue (issue 15) ---------------------------------------------------------

THURSDAY_NIGHT = NOW + timedelta(hours=8)
"""Thursday 20:00 UTC: after ``WEEKDAYS``' hours; they open again on Friday at 09:00 UTC."""
FRIDAY_OPENING = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
WEEKDAYS = OfficeHours.from_specs("UTC", ["mon-fri 09:00-17:00"])


def capped_account(h: EngineHarness, agents: Sequence[str], capacity: int, auto_assign: bool) -> None:
    """``acme``: manager ``max``, ``agents`` Online in that order, round robin on, office hours ``WEEKDAYS``."""
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    h.call("set_round_robin", "acme", True, "max", NOW)
    h.call("set_office_hours", "acme", WEEKDAYS, "max", NOW)
    h.call("set_capacity", "acme", capacity, "max", NOW)
    h.call("set_auto_assign", "acme", auto_assign, "max", NOW)
    for agent in agents:
        h.call("upsert_user", "acme", agent, Role.AGENT, NOW)
        h.call("set_status", "acme", agent, AgentStatus.ONLINE, agent, NOW)


def test_capacity_and_auto_assign_are_refused_as_the_rules_say(harness: EngineHarness) -> None:
    h = harness
    h.call("upsert_user", "acme", "max", Role.MANAGER, NOW)
    h.call("upsert_user", "acme", "ana", Role.AGENT, NOW)
    h.call("upsert_user", "acme", "vic", Role.VIEWER, NOW)
    for name, args, error in [
        ("set_capacity", (2, "ana", NOW), Forbidden),  # an agent may not set capacities, not even her own
        ("set_capacity", (2, "ana", NOW, "ana"), Forbidden),
        ("set_capacity", (2, "ghost", NOW), UnknownUser),
        ("set_capacity", (0, "max", NOW), InvalidInput),  # N ≥ 1, checked before anyone is looked up
        ("set_capacity", (0, "ghost", NOW), InvalidInput),
        ("set_capacity", (2, "max", NOW, "vic"), Forbidden),  # a viewer takes no tickets: no capacity
        ("set_capacity", (2, "max", NOW, "ghost"), UnknownUser),
        ("set_auto_assign", (True, "ana", NOW), Forbidden),
        ("set_auto_assign", (True, "max", NOW), Refused),  # no account capacity yet
    ]:
        with pytest.raises(error):
            getattr(h.model, name)("acme", *args)
        h.call(name, "acme", *args)
    h.call("set_capacity", "acme", 1, "max", NOW, "ana")  # an override is not the account's capacity
    h.call("set_auto_assign", "acme", True, "max", NOW)  # still refused
    assert h.call("set_capacity", "acme", 2, "max", NOW) is True
    assert h.call("set_capacity", "acme", 2, "max", NOW) is False  # the same again: no event
    assert h.call("set_auto_assign", "acme", True, "max", NOW) is True
    with pytest.raises(Refused):
        h.model.set_capacity("acme", None, "max", NOW)
    h.call("set_capacity", "acme", None, "max", NOW)  # not while auto-assign is on
    assert h.call("set_capacity", "acme", None, "max", NOW, "ana") is True  # an override may go
    h.check_views()


def test_a_rule_refusal_is_a_typed_helpdesk_error(engine: Engine) -> None:
    """PRODUCT.md: "A refused action is an error with a clear message": ``RR_REFUSED`` (auto-assign without
    a capacity) is a ``HelpdeskError`` (``Refused``), not a bare ``redis.ResponseError`` the control API and
    the CLI could not tell from a Redis failure. (Found by the model-based test; fixed.)"""
    engine.upsert_user("acme", "max", Role.MANAGER, NOW)
    with pytest.raises(HelpdeskError):
        engine.set_auto_assign("acme", True, "max", NOW)


def test_round_robin_skips_agents_at_capacity_who_keep_their_place(harness: EngineHarness) -> None:
    """With auto-assign off: a full agent is skipped, nobody with room → ``all_agents_at_capacity``, and
    room again takes the ticket in rotation order (newest first: no queue is kept without auto-assign)."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=1, auto_assign=False)
    h.call("set_capacity", "acme", 2, "max", NOW, "ben")  # a full-timer
    picks = [h.decide(ticket_created("acme", f"t{n}", Channel.EMAIL, NOW, NOW), NOW).agent_id for n in range(4)]
    assert picks == ["ana", "ben", "ben", None]
    assert h.model.unassigned("acme")[0].reason == "all_agents_at_capacity"
    h.lifecycle("close_ticket", "acme", "t0", NOW)  # ana has room again, and waited longest
    assert h.decide(ticket_created("acme", "t4", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    assert h.queued == []  # auto-assign is off: nothing is released
    h.call("set_status", "acme", "ben", AgentStatus.OFFLINE, "ben", NOW)
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert h.decide(ticket_created("acme", "t5", Channel.EMAIL, NOW, NOW), NOW).reason == "no_agent_online"
    h.check_views()


def test_a_release_gives_the_oldest_first_to_whoever_waited_longest_with_room_and_one_toast_each(
    harness: EngineHarness,
) -> None:
    h = harness
    capped_account(h, ["ana", "ben"], capacity=1, auto_assign=True)
    h.call("set_capacity", "acme", 3, "max", NOW, "ben")
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    h.call("set_status", "acme", "ben", AgentStatus.OFFLINE, "ben", NOW)
    for n, minutes in enumerate([5, 1, 3, 1, 4]):  # t1 and t3 arrived at the same time: by ticket id
        h.decide(ticket_created("acme", f"t{n}", Channel.SMS, NOW + timedelta(minutes=minutes), NOW), NOW)
    h.call("set_status", "acme", "ben", AgentStatus.ONLINE, "ben", NOW)  # rings
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "ana", NOW)  # a release is owed: no second ring
    assert h.queued == ["acme"]
    later = NOW + timedelta(minutes=30)
    assert h.release("acme", later) == ("acme", 4, 2)
    released = [(e.ticket_id, e.agent_id) for _, e in h.queries.events("acme")[-6:-2]]  # type: ignore[union-attr]
    assert released == [("t1", "ana"), ("t3", "ben"), ("t2", "ben"), ("t4", "ben")]  # ana's place is the older
    toasts = [(e.user_id, e.text, e.ticket_ids) for _, e in h.queries.events("acme")[-2:]]  # type: ignore[union-attr]
    assert toasts == [
        ("ana", "1 waiting ticket assigned to you", ["t1"]),
        ("ben", "3 waiting tickets assigned to you", ["t3", "t2", "t4"]),
    ]
    assert [row.ticket_id for row in h.model.unassigned("acme")] == ["t0"]  # nobody has room
    h.lifecycle("close_ticket", "acme", "t1", later)  # ana has room: rings
    assert h.release("acme", later) == ("acme", 1, 1)
    h.check_views()


def test_tickets_arriving_while_a_release_is_pending_queue_behind_older_ones(harness: EngineHarness) -> None:
    """The release lags behind (its job is queued): a new ticket does not take the room before the older
    waiting ones (``older_tickets_waiting``), nor does it ring a second release."""
    h = harness
    capped_account(h, ["ana"], capacity=2, auto_assign=True)
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    h.decide(ticket_created("acme", "old", Channel.EMAIL, NOW - timedelta(minutes=9), NOW), NOW)
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert h.queued == ["acme"]
    new = h.decide(ticket_created("acme", "new", Channel.EMAIL, NOW, NOW), NOW)
    assert (new.outcome, new.reason) == ("unassigned", "older_tickets_waiting")
    early = h.decide(ticket_created("acme", "earlier", Channel.EMAIL, NOW - timedelta(minutes=20), NOW), NOW)
    assert early.reason == "older_tickets_waiting"  # the queue is the queue, even for an older late-comer
    assert h.queued == ["acme"]
    assert h.release("acme", NOW) == ("acme", 2, 1)  # the two oldest: ana's capacity is 2
    assert [row.ticket_id for row in h.model.unassigned("acme")] == ["new"]
    h.check_views()


def test_bulk_ignores_capacity_names_who_it_left_above_it_and_its_end_may_release(harness: EngineHarness) -> None:
    h = harness
    capped_account(h, ["ana", "ben"], capacity=1, auto_assign=True)
    h.call("set_team", "acme", "billing", ["ben"], "max", NOW)
    for n in range(3):
        h.decide(ticket_created("acme", f"t{n}", Channel.EMAIL, NOW + timedelta(minutes=n), NOW), NOW)
    assert [row.reason for row in h.model.unassigned("acme")] == ["all_agents_at_capacity"]
    result = h.bulk_assign("acme", "billing", "max", ["t0"], NOW)  # ana's t0 to ben, who is full
    assert (result["assigned"], result["above_capacity"]) == (1, ["ben"])
    assert h.queued == ["acme"]  # ana has room again, and t1 waits: the job's end rang a release
    assert h.release("acme", NOW) == ("acme", 1, 1)
    h.check_views()


def test_room_a_capacity_gives_counts_at_once(harness: EngineHarness) -> None:
    """Raising the account's capacity, or one agent's, lets the next ticket in at once; a lowered one keeps an
    agent's tickets (nothing is taken back) but gives them no more."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=1, auto_assign=False)
    for n in range(2):
        h.decide(ticket_created("acme", f"t{n}", Channel.EMAIL, NOW, NOW), NOW)
    h.call("set_capacity", "acme", 2, "max", NOW, "ben")
    assert h.decide(ticket_created("acme", "t2", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ben"
    h.call("set_capacity", "acme", 3, "max", NOW)  # ana's room; ben's override stays 2
    assert h.decide(ticket_created("acme", "t3", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.call("set_capacity", "acme", None, "max", NOW, "ben")  # ben now has the account's 3
    assert h.decide(ticket_created("acme", "t4", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ben"
    h.call("set_capacity", "acme", 1, "max", NOW)  # both above it now
    assert h.decide(ticket_created("acme", "t5", Channel.EMAIL, NOW, NOW), NOW).reason == "all_agents_at_capacity"
    assert [(u.user_id, u.load) for u in h.queries.users("acme")] == [("ana", 2), ("ben", 3), ("max", 0)]
    h.call("set_capacity", "acme", None, "max", NOW)  # no capacity at all: the seed's rules again
    assert h.decide(ticket_created("acme", "t6", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.check_views()


def test_a_demoted_agent_has_no_room_and_bulk_moves_room(harness: EngineHarness) -> None:
    """An Online agent demoted to viewer takes no more tickets under a capacity; a bulk job that moves a
    ticket away from a full agent gives her room for the next one."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=1, auto_assign=False)
    h.call("set_team", "acme", "billing", ["ben"], "max", NOW)
    h.call("upsert_user", "acme", "ben", Role.VIEWER, NOW)
    assert h.decide(ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    assert h.decide(ticket_created("acme", "t2", Channel.EMAIL, NOW, NOW), NOW).reason == "all_agents_at_capacity"
    h.call("upsert_user", "acme", "ben", Role.AGENT, NOW)
    h.call("set_status", "acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    h.bulk_assign("acme", "billing", "max", ["t1"], NOW)  # ana's ticket to ben: she has room, he has none
    assert h.decide(ticket_created("acme", "t3", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.check_views()


def test_turning_round_robin_on_releases_what_waited_meanwhile(harness: EngineHarness) -> None:
    """With round robin off, room that appears releases nothing (``round_robin_off`` tickets are for people);
    turning it on again releases the tickets that waited for an agent."""
    h = harness
    capped_account(h, ["ana"], capacity=1, auto_assign=True)
    h.decide(ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW), NOW)
    h.decide(ticket_created("acme", "t2", Channel.EMAIL, NOW, NOW), NOW)  # all_agents_at_capacity
    h.call("set_round_robin", "acme", False, "max", NOW)
    h.decide(ticket_created("acme", "t3", Channel.EMAIL, NOW - timedelta(hours=1), NOW), NOW)  # round_robin_off
    h.lifecycle("close_ticket", "acme", "t1", NOW)
    assert h.queued == []
    h.call("set_round_robin", "acme", True, "max", NOW)
    assert h.release("acme", NOW) == ("acme", 1, 1)
    assert [(row.ticket_id, row.reason) for row in h.model.unassigned("acme")] == [("t3", "round_robin_off")]
    h.check_views()


def test_a_reopened_waiting_ticket_is_released_in_its_place(harness: EngineHarness) -> None:
    """A waiting ticket closed and reopened waits again by its arrival time; a ticket whose close came first,
    reopened, waits as ``reopened`` and is released like the others."""
    h = harness
    capped_account(h, ["ana"], capacity=2, auto_assign=True)
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    h.lifecycle("close_ticket", "acme", "early", NOW)
    for ticket_id, minutes in [("old", -30), ("new", 0), ("early", -10)]:
        h.decide(ticket_created("acme", ticket_id, Channel.EMAIL, NOW + timedelta(minutes=minutes), NOW), NOW)
    h.lifecycle("close_ticket", "acme", "old", NOW)
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    h.lifecycle("reopen_ticket", "acme", "old", NOW)
    h.lifecycle("reopen_ticket", "acme", "early", NOW)
    assert h.release("acme", NOW) == ("acme", 2, 1)
    _, toast = h.queries.events("acme")[-1]
    assert toast.ticket_ids == ["old", "early"]  # type: ignore[union-attr]
    assert [row.ticket_id for row in h.model.unassigned("acme")] == ["new"]
    h.check_views()


def test_an_after_hours_ticket_is_released_by_the_sweep_at_its_opening(harness: EngineHarness) -> None:
    h = harness
    capped_account(h, ["ana"], capacity=1, auto_assign=True)
    waiting = h.decide(ticket_created("acme", "w1", Channel.WEBCHAT, THURSDAY_NIGHT, THURSDAY_NIGHT), THURSDAY_NIGHT)
    assert (waiting.reason, waiting.available_at) == ("after_hours", FRIDAY_OPENING)
    assert h.sweep(FRIDAY_OPENING - timedelta(seconds=1)) == []  # not yet
    assert h.sweep(FRIDAY_OPENING) == ["acme"]
    assert h.release("acme", FRIDAY_OPENING + timedelta(seconds=1)) == ("acme", 1, 1)
    assert h.sweep(FRIDAY_OPENING + timedelta(seconds=2)) == []  # nothing more is owed
    late = FRIDAY_OPENING + timedelta(minutes=1)
    assert h.decide(ticket_created("acme", "e1", Channel.EMAIL, late, late), late).reason == "all_agents_at_capacity"
    h.check_views()


def test_an_opening_while_everyone_is_at_capacity_is_released_once_room_appears(engine: Engine) -> None:
    """Auto-assign on, capacity 1, ana Online and full; a webchat ticket waits after hours. At the opening the
    sweep finds nobody with room and ``claim_release`` takes the account out of ``release_due`` (the ticket is
    still in ``later``, not promoted); when ana closes her ticket, ``close_ticket`` rings only for tickets in
    ``waiting``, and no later sweep looks at the account again: the ticket waits for ever while she has room."""
    rung: list[str] = []
    engine.on_release = rung.append
    engine.upsert_user("acme", "max", Role.MANAGER, NOW)
    engine.upsert_user("acme", "ana", Role.AGENT, NOW)
    engine.set_round_robin("acme", True, "max", NOW)
    engine.set_office_hours("acme", WEEKDAYS, "max", NOW)
    engine.set_capacity("acme", 1, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert engine.decide(ticket_created("acme", "busy", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    waiting = engine.decide(ticket_created("acme", "w1", Channel.WEBCHAT, THURSDAY_NIGHT, THURSDAY_NIGHT), NOW)
    assert waiting.available_at == FRIDAY_OPENING
    sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, FRIDAY_OPENING, rung.append)  # nobody has room
    room = FRIDAY_OPENING + timedelta(minutes=5)
    engine.close_ticket("acme", "busy", room)
    for later in (room, room + timedelta(seconds=1), room + timedelta(minutes=10)):  # sweeps, releases rung
        sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, later, rung.append)
        while rung:
            run_release(engine.scripts, engine.keys(rung.pop()), clock_at(later))
    assert Queries(engine.client).unassigned("acme") == []


def test_round_robin_off_over_an_opening_does_not_strand_the_after_hours_ticket(engine: Engine) -> None:
    """Auto-assign on, ana Online with room; a webchat ticket waits after hours; round robin is turned off
    for the night and back on after the opening. The sweep at the opening finds round robin off and
    ``claim_release`` takes the account out of ``release_due``; turning round robin on rings only for tickets
    in ``waiting`` (the after-hours one is still in ``later``) and, unlike turning auto-assign on, does not
    file the next opening again: the ticket is never released. (A release or a bulk job's end while round
    robin is off drops the opening the same way.)"""
    rung: list[str] = []
    engine.on_release = rung.append
    engine.upsert_user("acme", "max", Role.MANAGER, NOW)
    engine.upsert_user("acme", "ana", Role.AGENT, NOW)
    engine.set_round_robin("acme", True, "max", NOW)
    engine.set_office_hours("acme", WEEKDAYS, "max", NOW)
    engine.set_capacity("acme", 1, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    engine.decide(ticket_created("acme", "w1", Channel.WEBCHAT, THURSDAY_NIGHT, THURSDAY_NIGHT), THURSDAY_NIGHT)
    engine.set_round_robin("acme", False, "max", THURSDAY_NIGHT)
    sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, FRIDAY_OPENING, rung.append)  # round robin off
    back = FRIDAY_OPENING + timedelta(minutes=5)
    engine.set_round_robin("acme", True, "max", back)
    for later in (back, back + timedelta(seconds=1), back + timedelta(minutes=10)):
        sweep_due(engine.scripts, engine.keys, DEFAULT_PARTITIONS, later, rung.append)
        while rung:
            run_release(engine.scripts, engine.keys(rung.pop()), clock_at(later))
    assert Queries(engine.client).unassigned("acme") == []


def test_a_presence_timeout_sets_offline_once_keeping_place_and_tickets_and_a_stale_entry_spares_a_fresh_heartbeat(
    harness: EngineHarness,
) -> None:
    """The presence rules the machine draws at random, once for certain: a sweep step on an entry read before a
    heartbeat moved it keeps the agent Online; the sweep sets Offline who is due (in time order), once; the
    Offline agent keeps place and tickets, rings no release, and no heartbeat sets them Online again."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=1, auto_assign=True)
    h.call("set_presence_timeout", "acme", 90, "max", NOW)
    assert h.decide(ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    assert h.call("heartbeat", "acme", "ana", NOW + timedelta(seconds=60)) is True
    assert h.expire("acme", "ana", NOW + timedelta(seconds=90)) is False  # her heartbeat moved her time
    assert h.sweep_presence(NOW + timedelta(seconds=90)) == [("acme", "ben")]
    h.check_views()
    assert h.sweep_presence(NOW + timedelta(seconds=150)) == [("acme", "ana")]
    assert h.sweep_presence(NOW + timedelta(seconds=151)) == []
    assert h.expire("acme", "ana", NOW + timedelta(seconds=152)) is False  # a racing sweep: no second event
    assert h.call("heartbeat", "acme", "ana", NOW + timedelta(seconds=153)) is False  # still Offline
    assert [(u.user_id, u.status.value, u.load) for u in h.queries.users("acme")][:2] == [
        ("ana", "offline", 1),
        ("ben", "offline", 0),
    ]
    assert h.queued == []
    h.call("set_status", "acme", "ben", AgentStatus.ONLINE, "ben", NOW + timedelta(seconds=200))  # by hand
    assert h.decide(ticket_created("acme", "t2", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ben"
    h.call("set_presence_timeout", "acme", None, "max", NOW)
    assert h.sweep_presence(NOW + timedelta(days=30)) == []  # no timeout: nobody is swept
    h.check_views()


# --- issue 16, parts 2-4, once for certain (the machines draw them at random) ----------------------------


def assigned(h: EngineHarness, ticket_id: str) -> tuple[str, str | None, str]:
    """The last ``ticket.assigned`` of ``ticket_id``: (agent, previous agent, reason)."""
    found = [e for _, e in h.queries.events("acme") if e.type == "ticket.assigned" and e.ticket_id == ticket_id]
    last = found[-1]
    return last.agent_id, last.previous_agent_id, last.reason.value


def test_an_away_assignee_past_the_grace_loses_the_ticket_to_waiting_for_its_channel_and_the_release_names_them(
    harness: EngineHarness,
) -> None:
    """Reassign-away with a grace: a reply before the grace has passed keeps the ticket; after it, nobody else
    takes email (ben takes sms only): the ticket waits ``no_agent_for_channel`` in ``waiting:email``; once ben
    takes every channel, the release gives it to him with ``previous_agent_id`` ana."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=2, auto_assign=True)
    h.call("set_agent_channels", "acme", "ben", ("sms",), "max", NOW)
    assert h.decide(ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.call("set_reassign_away", "acme", True, 60, "max", NOW)
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert h.customer_reply("acme", "t1", NOW + timedelta(seconds=59), NOW + timedelta(seconds=70)) == "kept"
    assert h.customer_reply("acme", "t1", NOW + timedelta(seconds=59), NOW + timedelta(seconds=71)) == "duplicate"
    assert h.customer_reply("acme", "t1", NOW + timedelta(seconds=60), NOW + timedelta(seconds=72)) == "waiting"
    assert [(r.ticket_id, r.reason) for r in h.model.unassigned("acme")] == [("t1", "no_agent_for_channel")]
    h.check_views()
    keys = AccountKeys.for_account("acme")
    assert h.client.zrange(keys.waiting_channel("email"), 0, -1) == [b"t1"]
    h.call("set_agent_channels", "acme", "ben", None, "max", NOW)  # the last restriction: pools off, rings
    assert h.queued == ["acme"]
    assert h.release("acme", NOW + timedelta(minutes=2)) == ("acme", 1, 1)
    assert assigned(h, "t1") == ("ben", "ana", "waiting_queue")
    h.check_views()


def test_an_away_assignee_loses_the_ticket_to_the_next_agent_and_a_reopen_counts_as_a_reply(
    harness: EngineHarness,
) -> None:
    h = harness
    capped_account(h, ["ana", "ben", "cara"], capacity=3, auto_assign=False)
    h.call("set_reassign_away", "acme", True, 0, "max", NOW)
    for n in range(3):
        h.decide(ticket_created("acme", f"t{n}", Channel.EMAIL, NOW, NOW), NOW)  # ana, ben, cara
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert h.customer_reply("acme", "t0", NOW - timedelta(seconds=1), NOW) == "kept"  # written before she left
    assert h.customer_reply("acme", "t0", NOW, NOW) == "reassigned"
    assert assigned(h, "t0") == ("ben", "ana", "assignee_away")
    h.call("set_status", "acme", "cara", AgentStatus.OFFLINE, "cara", NOW)
    h.lifecycle("close_ticket", "acme", "t2", NOW)
    h.lifecycle("reopen_ticket", "acme", "t2", NOW + timedelta(seconds=1))
    assert assigned(h, "t2") == ("ben", "cara", "assignee_away")  # ben is the only one Online (not skipped)
    h.call("set_reassign_away", "acme", False, 0, "max", NOW)
    h.call("set_status", "acme", "ben", AgentStatus.OFFLINE, "ben", NOW)
    assert h.customer_reply("acme", "t1", NOW + timedelta(hours=1), NOW + timedelta(hours=1)) == "kept"  # off
    h.check_views()


def test_an_unanswered_ticket_goes_to_the_next_agent_once_and_stays_when_nobody_else_is_there(
    harness: EngineHarness,
) -> None:
    """Reassign-unanswered (60 s, max 1): the sweep a millisecond early does nothing; at the due time the ticket
    goes to the next agent, skipping its assignee, and is not filed again (max 1); a first reply cancels a
    timer; with nobody else Online the ticket stays and its timer is filed again at now + 60 s; a bulk
    assignment is never reassigned for no first reply (its timer is dropped)."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=5, auto_assign=False)
    h.call("set_reassign_unanswered", "acme", 60, 1, "max", NOW)
    h.call("set_team", "acme", "billing", ["ana"], "max", NOW)
    h.decide(ticket_created("acme", "t1", Channel.EMAIL, NOW, NOW), NOW)  # ana
    assert h.sweep_unanswered(NOW + timedelta(seconds=60) - timedelta(milliseconds=1)) == []
    assert h.sweep_unanswered(NOW + timedelta(seconds=60)) == [("acme", "t1", "ben")]
    assert assigned(h, "t1") == ("ben", "ana", "no_first_reply")
    assert h.model.unanswered_due() == {}  # max 1: not filed again
    later = NOW + timedelta(minutes=5)
    h.decide(ticket_created("acme", "t2", Channel.EMAIL, later, later), later)  # ana
    h.first_reply("acme", "t2", "ana", later + timedelta(seconds=10))
    h.decide(ticket_created("acme", "t3", Channel.EMAIL, later, later), later)  # ben
    h.call("set_status", "acme", "ana", AgentStatus.OFFLINE, "ana", later)
    due = later + timedelta(seconds=60)
    assert h.sweep_unanswered(due) == []  # nobody else: t3 stays with ben
    assert h.model.unanswered_due() == {"acme t3": int((due + timedelta(seconds=60)).timestamp() * 1000)}
    h.check_views()
    h.call("set_status", "acme", "ana", AgentStatus.ONLINE, "ana", due)
    h.bulk_assign("acme", "billing", "max", ["t3"], due)  # to ana: a manager's act
    assert h.sweep_unanswered(due + timedelta(minutes=5)) == []  # dropped, not reassigned
    assert h.model.unanswered_due() == {}
    h.check_views()


def test_a_ticket_goes_to_the_least_recently_assigned_agent_for_its_channel_and_waits_without_blocking_others(
    harness: EngineHarness,
) -> None:
    """Pools: ana takes email, ben sms, cara everything (one rotation). Nobody for social but cara, at capacity:
    ``all_agents_at_capacity``; social with cara Offline: ``no_agent_for_channel``; the release takes the newer
    email ticket past the older social one nobody can take (no head-of-line blocking); a new email ticket
    waits behind the older email one only (``older_tickets_waiting`` per channel)."""
    h = harness
    capped_account(h, ["ana", "ben", "cara"], capacity=1, auto_assign=True)
    h.call("set_agent_channels", "acme", "ana", ("email",), "max", NOW)
    h.call("set_agent_channels", "acme", "ben", ("sms",), "max", NOW)
    assert h.decide(ticket_created("acme", "s1", Channel.SMS, NOW, NOW), NOW).agent_id == "ben"
    assert h.decide(ticket_created("acme", "x1", Channel.SOCIAL, NOW, NOW), NOW).agent_id == "cara"
    social = h.decide(ticket_created("acme", "x2", Channel.SOCIAL, NOW, NOW), NOW)
    assert social.reason == "all_agents_at_capacity"
    assert h.decide(ticket_created("acme", "e1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.call("set_status", "acme", "cara", AgentStatus.OFFLINE, "cara", NOW)
    later = NOW + timedelta(minutes=1)
    social = h.decide(ticket_created("acme", "x3", Channel.SOCIAL, later, later), later)
    assert social.reason == "no_agent_for_channel"
    e2 = h.decide(ticket_created("acme", "e2", Channel.EMAIL, later, later), later)
    assert e2.reason == "all_agents_at_capacity"
    h.lifecycle("close_ticket", "acme", "e1", later)  # ana has room: rings
    e3 = h.decide(ticket_created("acme", "e3", Channel.EMAIL, later, later), later)
    assert e3.reason == "older_tickets_waiting"  # behind e2, not behind the older social x2
    assert h.release("acme", later) == ("acme", 1, 1)
    assert assigned(h, "e2") == ("ana", None, "waiting_queue")
    assert [r.ticket_id for r in h.model.unassigned("acme")] == ["x2", "e3", "x3"]  # same time: by id
    h.check_views()


def test_an_unanswered_reassignment_that_gives_its_assignee_room_rings_the_release(harness: EngineHarness) -> None:
    """Pools and capacity 1: ana took an email ticket, then was restricted to sms; an sms ticket waits for her
    (ben takes email only). When her email ticket goes to ben for no first reply, she has room for the sms
    ticket: a release is owed, as after a close."""
    h = harness
    capped_account(h, ["ana", "ben"], capacity=1, auto_assign=True)
    h.call("set_reassign_unanswered", "acme", 60, 1, "max", NOW)
    h.call("set_agent_channels", "acme", "ben", ("email",), "max", NOW)
    h.call("set_status", "acme", "ben", AgentStatus.OFFLINE, "ben", NOW)
    assert h.decide(ticket_created("acme", "e1", Channel.EMAIL, NOW, NOW), NOW).agent_id == "ana"
    h.call("set_agent_channels", "acme", "ana", ("sms",), "max", NOW)
    assert h.decide(ticket_created("acme", "s1", Channel.SMS, NOW, NOW), NOW).reason == "all_agents_at_capacity"
    h.call("set_status", "acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    assert h.queued == ["acme"]  # ring_release's one test: tickets wait and someone has room
    assert h.release(h.queued.pop(), NOW) == ("acme", 0, 0)  # ben takes no sms: nothing to do
    assert h.sweep_unanswered(NOW + timedelta(seconds=60)) == [("acme", "e1", "ben")]
    assert h.queued == ["acme"]  # before the fix: nothing rang, and s1 waited while ana had room
    assert h.release(h.queued.pop(), NOW + timedelta(seconds=61)) == ("acme", 1, 1)
    assert assigned(h, "s1") == ("ana", None, "waiting_queue")
    h.check_views()
