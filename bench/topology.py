"""Topologies: single Redis vs queue shards vs state on a Redis Cluster, tickets decided per second.

    python -m bench --only topology [--quick]

Four topologies (worker/runtime/topology.py), each drained by ``helpdesk-rr --log-json worker --burst
--processes 2`` (SimpleWorker; stdout/stderr to /dev/null), all jobs enqueued first:

- **(a) single** — ``REDIS_URL`` only: state and the one RQ queue on the suite's throwaway Redis
  (the baseline);
- **(b) 2 queue shards** — ``REDIS_QUEUE_URLS`` = two more standalone redis-servers, state
  (``REDIS_STATE_URL``) on the suite's Redis; worker process i drains shard i;
- **(c) cluster + 1 shard** — state on a local 3-primary Redis Cluster (``redis+cluster://``, no
  replicas), queues on one standalone redis-server;
- **(d) cluster + 2 shards** — the cluster and both queue shards.

Six accounts (5 Online agents each, round robin on, no office hours: every ticket takes the full
assign path), chosen so that three route to each queue shard (``shard_of``) and their partitions'
hash tags fall two on each cluster primary; tickets are interleaved over the accounts. Every server
runs on this machine. Throughput = tickets / (first job started → last job ended), from RQ's stamps
on the jobs (all shards); every job must finish and every ticket have a decision record. Topologies
rotate order between repeats and each is a **ratio to (a) of the same repeat** (median, range).
Also recorded: CPU seconds per 1,000 tickets of the worker processes (``RUSAGE_CHILDREN``) and of
every redis-server involved (``INFO cpu``).

**Decision alone**: 1 and 2 forked client processes call ``Engine.decide`` in a loop (one
``EVALSHA`` round trip per ticket, distinct tickets of the six accounts) on a ``redis.Redis`` to the
single Redis vs a ``RedisCluster`` client to the cluster (the client ``REDIS_STATE_URL`` gives the
worker), paired per repeat.
"""

from __future__ import annotations

import multiprocessing
import resource
import shutil
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from rq import Queue
from rq.job import Job

from bench.common import helpdesk_rr_command, markdown_table, median, ratio, run_quietly, worker_env
from bench.inprocess import make_events, parse_stamp, setup_account
from producers.queue import QUEUE_NAME, SERIALIZER
from producers.routing import QueueRouter, shard_of
from schemas.inbound import TicketCreated
from tests.support.redis_cluster import RedisClusterServers
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.ops.redis_process import RedisServer
from worker.runtime.topology import connect_state

NAME = "topology"
TITLE = "Topologies: queue shards and a Redis Cluster"
TOPOLOGIES = ("single", "shards2", "cluster1", "cluster2")
LABELS = {
    "single": "(a) single Redis (`REDIS_URL`)",
    "shards2": "(b) 2 queue shards + state on 1 standalone Redis",
    "cluster1": "(c) state on 3-primary cluster + 1 queue shard",
    "cluster2": "(d) state on 3-primary cluster + 2 queue shards",
}
PRIMARIES = 3
ACCOUNTS_PER_SHARD = 3
DRAIN_TIMEOUT_SECONDS = 900
ENQUEUE_CHUNK = 1000
CLUSTER_SLOTS = 16384


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"tickets": 600, "processes": 2, "repeats": 1, "decide_per_proc": 500, "decide_procs": [1, 2]}
    return {"tickets": 4200, "processes": 2, "repeats": 3, "decide_per_proc": 3000, "decide_procs": [1, 2]}


# --------------------------------------------------------------------------------------------
# Accounts and servers
# --------------------------------------------------------------------------------------------


