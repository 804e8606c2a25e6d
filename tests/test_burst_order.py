"""Burst intake, order (issue 18): tickets pushed by several producers at once, drained by several worker
processes, are decided exactly once and, per account, in the order each producer pushed them (checked from
the event stream). Accounts share lanes (acme, hooli, tyrell: lane 14; globex, stark: lane 10), so a lane
holds several accounts' tickets and a burst keeps a lane busy across several drain jobs.

Sizes: ``HELPDESK_RR_BURST_TICKETS`` (tickets in all, default 1,200)."""

from __future__ import annotations

import os
import threading
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
import redis
from rq.job import Job
from rq.registry import FinishedJobRegistry

from producers.lanes import DRAIN_LANE, lane_of, push_many
from producers.queue import QUEUE_NAME, SERIALIZER
from schemas.common import Channel
from schemas.inbound import TicketCreated
from tests.support.accounts import setup_account
from tests.support.burst import (
    check_all_orders,
    check_exactly_once,
    check_order,
    decided_count,
    decisions,
    join_producers,
    make_producers,
    pending_count,
    run_producers,
)
from tests.support.workers import start_worker, stop_all, stop_worker, wait_for, worker_pids
from worker.core.engine import Engine, utc_now
from worker.runtime.drain import LaneDrain

pytestmark = pytest.mark.slow

TICKETS = int(os.environ.get("HELPDESK_RR_BURST_TICKETS", "1200"))
PRODUCERS = 4
WORKERS = 3
ACCOUNTS = ("acme", "hooli", "tyrell", "globex", "stark", "initech")
AGENTS = ("ana", "ben", "cara", "dan")


def setup_accounts(client: redis.Redis) -> None:
    engine = Engine(client)
    for account in ACCOUNTS:
        setup_account(engine, account, agents=AGENTS, online=AGENTS[:3])


def drain_workers_by_lane(client: redis.Redis) -> dict[int, Counter[str]]:
    """Finished drain jobs: per lane, how many each worker ran."""
    registry = FinishedJobRegistry(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    jobs = Job.fetch_many(registry.get_job_ids(), connection=client, serializer=SERIALIZER)
    by_lane: dict[int, Counter[str]] = defaultdict(Counter)
    for job in jobs:
        if job is not None and job.func_name == DRAIN_LANE:
            by_lane[job.meta["lane"]][job.worker_name or "?"] += 1
    return dict(by_lane)


def test_the_accounts_share_lanes() -> None:
    """The premise of the order tests: several accounts per lane, several lanes."""
    lanes = Counter(lane_of(account) for account in ACCOUNTS)
    assert lanes[lane_of("acme")] == 3 and lanes[lane_of("globex")] == 2 and len(lanes) == 3


def test_the_order_check_catches_a_swap() -> None:
    """``check_order`` fails when two of one producer's tickets come out swapped (what two drains deciding one
    lane at once would do), and accepts producers interleaved with each other."""
    pushed = [["a1", "a2", "a3"], ["b1", "b2"]]
    assert check_order(["a1", "b1", "a2", "b2", "a3"], pushed) == 3
    with pytest.raises(AssertionError, match="a3 was decided before a2"):
        check_order(["a1", "b1", "a3", "b2", "a2"], pushed)


def test_producers_and_workers_keep_each_accounts_order(real_redis: redis.Redis, redis_url: str) -> None:
    setup_accounts(real_redis)
    producers = make_producers(ACCOUNTS, PRODUCERS, TICKETS // PRODUCERS, seed=18)
    workers = [start_worker(redis_url) for _ in range(WORKERS)]
    try:
        wait_for(lambda: len(worker_pids(real_redis)) == WORKERS, 30, "the workers up")
        threads = run_producers(producers, redis_url, pause_seconds=0.05)  # a burst that lasts: several drains
        join_producers(threads, producers)
        total = sum(len(p.tickets) for p in producers)
        took = wait_for(lambda: decided_count(real_redis, ACCOUNTS) >= total, 60, "every ticket decided")
        wait_for(lambda: pending_count(real_redis) == 0, 10, "every lane empty")
        for worker in workers:
            stop_worker(worker)
    finally:
        stop_all(workers)

    tickets = [t for p in producers for t in p.tickets]
    check_exactly_once(real_redis, ACCOUNTS, tickets)
    pairs = check_all_orders(real_redis, ACCOUNTS, producers)
    assert pairs == len(tickets) - sum(  # every consecutive pair of every producer's account tickets
        1 for p in producers for account in ACCOUNTS if any(t.account_id == account for t in p.tickets)
    )
    by_lane = drain_workers_by_lane(real_redis)
    shared = [lane for lane, workers_of_lane in by_lane.items() if len(workers_of_lane) >= 2]
    assert shared, f"no lane was drained by two workers in turn: {by_lane}"
    drains = sum(sum(counts.values()) for counts in by_lane.values())
    print(f"tickets={total} drains={drains} lanes_shared={len(shared)} pairs_in_order={pairs} drained_in={took:.1f}s")


def test_drains_racing_on_one_lane_keep_its_order(real_redis: redis.Redis) -> None:
    """Many ``LaneDrain``s of one lane at once, in threads of one process (as several workers' drain jobs
    would run): the lease lets one decide at a time, the rest end ``busy``; nothing is lost or doubled and the
    lane's order holds. Without the lease they would split the head of the list and drop or swap batches."""
    setup_accounts(real_redis)
    now = utc_now()
    accounts = ("acme", "hooli", "tyrell")
    pushed = [
        TicketCreated(
            account_id=accounts[n % 3], ticket_id=f"r{n}", channel=Channel.EMAIL, created_at=now - timedelta(seconds=n)
        )
        for n in range(min(TICKETS, 900))
    ]
    for start in range(0, len(pushed), 300):
        push_many(pushed[start : start + 300], real_redis)
    ended: list[str] = []
    errors: list[BaseException] = []

    def drain() -> None:
        client = redis.Redis(connection_pool=real_redis.connection_pool)
        try:
            while pending_count(client):
                ended.append(LaneDrain(Engine(client), client, lane_of("acme"), budget_seconds=0.05).run().ended)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=drain) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    check_exactly_once(real_redis, accounts, pushed)
    for account in accounts:
        decided = [ticket_id for ticket_id, _ in decisions(real_redis, account)]
        check_order(decided, [[t.ticket_id for t in pushed]])
    assert "busy" in ended, f"the drains never overlapped: {Counter(ended)}"
