"""Burst intake, Redis restarts (issue 18): pending tickets Redis persisted (AOF on) survive a restart with
no worker running, and a restart in the middle of the drain loses nothing either: the workers reconnect, the
drain resumes (a drain cut off mid-batch leaves its batch pending; its lease lapses and the sweep rings the
lane), and every ticket is decided exactly once, in each account's push order.

Sizes: ``HELPDESK_RR_BURST_RESTART_TICKETS`` (default 1,500)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from producers.connection import connect
from tests.support.accounts import setup_account
from tests.support.burst import (
    check_all_orders,
    check_exactly_once,
    decided_count,
    make_producers,
    pending_count,
)
from tests.support.workers import start_worker, stop_all, stop_worker, wait_for
from worker.core.engine import Engine
from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_process import RedisServer

pytestmark = pytest.mark.slow

TICKETS = int(os.environ.get("HELPDESK_RR_BURST_RESTART_TICKETS", "1500"))
ACCOUNTS = ("acme", "hooli", "globex", "initech")


def test_pending_tickets_survive_redis_restarts_and_the_drain_resumes() -> None:
    directory = Path(tempfile.mkdtemp(prefix="rr-aof-burst-"))
    socket = directory / "redis.sock"
    binary = find_redis_server(prefer="path")
    server = RedisServer.start(directory, binary=binary, appendonly=True, socket_path=socket)
    url = server.url
    workers: list[subprocess.Popen[bytes]] = []
    try:
        client = connect(url)
        engine = Engine(client)
        for account in ACCOUNTS:
            setup_account(engine, account, online=("ana", "ben", "cara"))
        producers = make_producers(ACCOUNTS, 2, TICKETS // 2, seed=31)
        for producer in producers:  # no worker yet: everything stays pending
            producer.run(url)
            assert producer.error is None, producer.error
        total = sum(len(p.tickets) for p in producers)
        assert pending_count(client) == total

        server.stop()  # SHUTDOWN: the AOF is flushed
        server = RedisServer.start(directory, binary=binary, appendonly=True, socket_path=socket)
        assert server.url == url
        assert pending_count(client) == total, "pending tickets Redis persisted were lost"

        workers = [start_worker(url) for _ in range(2)]
        wait_for(lambda: decided_count(client, ACCOUNTS) >= total // 5, 60, "the drain under way")
        decided_before = decided_count(client, ACCOUNTS)
        server.stop()
        time.sleep(1)
        server = RedisServer.start(directory, binary=binary, appendonly=True, socket_path=socket)
        after = decided_count(client, ACCOUNTS)
        assert after >= decided_before, "persisted decisions lost"
        assert after + pending_count(client) >= total, "a pending ticket was lost"

        took = wait_for(lambda: decided_count(client, ACCOUNTS) >= total, 90, "every ticket decided after the restart")
        wait_for(lambda: pending_count(client) == 0, 10, "every lane empty")
        assert all(worker.poll() is None for worker in workers), "a worker died instead of reconnecting"
        for worker in workers:
            stop_worker(worker)

        tickets = [t for p in producers for t in p.tickets]
        check_exactly_once(client, ACCOUNTS, tickets)
        pairs = check_all_orders(client, ACCOUNTS, producers)
        print(f"tickets={total} decided_at_restart={decided_before} resumed_in={took:.1f}s pairs_in_order={pairs}")
    finally:
        stop_all(workers)
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
