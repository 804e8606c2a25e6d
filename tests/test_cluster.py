"""The engine on a Redis Cluster: the test launcher works, and no Lua call ever spans two slots.

Every key an account's scripts touch carries its partition's hash tag, so each call lands on one
slot: redis-py's ``RedisCluster`` refuses a call whose KEYS span slots before sending it, and a
cluster node refuses one itself (CROSSSLOT). Here every engine operation runs on a real cluster for
accounts whose partitions live on different nodes, and the KEYS of every call are checked as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ClusterCrossSlotError, RedisClusterException
from rq import Queue
from rq.job import Job

import worker.core.bulk
from producers.queue import SERIALIZER
from schemas.common import AgentStatus, Channel, Role, WebhookSecretName
from schemas.inbound import AgentFirstReply, BulkAssignRequest, TicketCreated
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW, TicketFactory
from tests.support.backends import all_keys
from tests.support.recording import RecordingScripts, exercise
from tests.support.redis_cluster import CLUSTER_SLOTS, RedisClusterServers
from tests.support.snapshots import agent_counts
from worker.core.bulk import BULK_JOB_FUNCTION, check_request, resolve_tickets, run_bulk_assign
from worker.core.capacity import claim
from worker.core.decide_many import Arrival, decide_many
from worker.core.decision import Decision
from worker.core.engine import Engine
from worker.core.keys import DEFAULT_PARTITIONS, AccountKeys, partition_of, partition_stream
from worker.core.presence import sweep_presence
from worker.core.queries import Queries
from worker.core.reassign import expire_unanswered
from worker.core.release import run_release
from worker.core.script_sources import SCRIPT_FILES
from worker.core.webhook_secrets import set_webhook_secret, webhook_secret
from worker.ops.redis_errors import RedisServerError

# --- the launcher ------------------------------------------------------------------------------


def _node_client(host: str, port: int) -> redis.Redis:
    return redis.Redis(host=host, port=port, socket_timeout=5)


def _raw(client: redis.Redis, *args: Any) -> str:
    reply = client.execute_command(*args)  # type: ignore[no-untyped-call]
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def test_local_cluster_has_three_primaries_with_a_replica_each(local_cluster: RedisClusterServers) -> None:
    primaries = local_cluster.primaries
    replicas = [node for node in local_cluster.nodes if not node.is_primary]
    assert len(primaries) == 3 and len(replicas) == 3
    assert {node.primary_id for node in replicas} == {node.node_id for node in primaries}
    assert local_cluster.url == primaries[0].url
    ranges = sorted(node.slots for node in primaries if node.slots)
    assert ranges[0][0] == 0 and ranges[-1][1] == CLUSTER_SLOTS - 1
    assert all(left[1] + 1 == right[0] for left, right in zip(ranges, ranges[1:], strict=False))
    for node in local_cluster.nodes:
        client = _node_client("127.0.0.1", node.port)
        try:
            assert _raw(client, "CLUSTER", "MYID") == node.node_id
            info = dict(line.split(":", 1) for line in _raw(client, "CLUSTER", "INFO").splitlines() if ":" in line)
            assert info["cluster_state"] == "ok"
            assert info["cluster_slots_ok"] == str(CLUSTER_SLOTS)
            assert info["cluster_known_nodes"] == "6"
        finally:
            client.close()


def test_the_cluster_is_ok_and_every_slot_is_served(cluster_redis: RedisCluster) -> None:
    primaries = cluster_redis.get_primaries()  # type: ignore[no-untyped-call]
    assert len(primaries) >= 2, "a one-node cluster would prove nothing about slots"
    covered: set[int] = set()
    for node in primaries:
        client = _node_client(node.host, node.port)
        try:
            assert "cluster_state:ok" in _raw(client, "CLUSTER", "INFO")
            for first, last, *_ in client.execute_command("CLUSTER", "SLOTS"):  # type: ignore[no-untyped-call]
                covered.update(range(int(first), int(last) + 1))
        finally:
            client.close()
    assert covered == set(range(CLUSTER_SLOTS))


def test_a_cluster_that_does_not_form_in_time_is_reported_and_stopped(tmp_path: Path) -> None:
    # A fresh cluster needs ~2 s before it reports ok (Redis's writable delay): 1 s is too short.
    directory = tmp_path / "cluster"
    with pytest.raises(RedisServerError, match="did not form") as raised:
        RedisClusterServers.start(directory, primaries=1, timeout=1.0)
    assert "cluster_state" in str(raised.value) and "redis.log ---" in str(raised.value)
    assert not _processes_in(directory), "a node of the failed cluster is still running"


def _processes_in(directory: Path) -> list[int]:
    """Pids of processes whose working directory is under ``directory`` (Linux /proc)."""
    if not Path("/proc/self/cwd").exists():  # pragma: no cover - not Linux
        return []
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cwd = Path(os.readlink(proc / "cwd"))
            except OSError:
                continue
            if cwd == directory or directory in cwd.parents:
                found.append(int(proc.name))
    return found


# --- slots and partitions ----------------------------------------------------------------------


def _accounts_on_every_primary(client: RedisCluster) -> list[str]:
    """One account per primary node, each on a different partition (and so a different slot)."""
    by_node: dict[str, str] = {}
    for n in range(10_000):
        account = f"acct{n}"
        node = client.get_node_from_key(AccountKeys.for_account(account).users)  # type: ignore[no-untyped-call]
        assert node is not None
        by_node.setdefault(node.name, account)
        if len(by_node) == len(client.get_primaries()):  # type: ignore[no-untyped-call]
            break
    return list(by_node.values())


def _every_key_of(keys: AccountKeys) -> list[str]:
    return [
        keys.users, keys.online, keys.places, keys.seq, keys.settings, keys.unassigned, keys.counts,
        keys.events, keys.partition_events, keys.teams, keys.team("t"), keys.metrics, keys.accounts,
        keys.stats("2026-11-24"), keys.stats_online("2026-11-24", "15"), keys.uq_depth,
        keys.bulk_tickets("j"), keys.bulk_progress("j"), keys.bulk_done("j"), keys.bulk_queue("j"), keys.ticket("t1"),
    ]  # fmt: skip


def test_every_key_of_an_account_is_in_its_partitions_slot(cluster_redis: RedisCluster) -> None:
    for account in ("acme", "globex", *_accounts_on_every_primary(cluster_redis)):
        keys = AccountKeys.for_account(account)
        slots = {key_slot(key.encode()) for key in _every_key_of(keys)}
        assert slots == {key_slot(partition_stream(partition_of(account)).encode())}
        nodes = {cluster_redis.get_node_from_key(key).name for key in _every_key_of(keys)}  # type: ignore[no-untyped-call]
        assert len(nodes) == 1


def test_partitions_are_spread_over_the_primaries(cluster_redis: RedisCluster) -> None:
    nodes = {cluster_redis.get_node_from_key(partition_stream(p)).name for p in range(DEFAULT_PARTITIONS)}  # type: ignore[no-untyped-call]
    assert len(nodes) == len(cluster_redis.get_primaries()), "cross-node behaviour would go untested"  # type: ignore[no-untyped-call]


def test_a_script_whose_keys_span_two_slots_is_refused(cluster_redis: RedisCluster) -> None:
    acme, other = _accounts_on_every_primary(cluster_redis)[:2]
    keys = [AccountKeys.for_account(acme).users, AccountKeys.for_account(other).users]
    # redis-py refuses it before sending ...
    script = cluster_redis.register_script("return 1")
    with pytest.raises(RedisClusterException, match="same key slot"):
        script(keys=keys)
    # ... and the server refuses it too, even when both slots are its own.
    node = cluster_redis.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]
    assert node is not None
    same_node = next(
        AccountKeys.for_account(f"x{n}").users
        for n in range(10_000)
        if cluster_redis.get_node_from_key(AccountKeys.for_account(f"x{n}").users) == node  # type: ignore[no-untyped-call]
        and key_slot(AccountKeys.for_account(f"x{n}").users.encode()) != key_slot(keys[0].encode())
    )
    client = _node_client(node.host, node.port)
    try:
        with pytest.raises(ClusterCrossSlotError):  # the server's CROSSSLOT reply
            client.eval("return 1", 2, keys[0], same_node)
    finally:
        client.close()


def test_all_keys_sees_every_node(cluster_redis: RedisCluster) -> None:
    """The snapshots the engine suite compares must cover the whole cluster, not one node."""
    written = {f"{{rr:p{p:02d}}}:probe".encode() for p in range(DEFAULT_PARTITIONS)}
    for key in written:
        cluster_redis.set(key, 1)
    assert set(all_keys(cluster_redis)) == written


# --- every operation on the cluster --------------------------------------------------------


def test_every_script_call_keeps_its_keys_in_one_slot_on_the_cluster(cluster_redis: RedisCluster) -> None:
    for account in _accounts_on_every_primary(cluster_redis):
        scripts = RecordingScripts(cluster_redis)  # type: ignore[arg-type]
        exercise(scripts, account)
        assert {name for name, _ in scripts.calls} == set(SCRIPT_FILES)
        slot = key_slot(AccountKeys.for_account(account).users.encode())
        for name, keys in scripts.calls:
            assert {key_slot(key.encode()) for key in keys} == {slot}, (name, keys)


@dataclass
class _Job:
    """What bulk.resolve_tickets needs of an RQ job (RQ itself does not run on a cluster)."""

    id: str


BERLIN = OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"])


def test_every_engine_operation_runs_on_the_cluster(cluster_redis: RedisCluster, make_ticket: TicketFactory) -> None:
    accounts = _accounts_on_every_primary(cluster_redis)
    engine = Engine(cluster_redis)  # type: ignore[arg-type]
    recording = engine.scripts = RecordingScripts(cluster_redis)  # type: ignore[arg-type]
    queries = Queries(cluster_redis)  # type: ignore[arg-type]
    for account in accounts:
        keys = engine.keys(account)
        engine.upsert_user(account, "max", Role.MANAGER, NOW)
        for agent in ("ana", "ben"):
            engine.upsert_user(account, agent, Role.AGENT, NOW)
            engine.set_status(account, agent, AgentStatus.ONLINE, agent, NOW)
        assert engine.set_round_robin(account, True, "max", NOW) is True
        assert engine.set_office_hours(account, BERLIN, "max", NOW) is True
        assert engine.set_team(account, "billing", ["ana", "ben"], "max", NOW) is True

        first = make_ticket(account_id=account, ticket_id="t1", created_at=NOW - timedelta(minutes=5))
        assert engine.decide(first, NOW, enqueued_at=NOW).agent_id == "ana"
        assert engine.decide(first, NOW).duplicate is True
        engine.load_office_hours(account)
        night = NOW - timedelta(hours=14)  # 02:00 in Berlin
        after_hours = make_ticket(account_id=account, ticket_id="t2", channel=Channel.WEBCHAT, created_at=night)
        assert engine.decide(after_hours, NOW).reason == "after_hours"
        reply = AgentFirstReply.model_validate(
            {"account_id": account, "ticket_id": "t1", "agent_id": "ana", "replied_at": NOW},
            context={"now": NOW},
        )
        assert engine.record_first_reply(reply, NOW) == (300, False)

        request = BulkAssignRequest(account_id=account, team_id="billing", actor_id="max", unassigned=True)
        check_request(cluster_redis, request)  # type: ignore[arg-type]
        tickets = resolve_tickets(engine, _Job("job1"), request)  # type: ignore[arg-type]
        assert tickets == ["t2"]
        assert resolve_tickets(engine, _Job("job1"), request) == ["t2"]  # type: ignore[arg-type]
        batch = engine.scripts.bulk_assign(keys, "billing", "job1", tickets, 0, NOW)
        assert batch.assigned == 1
        assert engine.scripts.bulk_finish(keys, "billing", "job1", NOW, 60) == 1
        removed, _ = engine.scripts.trim_events(keys.partition_events, horizon_ms=1)
        assert removed == 0
        assert engine.close_ticket(account, "t2", NOW).agent_id == "ben"
        assert engine.reopen_ticket(account, "t2", NOW).changed is True
        assert engine.set_capacity(account, 5, "max", NOW) is True
        assert engine.set_auto_assign(account, True, "max", NOW) is True
        overnight = make_ticket(account_id=account, ticket_id="t3", channel=Channel.WEBCHAT, created_at=night)
        assert engine.decide(overnight, NOW).reason == "after_hours"  # opened at 08:00 Berlin, before NOW
        assert claim(engine.scripts, keys, NOW) is True
        assert run_release(engine.scripts, keys, lambda: NOW).assigned == 1
        assert engine.set_presence_timeout(account, 60, "max", NOW) is True
        assert engine.heartbeat(account, "ben", NOW) is True
        expired = sweep_presence(engine.scripts, engine.keys, DEFAULT_PARTITIONS, NOW + timedelta(minutes=2))
        assert [(a, agent) for a, agent in expired if a == account] == [(account, "ana"), (account, "ben")]
        engine.set_status(account, "ana", AgentStatus.ONLINE, "ana", NOW)
        engine.set_status(account, "ben", AgentStatus.ONLINE, "ben", NOW)
        assert engine.set_reassign_away(account, True, 0, "max", NOW) is True
        assert engine.set_reassign_unanswered(account, 60, 1, "max", NOW) is True
        assert engine.customer_reply(account, "t2", NOW, NOW).outcome == "kept"  # ben is Online
        assert expire_unanswered(engine.scripts, keys, "t2", NOW)[0] == "dropped"  # bulk-assigned: not automatic
        assert engine.set_agent_channels(account, "ben", ["email"], "max", NOW) is True  # per-channel pools
        assert set_webhook_secret(engine.scripts, keys, WebhookSecretName.WEBCHAT, "s3cret", "max", NOW) is True
        assert webhook_secret(cluster_redis, keys, WebhookSecretName.WEBCHAT) == "s3cret"

        assert [view.user_id for view in queries.users(account)] == ["ana", "ben", "max"]
        assert queries.unassigned(account) == []
        assert queries.ticket(account, "t2")["agent_id"] == "ben"  # type: ignore[index]
        assert queries.ticket(account, "t3")["reason"] == "waiting_queue"  # type: ignore[index]
        assert queries.settings(account).office_hours == BERLIN
        assert [team.team_id for team in queries.teams(account)] == ["billing"]
        assert agent_counts(queries.client, account) == {"ana": 2, "ben": 1}
        assert any(event.type == "toast" for _, event in queries.events(account))
        arrivals = [  # the burst intake's batch: a duplicate and a new ticket in one call
            Arrival(TicketCreated(account_id=account, ticket_id=ticket_id, channel=Channel.EMAIL, created_at=NOW))
            for ticket_id in ("t2", "t9")
        ]
        duplicate, decided = decide_many(engine, arrivals, NOW)
        assert isinstance(duplicate, Decision) and duplicate.duplicate and duplicate.agent_id == "ben"
        assert isinstance(decided, Decision) and decided.outcome == "assigned" and not decided.duplicate

    assert {name for name, _ in recording.calls} == set(SCRIPT_FILES)
    for name, call_keys in recording.calls:
        assert len({key_slot(key.encode()) for key in call_keys}) == 1, (name, call_keys)


def test_a_bulk_job_pipelines_its_batches_to_the_node_of_its_account(
    cluster_redis: RedisCluster, real_redis: redis.Redis, make_ticket: TicketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's batches go, several in flight, over one connection to the node serving the account's
    slot (worker/core/script_pipeline.py); its RQ job lives on the queue Redis, as in production."""
    monkeypatch.setattr(worker.core.bulk, "BATCH_SIZE", 4)
    monkeypatch.setattr(worker.core.bulk, "BATCH_TARGET_US", None)
    engine = Engine(cluster_redis)  # type: ignore[arg-type]
    queries = Queries(cluster_redis)  # type: ignore[arg-type]
    for account in _accounts_on_every_primary(cluster_redis):
        engine.upsert_user(account, "max", Role.MANAGER, NOW)
        for agent in ("ana", "ben"):
            engine.upsert_user(account, agent, Role.AGENT, NOW)
            engine.set_status(account, agent, AgentStatus.ONLINE, agent, NOW)
        engine.set_team(account, "billing", ["ana", "ben"], "max", NOW)
        engine.set_round_robin(account, False, "max", NOW)
        for i in range(30):
            ticket = make_ticket(account_id=account, ticket_id=f"t{i}", created_at=NOW - timedelta(minutes=i))
            engine.decide(ticket, NOW)
        engine.set_round_robin(account, True, "max", NOW)
        request = BulkAssignRequest(account_id=account, team_id="billing", actor_id="max", unassigned=True)
        job = Queue("cluster-bulk", connection=real_redis, serializer=SERIALIZER).enqueue(
            BULK_JOB_FUNCTION, request.model_dump(mode="json")
        )
        result = run_bulk_assign(engine, job, request)
        assert (result["tickets"], result["assigned"], result["toasts"]) == (30, 30, 2)
        assert queries.unassigned(account) == []
        assert agent_counts(queries.client, account) == {"ana": 15, "ben": 15}
        assert Job.fetch(job.id, connection=real_redis, serializer=SERIALIZER).meta["progress"]["done"] == 30


def test_scripts_reload_after_a_script_flush_on_every_primary(cluster_redis: RedisCluster) -> None:
    engine = Engine(cluster_redis)  # type: ignore[arg-type]
    accounts = _accounts_on_every_primary(cluster_redis)
    for account in accounts:
        engine.upsert_user(account, "ana", Role.AGENT, NOW)
    assert cluster_redis.script_flush() is True  # on every primary
    for account in accounts:
        assert engine.set_status(account, "ana", AgentStatus.ONLINE, "ana", NOW) is True
