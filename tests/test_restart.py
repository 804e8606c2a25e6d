"""Redis stopped and restarted (AOF on) under load: workers reconnect by themselves and carry on,
nothing Redis persisted is lost, and every ticket is decided exactly once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from producers.connection import connect
from producers.queue import enqueue_many
from schemas.common import Channel
from schemas.inbound import TicketCreated
from tests.support.accounts import setup_account
from tests.support.snapshots import agent_counts
from worker.api import Helpdesk, InvalidInput, Unavailable
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_process import RedisServer

pytestmark = pytest.mark.slow

TICKETS = 1_500


def test_workers_ride_out_a_redis_restart(tmp_path: Path) -> None:
    directory = Path(tempfile.mkdtemp(prefix="rr-aof-"))
    socket = directory / "redis.sock"
    binary = find_redis_server(prefer="path")
    server = RedisServer.start(directory, binary=binary, appendonly=True, socket_path=socket)
    url = server.url
    workers: list[subprocess.Popen[bytes]] = []
    try:
        client = connect(url)
        setup_account(Engine(client), online=("ana", "ben", "cara"))
        now = utc_now()
        tickets = [
            TicketCreated(
                account_id="acme", ticket_id=f"r{n}", channel=Channel.EMAIL, created_at=now - timedelta(seconds=n)
            )
            for n in range(TICKETS)
        ]
        enqueue_many(tickets, client)
        command = [sys.executable, "-m", "worker.cli", "--redis-url", url, "worker"]
        workers = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        while sum(agent_counts(client, "acme").values()) < 200:  # under load
            time.sleep(0.05)
        decided_before = sum(agent_counts(client, "acme").values())
        server.stop()  # SHUTDOWN: the AOF is flushed
        time.sleep(2)
        server = RedisServer.start(directory, binary=binary, appendonly=True, socket_path=socket)
        assert server.url == url
        assert sum(agent_counts(client, "acme").values()) >= decided_before, "persisted decisions lost"

        deadline = time.monotonic() + 120
        queries = Queries(client)
        while time.monotonic() < deadline:
            if sum(agent_counts(queries.client, "acme").values()) >= TICKETS:
                break
            time.sleep(0.5)
        assert all(worker.poll() is None for worker in workers), "a worker died instead of reconnecting"
        events = [e for _, e in queries.events("acme")]
        decisions = Counter(e.ticket_id for e in events if e.type == "ticket.assigned")
        assert set(decisions) == {t.ticket_id for t in tickets}
        assert max(decisions.values()) == 1
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_cli_says_it_cannot_reach_redis(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "--redis-url", "redis://127.0.0.1:9/0", "status", "acme", "ana", "online"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HELPDESK_RR_REDIS_RETRIES": "1"},  # the budget itself is tested below
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:9/0")
    assert "Traceback" not in result.stderr


def test_client_gives_up_after_a_bounded_time() -> None:
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        connect("redis://127.0.0.1:9/0").ping()
    assert 3 < time.monotonic() - started < 15  # it did retry, for ~5 s
    helpdesk = Helpdesk.from_env(environ={"REDIS_URL": "redis://127.0.0.1:9/0", "HELPDESK_RR_REDIS_RETRIES": "0"})
    started = time.monotonic()
    with pytest.raises(Unavailable, match="cannot reach Redis at redis://127.0.0.1:9/0"):
        helpdesk.ping()
    assert time.monotonic() - started < 1  # no retries when ops say so
    with pytest.raises(InvalidInput, match="HELPDESK_RR_REDIS_RETRIES must be a whole number"):
        Helpdesk.from_env(environ={"HELPDESK_RR_REDIS_RETRIES": "many"})
