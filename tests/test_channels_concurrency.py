"""Per-channel pools under concurrency (issue 16, part 4), on a real Redis: threads deciding tickets (with
duplicate deliveries), agents toggling, tickets closing and releases running at once. Every ticket is decided
once, every automatic assignment went to an agent who takes its channel and had room, and the pools end exact."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import redis

from schemas.common import AgentStatus, Channel
from schemas.events import TicketAssigned, TicketUnassigned
from schemas.inbound import TicketCreated
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.pools import assert_pools_exact
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.core.release import run_release

KEYS = AccountKeys.for_account("acme")
AGENTS = ("ana", "ben", "cara", "dan", "eve")
CHANNELS = {"ana": [Channel.EMAIL], "ben": [Channel.EMAIL, Channel.SMS], "cara": [Channel.WEBCHAT], "dan": None}
CAPACITY = 3


def _in_threads(jobs: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_pools_hold_under_concurrent_decisions_toggles_closes_and_releases(
    real_redis: redis.Redis, make_ticket: TicketFactory
) -> None:
    engine = Engine(real_redis)
    setup_account(engine, agents=AGENTS, online=AGENTS[:3])
    for agent, channels in CHANNELS.items():
        engine.set_agent_channels("acme", agent, channels, "max", NOW)
    engine.set_capacity("acme", CAPACITY, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    rng = random.Random(16)
    tickets = [
        make_ticket(ticket_id=f"c{n:04d}", channel=rng.choice(list(Channel)), created_at=NOW - timedelta(minutes=n))
        for n in range(400)
    ]
    deliveries = tickets + rng.sample(tickets, 40)  # duplicate deliveries
    rng.shuffle(deliveries)

    def decide(part: list[TicketCreated]) -> Callable[[], None]:
        def run() -> None:
            for ticket in part:
                engine.decide(ticket, NOW)

        return run

    def churn() -> None:
        local = random.Random(7)
        for _ in range(150):
            agent = local.choice(AGENTS)
            engine.set_status("acme", agent, local.choice(list(AgentStatus)), agent, NOW)
            engine.close_ticket("acme", local.choice(tickets).ticket_id, NOW)

    def releases() -> None:
        for _ in range(15):
            run_release(engine.scripts, KEYS, lambda: NOW)

    _in_threads([decide(deliveries[i::4]) for i in range(4)] + [churn, releases, releases])
    run_release(engine.scripts, KEYS, lambda: NOW)

    events = [event for _, event in Queries(real_redis).events("acme", count=None)]
    decisions = Counter(
        e.ticket_id for e in events if isinstance(e, TicketAssigned | TicketUnassigned) and e.reason != "waiting_queue"
    )
    assert set(decisions) == {t.ticket_id for t in tickets} and max(decisions.values()) == 1
    released = Counter(e.ticket_id for e in events if isinstance(e, TicketAssigned) and e.reason == "waiting_queue")
    assert released and max(released.values()) == 1  # releases did run, and took each ticket once
    assert sum(isinstance(e, TicketAssigned) and e.reason == "round_robin" for e in events) > 0
    assert any(isinstance(e, TicketUnassigned) and e.reason == "no_agent_for_channel" for e in events)
    for event in events:
        if isinstance(event, TicketAssigned):
            taken = CHANNELS.get(event.agent_id) or list(Channel)
            assert event.channel in taken, (event.ticket_id, event.channel, event.agent_id)
    assert all(user.load <= CAPACITY for user in Queries(real_redis).users("acme"))
    assert_pools_exact(real_redis, KEYS)
