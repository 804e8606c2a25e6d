"""Several worker processes on one real Redis, several accounts, agents toggling, duplicate
deliveries: nothing doubled, nothing lost, every event matches its record, and fair."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
import redis

from producers.queue import enqueue_close, enqueue_many
from schemas.common import AgentStatus, Channel
from schemas.inbound import TicketClose, TicketCreated
from tests.support.accounts import setup_account
from tests.support.snapshots import agent_counts
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries

pytestmark = pytest.mark.slow

TICKETS = int(os.environ.get("HELPDESK_RR_STRESS_TICKETS", "5000"))
DUPLICATE_SHARE = 0.1
WORKERS = 4
ACCOUNTS = ("acme", "globex", "initech")
AGENTS = tuple(f"agent{n}" for n in range(1, 7))
FIRST_ONLINE = AGENTS[:3]


def check_account(queries: Queries, account: str, tickets: list[TicketCreated]) -> int:
    """All the guarantees for one account; returns the number of fair stretches checked."""
    events = [event for _, event in queries.events(account, count=None)]
    decided: Counter[str] = Counter()
    assigned_to: dict[str, str] = {}
    for index, event in enumerate(events):
        assert event.account_id == account
        if event.type in ("ticket.assigned", "ticket.unassigned"):
            decided[event.ticket_id] += 1
        if event.type == "ticket.assigned":
            assigned_to[event.ticket_id] = event.agent_id
            toast = events[index + 1]  # written in the same Lua call, right after
            assert toast.type == "toast" and toast.user_id == event.agent_id and toast.ticket_ids == [event.ticket_id]
    assert set(decided) == {t.ticket_id for t in tickets}, "a ticket has no decision"
    assert max(decided.values()) == 1, "a ticket was decided twice"

    pipe = queries.client.pipeline(transaction=False)
    for ticket in tickets:
        pipe.hgetall(queries.keys(account).ticket(ticket.ticket_id))
    for ticket, record in zip(tickets, pipe.execute(), strict=True):
        # every record has its event and every event its record
        if record[b"status"] == b"assigned":
            assert assigned_to[ticket.ticket_id] == record[b"agent_id"].decode()
        else:
            assert ticket.ticket_id not in assigned_to and record[b"reason"] == b"no_agent_online"
    assert len(queries.unassigned(account)) == len(tickets) - len(assigned_to)
    assert sum(agent_counts(queries.client, account).values()) == len(assigned_to)

    # Fairness: over every stretch where the Online set did not change, counts differ by at most 1.
    online: set[str] = set(FIRST_ONLINE)
    stretch: dict[str, int] = defaultdict(int)
    stretches = 0

    def close_stretch() -> None:
        nonlocal stretches
        if stretch and online:
            counts = [stretch.get(agent, 0) for agent in online]
            assert max(counts) - min(counts) <= 1, (sorted(online), dict(stretch))
            stretches += 1

    for event in events:
        if event.type == "agent.status_changed":
            close_stretch()
            stretch.clear()
            (online.add if event.status is AgentStatus.ONLINE else online.discard)(event.user_id)
        elif event.type == "ticket.assigned":
            assert event.agent_id in online, "a ticket went to an agent who was not Online"
            stretch[event.agent_id] += 1
    close_stretch()
    return stretches


def test_concurrent_workers_decide_every_ticket_exactly_once_and_fairly(
    real_redis: redis.Redis, redis_url: str
) -> None:
    engine = Engine(real_redis)
    for account in ACCOUNTS:
        setup_account(engine, account, agents=AGENTS, online=FIRST_ONLINE)
    now = utc_now()
    channels = list(Channel)
    rng = random.Random(7)
    tickets: dict[str, list[TicketCreated]] = {account: [] for account in ACCOUNTS}
    for n in range(TICKETS):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        tickets[account].append(
            TicketCreated(
                account_id=account,
                ticket_id=f"c{n}",
                channel=channels[n % 4],
                created_at=now - timedelta(seconds=TICKETS - n),
            )
        )
    everything = [t for batch in tickets.values() for t in batch]
    batch = everything + rng.sample(everything, int(TICKETS * DUPLICATE_SHARE))  # redeliveries
    rng.shuffle(batch)
    for start in range(0, len(batch), 5000):
        enqueue_many(batch[start : start + 5000], real_redis)

    command = [sys.executable, "-m", "worker.cli", "--redis-url", redis_url, "worker", "--burst"]
    workers = subprocess.Popen(
        [*command, "--processes", str(WORKERS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    toggles = 0
    started = time.monotonic()
    while workers.poll() is None and time.monotonic() - started < 280:
        account, agent = rng.choice(ACCOUNTS), rng.choice(AGENTS)
        status = rng.choice([AgentStatus.ONLINE, AgentStatus.OFFLINE])
        toggles += engine.set_status(account, agent, status, "max", utc_now())
        time.sleep(rng.uniform(0.005, 0.05))
    assert workers.wait(timeout=30) == 0
    elapsed = time.monotonic() - started
    assert toggles > 20, "agents must toggle while the workers run"

    queries = Queries(real_redis)
    stretches = sum(check_account(queries, account, tickets[account]) for account in ACCOUNTS)
    assert stretches > 10
    print(
        f"tickets={TICKETS} deliveries={len(batch)} workers={WORKERS} accounts={len(ACCOUNTS)} "
        f"toggles={toggles} stretches={stretches} seconds={elapsed:.1f} double=0 lost=0"
    )


CLOSED_SHARE = 0.3


def test_closes_racing_their_tickets_across_workers_leave_every_load_right(
    real_redis: redis.Redis, redis_url: str
) -> None:
    """Tickets and closes of a third of them (some enqueued before their ticket, some twice) drained by
    several worker processes: each ticket is decided once, and each agent's load equals the tickets the
    event stream shows assigned to them and not closed."""
    engine = Engine(real_redis)
    setup_account(engine, "acme", agents=AGENTS, online=AGENTS)
    now = utc_now()
    rng = random.Random(11)
    count = max(300, TICKETS // 5)
    tickets = [
        TicketCreated(
            account_id="acme", ticket_id=f"k{n}", channel=Channel.EMAIL, created_at=now - timedelta(seconds=n)
        )
        for n in range(count)
    ]
    closing = rng.sample(tickets, int(count * CLOSED_SHARE))
    jobs: list[TicketCreated | TicketClose] = [*tickets]
    jobs += [TicketClose(account_id="acme", ticket_id=t.ticket_id, at=now) for t in closing]
    jobs += [TicketClose(account_id="acme", ticket_id=t.ticket_id, at=now) for t in closing[:20]]  # twice
    rng.shuffle(jobs)
    for job in jobs:
        if isinstance(job, TicketClose):
            enqueue_close(job, real_redis)
        else:
            enqueue_many([job], real_redis)
    command = [sys.executable, "-m", "worker.cli", "--redis-url", redis_url, "worker", "--burst"]
    result = subprocess.run(
        [*command, "--processes", str(WORKERS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=280
    )
    assert result.returncode == 0

    decided: Counter[str] = Counter()
    assignee: dict[str, str] = {}
    closed: set[str] = set()
    for _, event in Queries(real_redis).events("acme", count=None):
        if event.type in ("ticket.assigned", "ticket.unassigned"):
            decided[event.ticket_id] += 1
        if event.type == "ticket.assigned":
            assignee[event.ticket_id] = event.agent_id
        elif event.type == "ticket.closed" or (event.type == "ticket.unassigned" and event.reason.value == "closed"):
            closed.add(event.ticket_id)
    assert set(decided) == {t.ticket_id for t in tickets} and max(decided.values()) == 1
    assert closed == {t.ticket_id for t in closing}, "every close took effect, once"
    expected = Counter(agent for ticket_id, agent in assignee.items() if ticket_id not in closed)
    load = {user.user_id: user.load for user in Queries(real_redis).users("acme") if user.load}
    assert load == dict(expected)
    early = sum(1 for ticket_id in closed if ticket_id not in assignee)
    print(f"tickets={count} closes={len(closing)} closed_before_decided={early} load={load}")
