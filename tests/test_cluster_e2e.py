"""The end-to-end flow on the split topology: decision state and events on a Redis Cluster, RQ
queues on two standalone queue shards, workers spread over the shards, driven through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis
from redis.cluster import RedisCluster

from producers.routing import shard_of
from schemas.events import parse_event
from worker.ops.consumer import EventConsumer

pytestmark = pytest.mark.slow

COMMAND = [sys.executable, "-m", "worker.cli", "--log-json"]


def shard_urls(redis_url: str) -> tuple[str, str]:
    """Two queue shards: databases 1 and 2 of the session's standalone server."""
    joiner = "&" if "?" in redis_url else "?"
    if redis_url.startswith("unix://"):
        return f"{redis_url}{joiner}db=1", f"{redis_url}{joiner}db=2"
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    return f"{base}/1", f"{base}/2"


@pytest.fixture
def split_env(cluster_redis: RedisCluster, cluster_url: str, redis_url: str) -> dict[str, str]:
    shards = shard_urls(redis_url)
    for url in shards:
        redis.Redis.from_url(url).flushdb()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["REDIS_STATE_URL"] = cluster_url.replace("redis://", "redis+cluster://", 1)
    env["REDIS_QUEUE_URLS"] = ",".join(shards)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_tickets_flow_through_queue_shards_to_a_cluster(
    split_env: dict[str, str], cluster_redis: redis.Redis, redis_url: str
) -> None:
    first = "acme"
    second = next(f"acct{n}" for n in range(100) if shard_of(f"acct{n}", 2) != shard_of(first, 2))
    accounts = [first, second]
    for account in accounts:
        cli(split_env, "user", account, "boss", "--role", "owner")
        cli(split_env, "user", account, "ana", "--role", "agent")
        cli(split_env, "user", account, "ben", "--role", "agent")
        cli(split_env, "round-robin", account, "on", "--actor", "boss")
        cli(split_env, "status", account, "ana", "online")
        cli(split_env, "status", account, "ben", "online")
        for n in range(4):
            cli(split_env, "ticket", account, f"{account}-{n}", "--channel", "email")
    queued = [redis.Redis.from_url(url).llen("rq:queue:helpdesk-rr") for url in shard_urls(redis_url)]
    assert sorted(queued) == [4, 4], "each account's tickets sit on its own queue shard"

    cli(split_env, "worker", "--burst", "--processes", "2")

    for account in accounts:
        events = [parse_event(line) for line in cli(split_env, "events", account, "--json").splitlines()]
        assert [e.agent_id for e in events if e.type == "ticket.assigned"] == ["ana", "ben", "ana", "ben"]
    # cluster_redis is a RedisCluster, typed as the redis.Redis the worker takes (the same commands)
    consumer = EventConsumer(cluster_redis, "toasts", "c1", block_ms=None)
    consumer.ensure_groups("0")
    seen: list[str] = []
    while deliveries := consumer.poll():
        seen.extend(d.event.type for d in deliveries if d.event is not None)
        consumer.ack(deliveries)
    assert seen.count("ticket.assigned") == 8 and seen.count("toast") == 8

    # the metrics endpoint reads the cluster for decisions and each shard for its queue
    from prometheus_client import generate_latest

    from worker.ops.metrics import build_registry

    shards = [redis.Redis.from_url(url) for url in shard_urls(redis_url)]
    text = generate_latest(build_registry(cluster_redis, queues=shards)).decode()
    assert 'helpdesk_rr_decisions_total{outcome="assigned",reason="round_robin"} 8.0' in text
    assert "helpdesk_rr_queue_depth 0.0" in text
