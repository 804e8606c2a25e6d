"""Release vs bulk (issue 15), the first half of ``bench/capacity.py``: a release of the waiting queue
against a bulk job of the same tickets, same agents, same run. See ``bench/capacity.py`` for the method."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

import worker.core.bulk
import worker.core.release
from bench.bulk import commandstats_delta, patched, slowlog_read
from bench.common import median, ratio
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import BulkAssignRequest, TicketCreated
from worker.core.engine import Engine
from worker.core.script_sources import script_source

ACCOUNT = "bench-cap"
OWNER = "owner-1"
TEAM = "everyone"
CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.SOCIAL)
RELEASE_WORKLOADS = ("bulk", "bulk-capacity", "release")
LONG_CALL_US = 5_000
"""The issue's ceiling on one Redis call."""
SHAS = {
    name: hashlib.sha1(script_source(name).encode()).hexdigest()
    for name in ("bulk_assign", "bulk_finish", "release_waiting", "release_toasts")
}


def calls_over(client: redis.Redis, sha: str, limit_us: int) -> int:
    """How many EVALSHAs of ``sha`` SLOWLOG logged (since its last reset) as longer than ``limit_us``."""
    over = 0
    for entry in client.slowlog_get(1_000_000):
        command = entry["command"]
        words = (command.decode(errors="replace") if isinstance(command, bytes) else str(command)).split(" ", 2)
        if len(words) > 1 and words[0].lower() == "evalsha" and words[1] == sha and int(entry["duration"]) > limit_us:
            over += 1
    return over


def redis_cpu(client: redis.Redis) -> float:
    """Seconds of CPU the server's main thread has used (``INFO cpu``): unlike a wall-clock figure, it does not
    grow while the server waits for a core on a busy machine."""
    cpu = client.info("cpu")
    user = cpu.get("used_cpu_user_main_thread", cpu["used_cpu_user"])
    system = cpu.get("used_cpu_sys_main_thread", cpu["used_cpu_sys"])
    return float(user) + float(system)


def agent_ids(agents: int) -> list[str]:
    return [f"agent-{i:03d}" for i in range(1, agents + 1)]


def setup_backlog(client: redis.Redis, tickets: int, agents: int, capacity: int | None, auto: bool) -> Engine:
    """A flushed account whose ``tickets`` tickets wait with ``no_agent_online``; then every agent Online."""
    client.flushdb()
    now = datetime.now(UTC)
    engine = Engine(client)
    engine.upsert_user(ACCOUNT, OWNER, Role.OWNER, now)
    members = agent_ids(agents)
    for agent in members:
        engine.upsert_user(ACCOUNT, agent, Role.AGENT, now)
    engine.set_round_robin(ACCOUNT, True, OWNER, now)
    engine.set_team(ACCOUNT, TEAM, members, OWNER, now)
    if capacity is not None:
        engine.set_capacity(ACCOUNT, capacity, OWNER, now)
    if auto:
        engine.set_auto_assign(ACCOUNT, True, OWNER, now)
    step = timedelta(days=1) / max(tickets, 1)
    for i in range(tickets):
        event = TicketCreated(
            account_id=ACCOUNT,
            ticket_id=f"t{i:06d}",
            channel=CHANNELS[i % len(CHANNELS)],
            created_at=now - timedelta(days=1) + step * i,
            subject=f"bench ticket {i}",
        )
        decision = engine.decide(event, now)
        if decision.reason != "no_agent_online":
            raise RuntimeError(f"set-up: ticket {event.ticket_id} was {decision.outcome}/{decision.reason}")
    keys = engine.keys(ACCOUNT)
    if client.zcard(keys.unassigned) != tickets or client.zcard(keys.waiting) != tickets:
        raise RuntimeError("set-up: not every ticket waits")
    for agent in members:
        engine.set_status(ACCOUNT, agent, AgentStatus.ONLINE, agent, now)
    return engine


@contextmanager
def batch_hooks(engine: Engine, into: dict[str, list[Any]]) -> Iterator[None]:
    """Record every batch's (size, Redis-clock µs) as both jobs pass them to ``next_batch_size``, and, for
    the release, the send → reply time of each ``release_waiting`` call and the time in ``promote_due``
    and ``send_toasts``."""

    def sizer(original: Any) -> Any:
        def next_batch_size(size: int, redis_us: int, current: int) -> int:
            into["batches"].append((size, redis_us))
            return original(size, redis_us, current)  # type: ignore[no-any-return]

        return next_batch_size

    def timed(key: str, only: str | None = None) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    if only is None or args[0] == only:
                        into[key].append(time.perf_counter() - started)

            return call

        return wrap

    with ExitStack() as stack:
        stack.enter_context(patched(worker.core.bulk, "next_batch_size", sizer))
        stack.enter_context(patched(worker.core.release, "next_batch_size", sizer))
        stack.enter_context(patched(worker.core.release, "promote_due", timed("promote")))
        stack.enter_context(patched(worker.core.release, "send_toasts", timed("toasts")))
        stack.enter_context(patched(engine.scripts, "call", timed("release_calls", only="release_waiting")))
        yield


