"""The model-based test on the burst intake's batch path (issue 18): the machine of tests/test_model_based.py
with one more rule, ``ticket_batch``, that decides several tickets in one ``decide_batch`` call
(``worker.core.decide_many.decide_many``, the drain's step) and checks them against the model deciding the
same tickets one after another: the same outcomes in order, the same events in each account's stream, the
same releases rung, and every view and invariant the machine checks after a step.

A batch mixes the two accounts (they share a partition, as a lane's batch does), new tickets, redeliveries
of earlier ones, one ticket twice in the same batch, and tickets of an account nobody set up (``tyrell``, same
partition), which the batch refuses alone (``Refusal``) while it decides the others. Runs on fakeredis and on
a real Redis (``HELPDESK_RR_MODEL_BATCH_EXAMPLES`` examples each, default 30).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import fakeredis
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test

from schemas.common import Channel
from tests.support.model import ModelEvent, Outcome
from tests.support.waiting_queue import QueueState, automatic_assignments
from tests.test_model_based import (
    ACCOUNTS,
    MACHINE_SETTINGS,
    ModelMachine,
    decision_outcome,
    delays,
    engines,
    real_redis_machine,
    ticket_created,
    times,
)
from worker.core.decide_many import Arrival, Refusal, decide_many
from worker.core.decision import Decision
from worker.core.keys import partition_of
from worker.errors import HelpdeskError

NOBODY = "tyrell"
"""An account nobody sets up, in the machine's accounts' partition: its tickets are refused in the batch."""
BATCH_SETTINGS = settings(MACHINE_SETTINGS, max_examples=int(os.environ.get("HELPDESK_RR_MODEL_BATCH_EXAMPLES", "30")))

Refused = tuple[str, str]
"""A refusal as both sides are compared: ("refused", the error class)."""


def engine_outcome(result: Decision | Refusal) -> Outcome | Refused:
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

        def model_call() -> tuple[list[Outcome | Refused], dict[str, list[ModelEvent]]]:
            outcomes: list[Outcome | Refused] = []
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
