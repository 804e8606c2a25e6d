"""Several worker processes on one real Redis while agents toggle: nothing doubled, nothing lost, fair."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
import redis

from producers.queue import enqueue_many
from schemas.common import AgentStatus, Channel
from schemas.inbound import TicketCreated
from tests.conftest import setup_account
from worker.engine import Engine, utc_now
from worker.queries import Queries

pytestmark = pytest.mark.slow

TICKETS = 5_000
DUPLICATES = 500
WORKERS = 4
AGENTS = tuple(f"agent{n}" for n in range(1, 7))


def test_concurrent_workers_decide_every_ticket_exactly_once_and_fairly(
    real_redis: redis.Redis, redis_url: str
) -> None:
    engine = Engine(real_redis)
    setup_account(engine, agents=AGENTS, online=AGENTS[:3])
    now = utc_now()
    channels = [Channel.EMAIL, Channel.SMS, Channel.SOCIAL, Channel.WEBCHAT]
    tickets = [
        TicketCreated(
            account_id="acme",
            ticket_id=f"c{n}",
            channel=channels[n % 4],
            created_at=now - timedelta(seconds=TICKETS - n),
        )
        for n in range(TICKETS)
    ]
    rng = random.Random(7)
    duplicates = rng.sample(tickets, DUPLICATES)  # redelivered while the originals may still be queued
    batch = tickets + duplicates
    rng.shuffle(batch)
    for start in range(0, len(batch), 1000):
        enqueue_many(batch[start : start + 1000], real_redis)

    command = [sys.executable, "-m", "worker.cli", "--redis-url", redis_url, "worker", "--burst"]
    workers = subprocess.Popen(
        [*command, "--processes", str(WORKERS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    toggles = 0
    deadline = time.monotonic() + 240
    while workers.poll() is None and time.monotonic() < deadline:
        agent = rng.choice(AGENTS)
        status = rng.choice([AgentStatus.ONLINE, AgentStatus.OFFLINE])
        toggles += engine.set_status("acme", agent, status, "max", utc_now())
        time.sleep(rng.uniform(0.005, 0.05))
    assert workers.wait(timeout=30) == 0
    assert toggles > 20, "agents must toggle while the workers run"

    queries = Queries(real_redis)
    events = [event for _, event in queries.events("acme", count=None)]
    decided: Counter[str] = Counter()
    assigned_to: dict[str, str] = {}
    for event in events:
        if event.type in ("ticket.assigned", "ticket.unassigned"):
            decided[event.ticket_id] += 1
        if event.type == "ticket.assigned":
            assigned_to[event.ticket_id] = event.agent_id
    assert set(decided) == {t.ticket_id for t in tickets}, "every ticket has a decision"
    assert max(decided.values()) == 1, "no ticket decided (or assigned) twice"

    for ticket in tickets:  # the stored record agrees with the event, and unassigned ones have a reason
        record = queries.ticket("acme", ticket.ticket_id)
        assert record is not None
        if record["status"] == "assigned":
            assert assigned_to[ticket.ticket_id] == record["agent_id"]
        else:
            assert ticket.ticket_id not in assigned_to and record["reason"] == "no_agent_online"
    assert len(queries.unassigned("acme")) == TICKETS - len(assigned_to)
    assert sum(queries.agent_counts("acme").values()) == len(assigned_to)

    # Fairness: replay the stream; over every stretch where the Online set did not change, the
    # per-agent counts among the Online agents differ by at most 1.
    online: set[str] = set(AGENTS[:3])
    stretch: dict[str, int] = defaultdict(int)
    stretches = 0

    def check() -> None:
        nonlocal stretches
        if stretch and online:
            counts = [stretch.get(agent, 0) for agent in online]
            assert max(counts) - min(counts) <= 1, (sorted(online), dict(stretch))
            stretches += 1

    for event in events:
        if event.type == "agent.status_changed":
            check()
            stretch.clear()
            (online.add if event.status is AgentStatus.ONLINE else online.discard)(event.user_id)
        elif event.type == "ticket.assigned":
            assert event.agent_id in online, "a ticket went to an agent who was not Online"
            stretch[event.agent_id] += 1
    check()
    assert stretches > 10