def primary_of(account: str) -> int:
    """Which of the cluster's primaries (slots split evenly, as RedisClusterServers does) holds the
    account's keys."""
    slot = key_slot(AccountKeys.for_account(account).users.encode())
    return next(n for n in range(PRIMARIES) if slot <= (n + 1) * CLUSTER_SLOTS // PRIMARIES - 1)


def pick_accounts() -> list[str]:
    """Three accounts per queue shard (of 2), two per cluster primary (of 3)."""
    per_shard = {0: 0, 1: 0}
    per_primary = dict.fromkeys(range(PRIMARIES), 0)
    chosen: list[str] = []
    for n in range(10_000):
        account = f"bench-acct{n}"
        shard, primary = shard_of(account, 2), primary_of(account)
        if per_shard[shard] < ACCOUNTS_PER_SHARD and per_primary[primary] < 2:
            chosen.append(account)
            per_shard[shard] += 1
            per_primary[primary] += 1
        if len(chosen) == 2 * ACCOUNTS_PER_SHARD:
            return chosen
    raise RuntimeError("could not pick balanced accounts")


def interleaved_events(accounts: list[str], count: int, prefix: str) -> list[TicketCreated]:
    per = count // len(accounts)
    lists = [make_events(per, prefix=prefix, account=account) for account in accounts]
    return [event for group in zip(*lists, strict=True) for event in group]


class Servers:
    """The suite's Redis plus two queue shards and a 3-primary cluster, started here."""

    def __init__(self, url: str, directory: Path, binary: str | None) -> None:
        self.single_url = url
        self.shards: list[RedisServer] = []
        self.cluster: RedisClusterServers | None = None
        for n in range(2):
            self.shards.append(RedisServer.start(directory / f"shard{n}", binary=binary, unix_socket=False))
        self.cluster = RedisClusterServers.start(directory / "cluster", primaries=PRIMARIES, binary=binary)

    @property
    def cluster_url(self) -> str:
        assert self.cluster is not None
        return self.cluster.url.replace("redis://", "redis+cluster://", 1)

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        for server in self.shards:
            server.stop()

    def layout(self, topology: str) -> tuple[str, list[str]]:
        """(state URL, queue URLs) of a topology."""
        shards = [s.url for s in self.shards]
        return {
            "single": (self.single_url, [self.single_url]),
            "shards2": (self.single_url, shards),
            "cluster1": (self.cluster_url, shards[:1]),
            "cluster2": (self.cluster_url, shards),
        }[topology]

    def server_urls(self, topology: str) -> list[str]:
        """Every redis-server a topology uses (for CPU accounting)."""
        state, queues = self.layout(topology)
        assert self.cluster is not None
        states = [n.url for n in self.cluster.primaries] if state.startswith("redis+cluster") else [state]
        return list(dict.fromkeys(states + queues))


def redis_cpu(urls: list[str]) -> float:
    total = 0.0
    for url in urls:
        client = redis.Redis.from_url(url)
        info = client.info("cpu")
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        client.close()
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def flush(state: Any, queues: list[redis.Redis]) -> None:
    if isinstance(state, RedisCluster):
        state.flushdb(target_nodes=RedisCluster.PRIMARIES)
    else:
        state.flushdb()
    for queue in queues:
        queue.flushdb()


# --------------------------------------------------------------------------------------------
# One drain
# --------------------------------------------------------------------------------------------


def drain_env(state_url: str, queue_urls: list[str], pycache: Path) -> dict[str, str]:
    env = worker_env(pycache)
    for name in ("REDIS_URL", "REDIS_STATE_URL", "REDIS_QUEUE_URLS"):
        env.pop(name, None)
    if queue_urls == [state_url]:
        env["REDIS_URL"] = state_url
    else:
        env["REDIS_STATE_URL"] = state_url
        env["REDIS_QUEUE_URLS"] = ",".join(queue_urls)
    return env


def run_once(
    servers: Servers, topology: str, accounts: list[str], count: int, procs: int, pycache: Path
) -> dict[str, Any]:
    state_url, queue_urls = servers.layout(topology)
    state = connect_state(state_url)
    queues = [redis.Redis.from_url(u) for u in queue_urls]
    try:
        flush(state, queues)
        for account in accounts:
            setup_account(state, account=account)
        events = interleaved_events(accounts, count, prefix=f"{topology[:2]}")
        router = QueueRouter(queues)
        ids_by_shard: dict[int, list[str]] = {n: [] for n in range(len(queues))}
        started = time.perf_counter()
        for start in range(0, len(events), ENQUEUE_CHUNK):
            chunk = events[start : start + ENQUEUE_CHUNK]
            for shard in ids_by_shard:  # the router's own pipelines, grouped here to know each job's shard
                mine = [e for e in chunk if shard_of(e.account_id, len(queues)) == shard]
                ids_by_shard[shard] += [job.id for job in router.enqueue_many(mine)] if mine else []
        enqueue_seconds = time.perf_counter() - started

        server_urls = servers.server_urls(topology)
        redis_before, workers_before = redis_cpu(server_urls), children_cpu()
        command = helpdesk_rr_command() + ["--log-json", "worker", "--burst", "--processes", str(procs)]
        started = time.perf_counter()
        process = run_quietly(command, drain_env(state_url, queue_urls, pycache))
        try:
            code = process.wait(timeout=DRAIN_TIMEOUT_SECONDS)
        except BaseException:
            process.terminate()
            process.wait(timeout=30)
            raise
        wall = time.perf_counter() - started
        redis_seconds = redis_cpu(server_urls) - redis_before
        worker_seconds = children_cpu() - workers_before
        if code != 0:
            raise RuntimeError(f"{topology}: worker exited with status {code}")

        starts, ends, per_shard = [], [], []
        for shard, queue_client in enumerate(queues):
            ids = ids_by_shard[shard]
            q = Queue(QUEUE_NAME, connection=queue_client, serializer=SERIALIZER)
            got = (q.count, q.finished_job_registry.count, q.failed_job_registry.count)
            if got != (0, len(ids), 0):
                raise RuntimeError(f"{topology}: shard {shard} queued/finished/failed = {got}, expected {len(ids)}")
            pipe = queue_client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(Job.key_for(job_id), ["started_at", "ended_at"])
            for started_at, ended_at in pipe.execute():
                starts.append(parse_stamp(started_at))
                ends.append(parse_stamp(ended_at))
            per_shard.append(len(ids))
        window = (max(ends) - min(starts)).total_seconds()
        engine = Engine(state)
        pipe = state.pipeline(transaction=False)
        for event in events:
            pipe.hget(engine.keys(event.account_id).ticket(event.ticket_id), "status")
        statuses = pipe.execute()
        assigned = sum(1 for s in statuses if s == b"assigned")
        if assigned != len(events):
            raise RuntimeError(f"{topology}: {assigned} of {len(events)} tickets assigned")
        flush(state, queues)
    finally:
        state.close()
        for queue in queues:
            queue.close()
    n = len(events)
    return {
        "topology": topology,
        "tickets": n,
        "jobs_per_shard": per_shard,
        "enqueue_seconds": round(enqueue_seconds, 3),
        "drain_seconds": round(window, 3),
        "wall_seconds": round(wall, 3),
        "drain_tickets_per_s": round(n / window, 1),
        "wall_tickets_per_s": round(n / wall, 1),
        "worker_cpu_s_per_1000": round(worker_seconds / n * 1000, 3),
        "redis_cpu_s_per_1000": round(redis_seconds / n * 1000, 3),
    }


# --------------------------------------------------------------------------------------------
# The decision alone
# --------------------------------------------------------------------------------------------


def _decide_child(url: str, events: list[TicketCreated], start: Any, out: Any) -> None:
    client = connect_state(url)
    engine = Engine(client)
    now = datetime.now(UTC)
    for account in {e.account_id for e in events}:
        engine.load_office_hours(account)
    start.wait()
    began = time.time()
    for event in events:
        engine.decide(event, now)
    out.put((began, time.time()))
    client.close()


def decide_run(url: str, accounts: list[str], procs: int, per_proc: int, tag: str) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    children = [
        ctx.Process(
            target=_decide_child,
            args=(url, interleaved_events(accounts, per_proc, prefix=f"{tag}-{n}-"), start, out),
            daemon=True,
        )
        for n in range(procs)
    ]
    for child in children:
        child.start()
    time.sleep(0.5)
    start.set()
    spans = [out.get(timeout=600) for _ in children]
    for child in children:
        child.join(timeout=60)
        if child.exitcode != 0:
            raise RuntimeError(f"decide child exited with {child.exitcode}")
    seconds = max(e for _, e in spans) - min(b for b, _ in spans)
    total = procs * (per_proc // len(accounts)) * len(accounts)
    return {"tickets": total, "seconds": round(seconds, 4), "tickets_per_s": round(total / seconds)}


def decide_bench(servers: Servers, accounts: list[str], p: dict[str, Any]) -> list[dict[str, Any]]:
    urls = {"single": servers.single_url, "cluster": servers.cluster_url}
    runs = []
    for name, url in urls.items():
        state = connect_state(url)
        flush(state, [])
        for account in accounts:
            setup_account(state, account=account)
        state.close()
        decide_run(url, accounts, 1, 60, f"warm-{name}")
    for repeat in range(p["repeats"]):
        order = list(urls) if repeat % 2 == 0 else list(reversed(urls))
        for procs in p["decide_procs"]:
            for name in order:
                r = decide_run(urls[name], accounts, procs, p["decide_per_proc"], f"r{repeat}p{procs}{name[0]}")
                r.update({"state": name, "procs": procs, "repeat": repeat})
                runs.append(r)
                print(f"  {NAME}: decide repeat {repeat} x{procs} {name}: {r['tickets_per_s']} tickets/s", flush=True)
    for url in urls.values():
        state = connect_state(url)
        flush(state, [])
        state.close()
    return runs


# --------------------------------------------------------------------------------------------
# The bench
# --------------------------------------------------------------------------------------------


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    accounts = pick_accounts()
    directory = Path(tempfile.mkdtemp(prefix="rr-bench-topo-"))
    pycache = Path(tempfile.mkdtemp(prefix="rr-bench-pyc-"))
    probe = redis.Redis.from_url(url)
    binary = probe.info("server").get("executable") or None
    probe.close()
    runs: list[dict[str, Any]] = []
    servers: Servers | None = None
    try:
        servers = Servers(url, directory, binary)
        for topology in TOPOLOGIES:  # warm-up: bytecode and script caches, connections
            run_once(servers, topology, accounts, 60, p["processes"], pycache)
        for repeat in range(p["repeats"]):
            shift = repeat % len(TOPOLOGIES)
            order = TOPOLOGIES[shift:] + TOPOLOGIES[:shift]
            for topology in order:
                r = run_once(servers, topology, accounts, p["tickets"], p["processes"], pycache)
                r["repeat"] = repeat
                runs.append(r)
                print(
                    f"  {NAME}: repeat {repeat} {topology}: {r['drain_tickets_per_s']} tickets/s "
                    f"(worker CPU {r['worker_cpu_s_per_1000']} s/1000, redis CPU {r['redis_cpu_s_per_1000']} s/1000)",
                    flush=True,
                )
        decide_runs = decide_bench(servers, accounts, p)
    finally:
        if servers is not None:
            servers.stop()
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(pycache, ignore_errors=True)

    cells = []
    for topology in TOPOLOGIES:
        mine = [r for r in runs if r["topology"] == topology]
        paired = []
        for r in mine:
            base = next(b for b in runs if b["topology"] == "single" and b["repeat"] == r["repeat"])
            paired.append(ratio(r["drain_tickets_per_s"], base["drain_tickets_per_s"]))
        rates = [r["drain_tickets_per_s"] for r in mine]
        cells.append(
            {
                "topology": topology,
                "tickets": mine[0]["tickets"],
                "jobs_per_shard": mine[0]["jobs_per_shard"],
                "drain_tickets_per_s": round(median(rates), 1),
                "min_max": [min(rates), max(rates)],
                "over_single": {
                    "median": round(median(paired), 3),
                    "min_max": [round(min(paired), 3), round(max(paired), 3)],
                },
                "worker_cpu_s_per_1000": round(median([r["worker_cpu_s_per_1000"] for r in mine]), 3),
                "redis_cpu_s_per_1000": round(median([r["redis_cpu_s_per_1000"] for r in mine]), 3),
            }
        )
    decide_cells = []
    for procs in p["decide_procs"]:
        cell: dict[str, Any] = {"procs": procs}
        for name in ("single", "cluster"):
            rates = [r["tickets_per_s"] for r in decide_runs if (r["procs"], r["state"]) == (procs, name)]
            cell[name] = {"tickets_per_s": median(rates), "min_max": [min(rates), max(rates)]}
        paired = []
        for repeat in range(p["repeats"]):
            pair = {r["state"]: r for r in decide_runs if r["procs"] == procs and r["repeat"] == repeat}
            paired.append(ratio(pair["cluster"]["tickets_per_s"], pair["single"]["tickets_per_s"]))
        cell["cluster_over_single"] = {
            "median": round(median(paired), 3),
            "min_max": [round(min(paired), 3), round(max(paired), 3)],
        }
        decide_cells.append(cell)
    by = {c["topology"]: c["over_single"]["median"] for c in cells}
    return {
        "params": p,
        "accounts": {a: {"queue_shard_of_2": shard_of(a, 2), "cluster_primary": primary_of(a)} for a in accounts},
        "summary": {"cells": cells, "decide": decide_cells},
        "runs": runs,
        "decide_runs": decide_runs,
        "verdict": {
            "shards2_over_single": by["shards2"],
            "cluster1_over_single": by["cluster1"],
            "cluster2_over_single": by["cluster2"],
            "decide_cluster_over_single": min(c["cluster_over_single"]["median"] for c in decide_cells),
            "all_topologies_end_to_end": True,
        },
    }


def _range(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(values[0])}–{fmt.format(values[1])}"


def render(result: dict[str, Any]) -> str:
    p = result["params"]
    rows = []
    for cell in result["summary"]["cells"]:
        rows.append(
            [
                LABELS[cell["topology"]],
                f"{cell['tickets']:,} ({' / '.join(str(n) for n in cell['jobs_per_shard'])})",
                f"{cell['drain_tickets_per_s']:.0f} ({_range(cell['min_max'], '{:.0f}')})",
                f"**{cell['over_single']['median']:.2f}** ({_range(cell['over_single']['min_max'])})",
                f"{cell['worker_cpu_s_per_1000']:.2f}",
                f"{cell['redis_cpu_s_per_1000']:.2f}",
            ]
        )
    table = markdown_table(
        [
            f"topology ({p['processes']} worker processes)",
            "tickets (per queue shard)",
            "drain tickets/s (min–max)",
            "/ (a), paired (min–max)",
            "worker CPU s / 1,000 tickets",
            "Redis CPU s / 1,000 tickets (all servers)",
        ],
        rows,
    )
    drows = []
    for cell in result["summary"]["decide"]:
        s, c, r = cell["single"], cell["cluster"], cell["cluster_over_single"]
        drows.append(
            [
                f"{cell['procs']} process{'es' if cell['procs'] > 1 else ''}, `Engine.decide` in a loop",
                f"{s['tickets_per_s']:,.0f} ({s['min_max'][0]:,}–{s['min_max'][1]:,})",
                f"{c['tickets_per_s']:,.0f} ({c['min_max'][0]:,}–{c['min_max'][1]:,})",
                f"**{r['median']:.2f}** ({_range(r['min_max'])})",
            ]
        )
    table += "\n\n" + markdown_table(
        ["decision alone", "single Redis tickets/s", "3-primary cluster tickets/s", "cluster / single (paired)"],
        drows,
    )
    return table + "\n\n" + conclusion(result)


def busy_cores(runs: list[dict[str, Any]], topology: str) -> float:
    """Median cores kept busy over the wall time by the workers and the redis-servers together."""
    return median(
        [
            (r["worker_cpu_s_per_1000"] + r["redis_cpu_s_per_1000"]) / 1000 * r["wall_tickets_per_s"]
            for r in runs
            if r["topology"] == topology
        ]
    )


def conclusion(result: dict[str, Any]) -> str:
    """What the figures show, written from them (so a re-run keeps the text honest)."""
    cells = {c["topology"]: c for c in result["summary"]["cells"]}
    decide = {c["procs"]: c for c in result["summary"]["decide"]}
    nproc = result.get("machine", {}).get("nproc", "?")
    single, cluster1 = cells["single"], cells["cluster1"]
    split = [cells[t]["over_single"]["median"] for t in ("shards2", "cluster1", "cluster2")]
    busy = {t: busy_cores(result["runs"], t) for t in TOPOLOGIES}
    cpu = {t: cells[t]["worker_cpu_s_per_1000"] + cells[t]["redis_cpu_s_per_1000"] for t in TOPOLOGIES}
    one = decide.get(1) or next(iter(decide.values()))
    us_single = 1e6 / one["single"]["tickets_per_s"]
    us_cluster = 1e6 / one["cluster"]["tickets_per_s"]
    worker_extra = (cluster1["worker_cpu_s_per_1000"] - single["worker_cpu_s_per_1000"]) * 1000
    redis_ms = single["redis_cpu_s_per_1000"]
    worker_share = single["worker_cpu_s_per_1000"] / cpu["single"]
    if max(split) < 0.97:
        direction = "every split topology is slower than one Redis"
    elif min(split) > 1.03:
        direction = f"every split topology drains a little faster than one Redis ({min(split):.2f}–{max(split):.2f}×)"
    else:
        direction = f"the split topologies are within a few per cent of one Redis ({min(split):.2f}–{max(split):.2f}×)"
    shown = ", ".join
    two = ""
    if 2 in decide and one is not decide[2]:
        two = f"; {decide[2]['cluster_over_single']['median']:.2f}× with 2 processes, which share the single Redis"
    c_ratio = cluster1["over_single"]["median"]
    if c_ratio >= 1:
        hidden = f"it is hidden in tickets/s by the split's own gain ((c) drains at {c_ratio:.2f}×)"
    else:
        hidden = f"it shows in tickets/s: (c) drains at {c_ratio:.2f}×"
    first = (
        f"**Conclusion.** Every server and both worker processes share this machine's {nproc} cores, so sharding "
        "the queues or putting the state on a cluster cannot add CPU here; it can only change how much of the CPU "
        f"is used and what the split itself costs. In this run {direction}. The CPU spent per ticket (workers + "
        "every redis-server) hardly moves: "
        + shown(f"{LABELS[t].split(' ')[0]} {cpu[t]:.2f} s" for t in TOPOLOGIES)
        + " per 1,000 tickets. What moves is how busy the cores are over the run: "
        + shown(f"{LABELS[t].split(' ')[0]} {busy[t]:.2f}" for t in TOPOLOGIES)
        + f" of {nproc} (other jobs on the machine not counted). With one Redis, both workers' ~21 round trips "
        "per job (per-ticket path section) queue on one single-threaded server and the cores idle in between; "
        "with a queue server per worker they wait less. That, most likely, is where the gain comes from, and it stops "
        "at the core count: on one machine there is no more to win."
    )
    second = (
        f"The split is not free. The decision alone costs {us_cluster - us_single:.0f} µs more per call through "
        f"the cluster client ({us_cluster:.0f} vs {us_single:.0f} µs with 1 process: "
        f"**{one['cluster_over_single']['median']:.2f}×** the throughput{two}); in the drain the workers spend "
        f"{worker_extra:+.0f} µs of CPU per ticket with the state on the cluster, (c) vs (a), most likely "
        f"RedisCluster's per-call routing in the client. Diluted by RQ's ~21 round trips per job, {hidden}. Above "
        "all the run shows the split topologies work end to end through the CLI: every job finished on its own "
        "shard and every ticket got its decision record on the state Redis or cluster."
    )
    third = (
        "**On several machines** (each queue shard and cluster primary on its own host, the workers on others) "
        f"the picture changes. Here {worker_share:.0%} of the CPU per ticket is the worker processes (RQ plus our "
        f"job), which scale with worker hosts, while one redis-server needs ~{redis_ms:.2f} ms of CPU per ticket "
        f"(state and queue together), which caps a single Redis at roughly "
        f"{round(1000 / redis_ms, -1):,.0f} tickets/s on one of these cores however many workers there are. "
        "Queue shards take RQ's commands (most of them) and the "
        "cluster primaries the decisions, so that ceiling should rise roughly with the number of servers, as long "
        "as accounts spread evenly (an account is pinned to one shard and one primary, so one very large account "
        "does not scale). Every round trip then crosses the network, so each worker process drains less per "
        "second and more processes are needed. None of that is measured here; it needs a run on several hosts."
    )
    return "\n\n".join(textwrap.fill(text, width=110, break_on_hyphens=False) for text in (first, second, third))
