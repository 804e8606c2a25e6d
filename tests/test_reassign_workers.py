"""Reassign-unanswered timers live in Redis, so they survive a worker's death (issue 16, part 3): a worker
process is SIGKILLed while due timers wait, another one is started, and every ticket is reassigned exactly once
(real Redis, real ``helpdesk-rr worker`` processes)."""

from __future__ import annotations

import signal
import subprocess
from datetime import timedelta

import redis

from schemas.events import TicketAssigned
from tests.support.accounts import TicketFactory, setup_account
from tests.support.workers import start_worker, stop_all, stop_worker, wait_for
from worker.core.engine import Engine, utc_now
from worker.core.keys import AccountKeys
from worker.core.queries import Queries

TICKETS = 40


def reassigned(client: redis.Redis) -> list[str]:
    return [
        event.ticket_id
        for _, event in Queries(client).events("acme", count=None)
        if isinstance(event, TicketAssigned) and event.reason.value == "no_first_reply"
    ]


def test_due_timers_survive_a_killed_worker_and_the_next_one_reassigns_each_ticket_once(
    real_redis: redis.Redis, redis_url: str, make_ticket: TicketFactory
) -> None:
    engine = Engine(real_redis)
    now = utc_now()
    setup_account(engine, online=("ana", "ben", "cara"))
    engine.set_reassign_unanswered("acme", 1, 1, "max", now)
    for n in range(TICKETS):  # due from one second from now on, 200 ms apart: some before the kill, most after
        assigned_at = now + timedelta(milliseconds=200 * n)
        engine.decide(make_ticket(ticket_id=f"t{n}", created_at=now - timedelta(seconds=1)), assigned_at)
    keys = AccountKeys.for_account("acme")
    assert real_redis.zcard(keys.unanswered_due) == TICKETS
    workers: list[subprocess.Popen[bytes]] = []
    try:
        first = start_worker(redis_url)
        workers.append(first)
        wait_for(lambda: len(reassigned(real_redis)) > 0, 30, "the first worker's sweep reassigning")
        first.send_signal(signal.SIGKILL)  # dies while timers wait (they are Redis's, not its)
        first.wait()
        assert real_redis.zcard(keys.unanswered_due) > 0
        second = start_worker(redis_url)
        workers.append(second)
        wait_for(lambda: len(reassigned(real_redis)) == TICKETS, 30, "every ticket reassigned by the new worker")
        assert stop_worker(second) == 0
    finally:
        stop_all(workers)
    assert sorted(reassigned(real_redis)) == sorted(f"t{n}" for n in range(TICKETS))  # each once
    assert real_redis.zcard(keys.unanswered_due) == 0  # the max (1) reached: no timer left
