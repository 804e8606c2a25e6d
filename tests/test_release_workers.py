"""Releases through RQ (issue 15): a job that makes room enqueues ``process_release`` on its own queue and a
worker runs it; a long-running worker's sweep thread starts the releases that come due. Real Redis (and
fakeredis where RQ's SimpleWorker runs on it)."""

from __future__ import annotations

import time
from datetime import timedelta

import redis
from rq import Queue

from producers.queue import PROCESS_RELEASE, QUEUE_NAME, SERIALIZER, enqueue_close, enqueue_release
from schemas.common import AgentStatus, Channel
from schemas.inbound import TicketClose
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.jobs import returned
from worker.config import Settings
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.runtime.release_sweeper import ReleaseSweeper
from worker.runtime.runner import run_on


def queued_functions(client: redis.Redis) -> list[str]:
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    return [str(job.func_name) for job in queue.get_jobs()]


def test_a_close_job_rings_a_release_job_that_the_worker_then_runs(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.set_capacity("acme", 1, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    engine.decide(make_ticket(ticket_id="open"), NOW)  # ana is full
    for n in range(3):
        engine.decide(make_ticket(ticket_id=f"w{n}", created_at=NOW - timedelta(minutes=10 - n)), NOW)
    enqueue_close(TicketClose(account_id="acme", ticket_id="open", at=NOW), client)
    run_on(client, burst=True)
    assert queued_functions(client) == []
    released = [
        (event.ticket_id, event.reason)
        for _, event in Queries(client).events("acme")
        if event.type == "ticket.assigned" and event.reason == "waiting_queue"
    ]
    assert released == [("w0", "waiting_queue")]  # room for one: the oldest


def test_a_release_job_reports_what_it_did(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    setup_account(engine)
    engine.set_capacity("acme", 2, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    engine.decide(make_ticket(ticket_id="w1"), NOW)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)  # no enqueuer here: do it by hand
    job = enqueue_release("acme", client)
    run_on(client, burst=True)
    assert {k: v for k, v in returned(job).items() if k != "longest_call_ms"} == {
        "account_id": "acme",
        "assigned": 1,
        "batches": 1,
        "toasts": 1,
    }


def test_the_sweep_thread_starts_a_release_that_came_due(real_redis: redis.Redis, make_ticket: TicketFactory) -> None:
    engine = Engine(real_redis)
    setup_account(engine)
    engine.set_capacity("acme", 2, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    engine.set_office_hours("acme", OfficeHours.from_specs("UTC", ["mon-sun 09:00-17:00"]), "max", NOW)
    evening = NOW.replace(hour=20)  # its opening (tomorrow 09:00 UTC) is long past by the wall clock
    engine.decide(make_ticket(ticket_id="chat", channel=Channel.WEBCHAT, created_at=evening), evening)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", evening)  # nothing waits yet: no ring
    assert queued_functions(real_redis) == []
    sweeper = ReleaseSweeper(real_redis, real_redis, Settings(), every=0.1).start()
    try:
        deadline = time.monotonic() + 5
        while PROCESS_RELEASE not in queued_functions(real_redis) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sweeper.stop()
    assert queued_functions(real_redis) == [PROCESS_RELEASE]  # once: the lease stops a second one
    run_on(real_redis, burst=True)
    ticket = Queries(real_redis).ticket("acme", "chat")
    assert ticket is not None and (ticket["status"], ticket["reason"]) == ("assigned", "waiting_queue")
    assert utc_now() > evening  # the wall clock the sweep used