def _verify(client: redis.Redis, engine: Engine, assigned: int, tickets: int, agents: int, release: bool) -> None:
    keys = engine.keys(ACCOUNT)
    problems = []
    if assigned != tickets:
        problems.append(f"{assigned} assigned")
    if client.zcard(keys.unassigned) or client.zcard(keys.waiting):
        problems.append("tickets still wait")
    counts = sorted(int(v) for v in client.hgetall(keys.counts).values())
    if len(counts) != agents or sum(counts) != tickets or counts[-1] - counts[0] > 1:
        problems.append(f"per-agent counts {counts[:3]}…{counts[-3:]}")
    if release:
        loads = {int(v) for v in client.hgetall(keys.load).values()}
        if loads != {tickets // agents}:
            problems.append(f"loads {sorted(loads)}")
    if problems:
        raise RuntimeError(("release" if release else "bulk") + ": wrong result: " + "; ".join(problems))


def run_one(client: redis.Redis, workload: str, tickets: int, agents: int) -> dict[str, Any]:
    """One workload on a fresh backlog; returns its figures (checked)."""
    capacity = None if workload == "bulk" else -(-tickets // agents)
    engine = setup_backlog(client, tickets, agents, capacity, auto=workload == "release")
    keys = engine.keys(ACCOUNT)
    hooks: dict[str, list[Any]] = {"batches": [], "promote": [], "toasts": [], "release_calls": []}
    stats_before = client.info("commandstats")
    client.slowlog_reset()
    extra: dict[str, Any] = {}
    cpu_before, client_cpu_before = redis_cpu(client), time.process_time()
    with batch_hooks(engine, hooks):
        if workload == "release":
            started = time.perf_counter()
            result = worker.core.release.run_release(engine.scripts, keys, lambda: datetime.now(UTC))
            wall = time.perf_counter() - started
            assigned, sha, toasts_sha = result.assigned, SHAS["release_waiting"], SHAS["release_toasts"]
            extra = {"longest_us_ms": round(result.longest_us / 1000, 3), "toasts": result.toasts}
            extra["stale_calls"] = len(hooks["release_calls"]) - result.batches
            if result.toasts != agents:
                raise RuntimeError(f"release: {result.toasts} toasts for {agents} agents")
        else:
            request = BulkAssignRequest(account_id=ACCOUNT, team_id=TEAM, actor_id=OWNER, unassigned=True)
            job = worker.core.bulk.start_bulk_assign(client, request)
            started = time.perf_counter()
            body = worker.core.bulk.run_bulk_assign(engine, job, request)
            wall = time.perf_counter() - started
            assigned, sha, toasts_sha = int(body["assigned"]), SHAS["bulk_assign"], SHAS["bulk_finish"]
            extra = {"longest_us_ms": round(max((us for _, us in hooks["batches"]), default=0) / 1000, 3)}
    client_cpu = time.process_time() - client_cpu_before
    server_cpu = redis_cpu(client) - cpu_before
    slow, finish = slowlog_read(client, sha), slowlog_read(client, toasts_sha)
    over = calls_over(client, sha, LONG_CALL_US)
    commands = commandstats_delta(stats_before, client.info("commandstats"), tickets)
    _verify(client, engine, assigned, tickets, agents, release=workload == "release")
    sizes = sorted(size for size, _ in hooks["batches"])
    one: dict[str, Any] = {
        "workload": workload,
        "tickets": tickets,
        "agents": agents,
        "wall_ms": round(wall * 1000, 2),
        "tickets_per_s": round(tickets / wall),
        "redis_ms": round(slow["sum_us"] / 1000, 2),
        "redis_cpu_ms": round(server_cpu * 1000, 1),
        "client_cpu_ms": round(client_cpu * 1000, 1),
        "cpu_ms": round((server_cpu + client_cpu) * 1000, 1),
        "redis_us_per_ticket": round(slow["sum_us"] / tickets, 2),
        "longest_call_ms": round(slow["max_us"] / 1000, 3),
        "median_call_ms": round(slow["p50_us"] / 1000, 3),
        "calls": slow["calls"],
        "calls_over_5_ms": over,
        "median_batch": sizes[len(sizes) // 2] if sizes else 0,
        "max_batch": sizes[-1] if sizes else 0,
        "toast_calls_ms": round(finish["sum_us"] / 1000, 2),
        "longest_any_command": slow["any_max"],
        "commandstats_per_ticket": commands,
        **extra,
    }
    if workload == "release":
        calls_ms = sum(hooks["release_calls"]) * 1000
        promote_ms, toasts_ms = sum(hooks["promote"]) * 1000, sum(hooks["toasts"]) * 1000
        one["split_ms"] = {
            "batch calls": round(calls_ms, 1),
            "of which Redis": round(slow["sum_us"] / 1000, 1),
            "promote_due": round(promote_ms, 1),
            "toasts": round(toasts_ms, 1),
            "head read and the rest": round(wall * 1000 - calls_ms - promote_ms - toasts_ms, 1),
        }
    return one


def run_release_runs(
    client: redis.Redis, tickets: int, agents: int, repeats: int, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """An untimed warm-up of each workload, then each ``repeats`` times, alternating the order."""
    for workload in RELEASE_WORKLOADS:
        run_one(client, workload, min(tickets, 500), min(agents, 10))
    runs = []
    for repeat in range(repeats):
        order = RELEASE_WORKLOADS if repeat % 2 == 0 else tuple(reversed(RELEASE_WORKLOADS))
        for workload in order:
            one = run_one(client, workload, tickets, agents)
            one["repeat"] = repeat
            runs.append(one)
            log(
                f"  capacity: repeat {repeat} {workload:14}: {one['wall_ms']:8.1f} ms wall, Redis "
                f"{one['redis_ms']:7.1f} ms, longest call {one['longest_call_ms']:.2f} ms, {one['calls']} calls "
                f"({one['calls_over_5_ms']} over 5 ms)"
            )
    return runs


FIELDS = (
    "wall_ms",
    "tickets_per_s",
    "redis_ms",
    "redis_cpu_ms",
    "client_cpu_ms",
    "cpu_ms",
    "redis_us_per_ticket",
    "longest_call_ms",
    "median_call_ms",
    "longest_us_ms",
    "calls",
    "calls_over_5_ms",
    "median_batch",
)


def _paired(runs: list[dict[str, Any]], top: str, bottom: str, field: str) -> dict[str, Any]:
    values = []
    for repeat in sorted({r["repeat"] for r in runs}):
        pair = {r["workload"]: r for r in runs if r["repeat"] == repeat}
        values.append(ratio(pair[top][field], pair[bottom][field]))
    return {"median": round(median(values), 3), "min_max": [round(min(values), 3), round(max(values), 3)]}


def _mean_commands(per_run: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Calls and µs per ticket by command, averaged over the repeats (a command absent from a run counts 0)."""
    names = {name for run in per_run for name in run if not name.startswith("slowlog")}
    mean = {
        name: {
            field: round(sum(run.get(name, {}).get(field, 0) for run in per_run) / len(per_run), 3)
            for field in ("calls", "us")
        }
        for name in names
    }
    return dict(sorted(mean.items(), key=lambda kv: -kv[1]["us"]))


def release_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for name in RELEASE_WORKLOADS:
        mine = [r for r in runs if r["workload"] == name]
        cell: dict[str, Any] = {"repeats": len(mine)}
        for field in FIELDS:
            values = [r[field] for r in mine if r.get(field) is not None]
            if values:
                cell[field] = round(median(values), 3)
                cell[field + "_min_max"] = [min(values), max(values)]
        cell["commandstats_per_ticket"] = _mean_commands([r["commandstats_per_ticket"] for r in mine])
        cells[name] = cell
    releases = [r for r in runs if r["workload"] == "release"]
    split = {key: round(median([r["split_ms"][key] for r in releases]), 1) for key in releases[0]["split_ms"]}
    return {
        "workloads": cells,
        "paired": {
            "release_over_bulk_wall": _paired(runs, "release", "bulk", "wall_ms"),
            "release_over_bulk_redis": _paired(runs, "release", "bulk", "redis_ms"),
            "release_over_bulk_redis_cpu": _paired(runs, "release", "bulk", "redis_cpu_ms"),
            "release_over_bulk_cpu": _paired(runs, "release", "bulk", "cpu_ms"),
            "bulk_capacity_over_bulk_wall": _paired(runs, "bulk-capacity", "bulk", "wall_ms"),
            "bulk_capacity_over_bulk_redis": _paired(runs, "bulk-capacity", "bulk", "redis_ms"),
        },
        "fastest": {
            "release_over_bulk_wall": round(
                ratio(cells["release"]["wall_ms_min_max"][0], cells["bulk"]["wall_ms_min_max"][0]), 3
            ),
            "release_over_bulk_redis": round(
                ratio(cells["release"]["redis_ms_min_max"][0], cells["bulk"]["redis_ms_min_max"][0]), 3
            ),
        },
        "release_split_ms": split,
        "stale_calls": sum(r["stale_calls"] for r in releases),
    }
