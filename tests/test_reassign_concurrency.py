"""Reassignment, presence timeouts and customer replies racing on the same tickets under four real workers
(issue 16: "a reassignment, a timeout and a customer reply racing on one ticket under several workers give
one outcome and one event each").

One account with every policy of issue 16 on: a capacity and auto-assign, a presence timeout, reassign-away,
reassign-unanswered (after = the presence timeout, so both kinds of timer come due together) and per-channel
pools with restricted agents. tests/support/reassign_race.py drives the agents and customers; afterwards the
account's stream is replayed (tests/support/release_replay.py checks every assignment: Online, room, channel,
``previous_agent_id`` = the assignee before, the max per ticket) and held against what the driver did and
what each customer-reply job answered, then against Redis's loads, pools and waiting zsets.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from rq import Queue

from producers.queue import QUEUE_NAME, SERIALIZER, enqueue_release
from schemas.common import AgentStatus
from tests.support import replies
from tests.support.accounts import setup_account
from tests.support.reassign_race import ACCOUNT, AGENTS, TIMEOUT_SECONDS, RaceDriver, ms, pools_agree, reply_results
from tests.support.release_replay import RELEASABLE, AccountReplay
from tests.support.workers import (
    queue_idle,
    releases_settled,
    start_worker,
    stop_all,
    stop_worker,
    wait_for,
    worker_pids,
)
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries

pytestmark = pytest.mark.slow

Worker = subprocess.Popen[bytes]
WORKERS = 4
ROUNDS = max(2, int(os.environ.get("HELPDESK_RR_REASSIGN_ROUNDS", "6")))
"""Rounds of the race (each ~3-4 s)."""
ROUND_TICKETS = 16
LATE_BOUND = timedelta(seconds=5)
"""Issue 16: a timeout comes at most 5 s late."""


@pytest.fixture
def processes() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    stop_all(started)


def settle(client: redis.Redis, engine: Engine) -> None:
    """No job waiting or running, no release queued, running or due: twice, a sweep and a half apart."""
    for _ in range(2):
        idle = lambda: queue_idle(client) and releases_settled(client, [engine.keys(ACCOUNT)], ms(utc_now()))  # noqa: E731
        wait_for(idle, 60, "the queue drained and every release ended")
        time.sleep(1.5)


def check_redis_agrees(client: redis.Redis, engine: Engine, seen: AccountReplay) -> None:
    """Loads, who is Online, the pools and the waiting zsets (all and per channel) are what the stream says."""
    queries, keys = Queries(client), engine.keys(ACCOUNT)
    users = queries.users(ACCOUNT)
    assert {u.user_id: u.load for u in users if u.load} == {a: n for a, n in seen.load.items() if n}
    assert {u.user_id for u in users if u.status is AgentStatus.ONLINE} == seen.online
    eligible = {row.ticket_id for row in queries.unassigned(ACCOUNT) if row.reason.value in RELEASABLE}
    assert eligible == set(seen.waiting), "the waiting tickets differ from the stream's"
    assert {m.decode() for m in replies.zrange(client, keys.waiting)} == set(seen.waiting)
    pools_agree(client, keys, seen)


def check_replies(client: redis.Redis, driver: RaceDriver, seen: AccountReplay) -> Counter[str]:
    """Each reply moved a ticket at most once, the newest of each ticket exactly once (every other copy is a
    duplicate); each job that moved a ticket has its one event in the stream, and no event lacks its job."""
    outcomes: Counter[str] = Counter()
    moved_per_reply: Counter[tuple[str, int]] = Counter()
    moved_jobs: Counter[tuple[str, str, str | None]] = Counter()
    for reply, result in reply_results(driver.race, client):
        outcomes[result["outcome"]] += 1
        if result["outcome"] != "duplicate":
            moved_per_reply[(reply.ticket_id, ms(reply.at))] += 1
        if result["outcome"] in ("reassigned", "waiting"):
            new = result["agent_id"] if result["outcome"] == "reassigned" else None
            moved_jobs[(reply.ticket_id, result["previous_agent_id"], new)] += 1
    assert max(moved_per_reply.values()) == 1, "a reply was processed twice"
    for ticket, sent in driver.race.replies.items():
        newest = max(ms(reply.at) for reply in sent)
        assert moved_per_reply[(ticket, newest)] == 1, f"{ticket}: its newest reply was not processed once"
    away = Counter(
        (r.ticket_id, r.previous_agent_id, r.agent_id) for r in seen.reassignments if r.reason == "assignee_away"
    )
    assert away == moved_jobs, "customer-reply outcomes and assignee_away events differ"
    return outcomes


def check_timeouts(driver: RaceDriver, seen: AccountReplay) -> None:
    """One timeout per Online stretch not ended by hand, never before its last heartbeat + the timeout, ≤ 5 s late."""
    assert sorted((t.agent_id, t.episode) for t in seen.timeouts) == driver.expected_timeouts()
    for timeout in seen.timeouts:
        due = driver.race.last_beat[(timeout.agent_id, timeout.episode)] + timedelta(seconds=TIMEOUT_SECONDS)
        at = round(timeout.occurred_at.timestamp() * 1000)
        assert ms(due) <= at <= ms(due + LATE_BOUND), f"{timeout}: due at {ms(due)}, came at {at}"


def test_reassignments_timeouts_and_customer_replies_racing_under_four_workers_give_one_outcome_each(
    real_redis: redis.Redis, redis_url: str, processes: list[Worker]
) -> None:
    engine = Engine(real_redis)

    def ring(account: str) -> None:
        enqueue_release(account, real_redis)

    engine.on_release = ring
    setup_account(engine, ACCOUNT, agents=AGENTS)
    rng = random.Random(int(os.environ.get("HELPDESK_RR_STRESS_SEED", "16")))
    driver = RaceDriver(engine, real_redis, rng)
    driver.setup()
    processes.extend(start_worker(redis_url) for _ in range(WORKERS))  # four sweepers, racing
    wait_for(lambda: len(worker_pids(real_redis)) == WORKERS, 30, f"{WORKERS} workers started")
    started = time.monotonic()
    for _ in range(ROUNDS):
        driver.round(ROUND_TICKETS)
    driver.finish()
    wait_for(lambda: real_redis.zcard(engine.keys(ACCOUNT).online) == 0, 60, "every agent timed out")
    settle(real_redis, engine)
    for process in processes:
        assert stop_worker(process) == 0
    elapsed = time.monotonic() - started
    assert Queue(QUEUE_NAME, connection=real_redis, serializer=SERIALIZER).failed_job_registry.count == 0

    entries = Queries(real_redis).events(ACCOUNT)
    seen = AccountReplay(ACCOUNT, {t.ticket_id: ms(t.created_at) for t in driver.race.tickets})
    seen.apply_all(event for _, event in entries)  # every assignment checked as it comes (release_replay.py)
    assert set(seen.decisions) == {t.ticket_id for t in driver.race.tickets}
    assert seen.untoasted() == []
    outcomes = check_replies(real_redis, driver, seen)
    check_timeouts(driver, seen)
    unanswered = [r for r in seen.reassignments if r.reason == "no_first_reply"]
    for reassignment in unanswered:
        replied = driver.race.first_replied.get(reassignment.ticket_id)
        assert replied is None or reassignment.index < replied, f"{reassignment}: after the first reply"
    check_redis_agrees(real_redis, engine, seen)

    tally = seen.tally
    # Coverage (the race exercised each kind), not a rate: how many customer replies find their assignee away
    # depends on timing, and a loaded machine (load 6-9) once gave fewer than 3 of them.
    assert tally.reassigned["assignee_away"] >= 1 and len(unanswered) >= 5, tally.reassigned
    assert tally.away_waits >= 1 and tally.channel_waits >= 1 and outcomes["duplicate"] >= 20, (tally, outcomes)
    assert len(seen.timeouts) >= 10 and driver.race.steps["first_reply"] >= 5, driver.race.steps
    print(
        f"rounds={ROUNDS} tickets={len(driver.race.tickets)} jobs={len(driver.race.jobs)} outcomes={dict(outcomes)} "
        f"reassigned={dict(tally.reassigned)} away_waits={tally.away_waits} channel_waits={tally.channel_waits} "
        f"timeouts={len(seen.timeouts)} steps={dict(driver.race.steps)} seconds={elapsed:.1f}"
    )
