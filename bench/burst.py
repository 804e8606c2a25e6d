"""Burst intake (issue 18): lanes drained in batches vs RQ's no-op job floor, and steady-load latency
push vs the per-ticket path.

    python -m bench --only burst [--quick]        # BENCH_BURST_TICKETS=N sizes the burst

Three parts, each compared with a baseline measured in the same run:

1. **burst** — eight accounts (5 Online agents each, round robin on, no office hours: every ticket takes
   the full assign path). Eight producer processes (forked, started together at a barrier) push
   ``tickets`` tickets onto the lanes (``producers.lanes``): four call ``push`` once per ticket (as a
   webhook handler does), four ``push_many`` in chunks of ``chunk``; each producer's tickets are spread
   over every account. No worker runs meanwhile, so the drain jobs the doorbells rang wait in the queue.
   Then ``helpdesk-rr --log-json worker --burst --processes 2`` (SimpleWorker, output to /dev/null)
   drains them. **Drain tickets/s** = tickets / (first drain job started → last ended), from RQ's stamps,
   as ``bench/ticket_path.py`` measures its jobs; the baseline is the same worker draining ``noop_jobs``
   no-op jobs (``bench.noop``, ``bench.worker_class.run_once``) in the same repeat. **Redis CPU per
   ticket** = ``used_cpu_sys + used_cpu_user`` (``INFO cpu``) from before the first push to after the
   last drain, over the tickets (push and drain shown apart; the no-op's per job over its whole run).
   **Longest Redis call**: ``SLOWLOG`` with ``slowlog-log-slower-than`` 1000 µs over the same span (its
   max and the calls over 5 ms). Checked: no job failed, every lane empty, every ticket has exactly one
   ``ticket.assigned``/``ticket.unassigned`` event, and each account's events list each producer's
   tickets of that account in the order that producer pushed them.
2. **steady** — ``helpdesk-rr --log-json worker --processes 2`` running, 20 warm-up tickets, then the
   bench process sends one ticket at a time at ``rate``/s for ``steady_s`` s over the eight accounts,
   with ``push`` (lanes) and with ``producers.queue.enqueue`` (one RQ job per ticket, the baseline),
   alternating order between ``steady_repeats`` repeats (5: a p99 of 2,000 sends is noisy), after the
   bursts. Latency = the ``ticket.assigned`` entry's stream ID (Redis's clock, ms) minus the wall clock
   just before the send (as ``bench/latency.py``).
3. **scale-out** — part 1's burst again with decision state on a local 3-primary Redis Cluster and the lanes
   and RQ on one standalone queue shard (bench/burst_split.py, bench/topology.py's servers), against the
   no-op drain on that shard; CPU and SLOWLOG over all four servers. Two queue shards are not measured (the
   producers would push through a router by account).

Every server and process runs on the same two vCPUs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster
from rq import Queue, Worker

from bench import worker_class
from bench.common import helpdesk_rr_command, markdown_table, median, ratio, run_quietly, worker_env
from bench.inprocess import CHANNELS, job_window, setup_account
from bench.latency import percentiles
from producers.lanes import LANES, LaneKeys, push, push_many
from producers.queue import QUEUE_NAME, SERIALIZER, enqueue
from schemas.inbound import TicketCreated
from worker.core.keys import AccountKeys

NAME = "burst"
TITLE = "Burst intake: lanes vs RQ's floor"
ACCOUNTS = tuple(f"burst-{i}" for i in range(8))
PRODUCERS = 8
PROCESSES = 2
SLOW_US = 1000
OVER_MS = 5.0
DECISIONS = (b"ticket.assigned", b"ticket.unassigned")
FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_burst.md"
"""Hand-written analysis of a run, appended to the generated tables (edit it there, not in the doc)."""


def params(quick: bool, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    if quick:
        p = {"tickets": 2000, "noop_jobs": 500, "chunk": 100, "repeats": 1, "rate": 100, "steady_s": 3}
        p["split_repeats"], p["steady_repeats"] = 1, 1
    else:
        p = {"tickets": 20_000, "noop_jobs": 3000, "chunk": 100, "repeats": 3, "rate": 100, "steady_s": 20}
        p["split_repeats"], p["steady_repeats"] = 1, 5  # a p99 of 2,000 sends is noisy: five pairs
    if os.environ.get("BENCH_BURST_TICKETS"):
        p["tickets"] = int(os.environ["BENCH_BURST_TICKETS"])
    p.update(overrides or {})
    return p


def ticket(producer: int, seq: int, now: datetime) -> TicketCreated:
    return TicketCreated(
        account_id=ACCOUNTS[(producer + seq) % len(ACCOUNTS)],
        ticket_id=f"p{producer}-{seq:07d}",
        channel=CHANNELS[seq % len(CHANNELS)],
        created_at=now - timedelta(seconds=1),
        subject=f"burst ticket {seq}",
    )


@dataclass
class Layout:
    """Where a burst runs: the state client (a ``RedisCluster`` on the split topology), the one queue Redis
    the producers push to, every redis-server involved (CPU, SLOWLOG), and the workers' environment
    (None: ``--redis-url`` the queue, one Redis for everything)."""

    state: Any
    queue_url: str
    servers: list[str]
    env: dict[str, str] | None = None


def setup_accounts(client: Any) -> None:
    if isinstance(client, RedisCluster):
        client.flushdb(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.flushdb()
    for account in ACCOUNTS:
        setup_account(client, account=account)


def redis_cpu(urls: list[str]) -> float:
    total = 0.0
    for url in urls:
        client = redis.Redis.from_url(url)
        info = client.info("cpu")
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        client.close()
    return total


# --------------------------------------------------------------------------------------------
# Part 1: the burst
# --------------------------------------------------------------------------------------------


def _produce(url: str, index: int, count: int, chunk: int, barrier: Barrier, out: Any) -> None:
    """One producer process: half the producers push one ticket per call, half push_many in chunks."""
    now = datetime.now(UTC)
    events = [ticket(index, seq, now) for seq in range(count)]
    client = redis.Redis.from_url(url)
    barrier.wait()
    started = time.perf_counter()
    if index % 2 == 0:
        for event in events:
            push(event, client)
    else:
        for start in range(0, count, chunk):
            push_many(events[start : start + chunk], client)
    out.put((index, time.perf_counter() - started))
    client.close()


def produce(url: str, tickets: int, chunk: int) -> dict[str, Any]:
    """Run the eight producers together; wall seconds from the barrier to the last one done."""
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(PRODUCERS + 1), ctx.Queue()
    counts = [tickets // PRODUCERS + (1 if i < tickets % PRODUCERS else 0) for i in range(PRODUCERS)]
    procs = [ctx.Process(target=_produce, args=(url, i, counts[i], chunk, barrier, out)) for i in range(PRODUCERS)]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    seconds = dict(out.get(timeout=600) for _ in procs)
    wall = time.perf_counter() - started
    for proc in procs:
        proc.join(timeout=30)
        if proc.exitcode != 0:
            raise RuntimeError(f"producer exited with {proc.exitcode}")
    single = [seconds[i] for i in range(0, PRODUCERS, 2)]
    many = [seconds[i] for i in range(1, PRODUCERS, 2)]
    return {
        "counts": counts,
        "push_wall_s": round(wall, 3),
        "push_tickets_per_s": round(tickets / wall, 1),
        "push_one_per_call_tickets_per_s": round(sum(counts[0::2]) / max(single), 1),
        "push_many_tickets_per_s": round(sum(counts[1::2]) / max(many), 1),
    }


def slowlog_start(urls: list[str]) -> list[Any]:
    saved = []
    for url in urls:
        client = redis.Redis.from_url(url)
        saved.append(client.config_get("slowlog-*"))
        client.config_set("slowlog-log-slower-than", SLOW_US)
        client.config_set("slowlog-max-len", 100_000)
        client.slowlog_reset()
        client.close()
    return saved


def slowlog_read(urls: list[str], saved: list[Any]) -> dict[str, Any]:
    """Calls over 1 ms on every server since ``slowlog_start`` (which restores the servers' settings)."""
    entries = []
    for url, settings in zip(urls, saved, strict=True):
        client = redis.Redis.from_url(url)
        entries += client.slowlog_get(100_000)
        for name, value in settings.items():
            client.config_set(name, value)
        client.close()
    durations = [int(e["duration"]) for e in entries]
    worst = max(entries, key=lambda e: int(e["duration"]), default=None)
    command = worst["command"] if worst else b""
    return {
        "over_1ms": len(durations),
        "over_5ms": sum(1 for d in durations if d > OVER_MS * 1000),
        "longest_ms": round(max(durations, default=0) / 1000, 3),
        "longest_command": (command.decode(errors="replace") if isinstance(command, bytes) else str(command))[:60],
    }


def decisions(client: Any) -> dict[str, list[tuple[str, str, int]]]:
    """Per account: (ticket_id, type, stream ms) of every decision event, in stream order."""
    found: dict[str, list[tuple[str, str, int]]] = {}
    for account in ACCOUNTS:
        rows = []
        entries: Any = client.xrange(AccountKeys.for_account(account).events)
        for entry_id, fields in entries:
            kind = fields.get(b"type")
            if kind in DECISIONS:
                data = json.loads(fields[b"data"])
                rows.append((data["ticket_id"], kind.decode(), int(entry_id.split(b"-")[0])))
        found[account] = rows
    return found


def out_of_order(account: str, rows: list[tuple[str, str, int]]) -> int:
    """Decisions of ``account`` (in stream order) that are not its producer's next ticket of the account in push
    order (or that belong to another account)."""
    last: dict[int, int] = {}
    wrong = 0
    for ticket_id, _, _ in rows:
        producer, seq = int(ticket_id[1 : ticket_id.index("-")]), int(ticket_id.split("-")[1])
        if ACCOUNTS[(producer + seq) % len(ACCOUNTS)] != account or seq <= last.get(producer, -1):
            wrong += 1
        last[producer] = seq
    return wrong


def check_burst(state: Any, client: redis.Redis, counts: list[int]) -> dict[str, Any]:
    """Exactly one decision per ticket, and per account each producer's tickets in push order. Raises."""
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    problems = []
    if queue.failed_job_registry.count or queue.count:
        problems.append(f"{queue.failed_job_registry.count} failed, {queue.count} still queued")
    pending = sum(int(client.llen(LaneKeys(lane).pending)) for lane in range(LANES))
    if pending:
        problems.append(f"{pending} tickets still pending on the lanes")
    seen: dict[str, int] = {}
    kinds: dict[str, int] = {}
    out_of_order_count = 0
    for account, rows in decisions(state).items():
        for ticket_id, kind, _ in rows:
            seen[ticket_id] = seen.get(ticket_id, 0) + 1
            kinds[kind] = kinds.get(kind, 0) + 1
        out_of_order_count += out_of_order(account, rows)
    expected = {f"p{i}-{seq:07d}" for i, n in enumerate(counts) for seq in range(n)}
    missing = len(expected - set(seen))
    twice = sum(1 for n in seen.values() if n > 1)
    extra = len(set(seen) - expected)
    if missing or twice or extra:
        problems.append(f"{missing} tickets undecided, {twice} decided more than once, {extra} unknown")
    if out_of_order_count:
        problems.append(f"{out_of_order_count} decisions out of push order")
    if problems:
        raise RuntimeError("burst: " + "; ".join(problems))
    return {"decided_exactly_once": len(expected), "in_push_order": True, "events": kinds}


def drain_workers(layout: Layout, pycache: Path) -> tuple[float, int]:
    """``helpdesk-rr worker --burst --processes 2`` to the end, on the layout's topology."""
    if layout.env is None:
        return worker_class.drain(layout.queue_url, "simple", PROCESSES, pycache)
    command = helpdesk_rr_command() + ["--log-json", "worker", "--burst", "--processes", str(PROCESSES)]
    started = time.perf_counter()
    process = run_quietly(command, {**worker_env(pycache), **layout.env})
    try:
        code = process.wait(timeout=900)
    except BaseException:
        process.terminate()
        process.wait(timeout=30)
        raise
    return time.perf_counter() - started, code


def burst_once(layout: Layout, p: dict[str, Any], pycache: Path) -> dict[str, Any]:
    setup_accounts(layout.state)
    queue = redis.Redis.from_url(layout.queue_url)
    if layout.env is not None:
        queue.flushdb()
    saved = slowlog_start(layout.servers)
    cpu0 = redis_cpu(layout.servers)
    pushed = produce(layout.queue_url, p["tickets"], p["chunk"])
    cpu1 = redis_cpu(layout.servers)
    drain_jobs_queued = Queue(QUEUE_NAME, connection=queue, serializer=SERIALIZER).count
    wall, code = drain_workers(layout, pycache)
    cpu2 = redis_cpu(layout.servers)
    slow = slowlog_read(layout.servers, saved)
    if code != 0:
        raise RuntimeError(f"burst: worker exited with status {code}")
    checked = check_burst(layout.state, queue, pushed["counts"])
    job_ids = Queue(QUEUE_NAME, connection=queue, serializer=SERIALIZER).finished_job_registry.get_job_ids()
    window = job_window(queue, job_ids)
    queue.close()
    tickets = p["tickets"]
    return {
        **pushed,
        "drain_jobs_queued_by_pushes": drain_jobs_queued,
        "drain_jobs_run": len(job_ids),
        "drain_seconds": round(window, 3),
        "drain_tickets_per_s": round(tickets / window, 1),
        "wall_tickets_per_s": round(tickets / wall, 1),
        "redis_cpu_ms_per_ticket": round((cpu2 - cpu0) * 1000 / tickets, 4),
        "redis_cpu_ms_per_ticket_push": round((cpu1 - cpu0) * 1000 / tickets, 4),
        "redis_cpu_ms_per_ticket_drain": round((cpu2 - cpu1) * 1000 / tickets, 4),
        "slowlog": slow,
        **checked,
    }


def noop_once(client: redis.Redis, url: str, p: dict[str, Any], pycache: Path) -> dict[str, Any]:
    cpu0 = redis_cpu([url])
    run = worker_class.run_once(client, url, "noop", "simple", PROCESSES, p["noop_jobs"], pycache)
    run["redis_cpu_ms_per_job"] = round((redis_cpu([url]) - cpu0) * 1000 / p["noop_jobs"], 4)
    return run


# --------------------------------------------------------------------------------------------
# Part 2: steady load
# --------------------------------------------------------------------------------------------


def _wait_decided(client: redis.Redis, expected: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(len(rows) for rows in decisions(client).values()) >= expected:
            return
        if Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).failed_job_registry.count:
            raise RuntimeError("steady: a job failed")
        time.sleep(0.2)
    raise RuntimeError(f"steady: fewer than {expected} tickets decided after {timeout} s")


def _send(mode: str, event: TicketCreated, client: redis.Redis) -> None:
    if mode == "push":
        push(event, client)
    else:
        enqueue(event, client)


def steady_once(url: str, mode: str, p: dict[str, Any], pycache: Path) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    setup_accounts(client)
    command = helpdesk_rr_command() + ["--redis-url", url, "--log-json", "worker", "--processes", str(PROCESSES)]
    process = run_quietly(command, worker_env(pycache))
    now = datetime.now(UTC)
    try:
        deadline = time.monotonic() + 60
        while Worker.count(connection=client) < PROCESSES:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("steady: workers did not start")
            time.sleep(0.05)
        for seq in range(20):
            _send(mode, ticket(9, seq, now), client)
        _wait_decided(client, 20)
        rate, total = p["rate"], int(p["rate"] * p["steady_s"])
        events = [ticket(0, seq, now) for seq in range(total)]
        sent: dict[str, float] = {}
        lag, t0 = 0.0, time.time() + 0.05
        for i, event in enumerate(events):
            delay = t0 + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                lag = max(lag, -delay)
            sent[event.ticket_id] = time.time()
            _send(mode, event, client)
        offered = time.time() - t0
        _wait_decided(client, 20 + total)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except Exception:
            process.kill()
            process.wait()
    latencies = [
        ms - sent[t] * 1000
        for rows in decisions(client).values()
        for t, kind, ms in rows
        if t in sent and kind == "ticket.assigned"
    ]
    client.flushdb()
    client.close()
    if len(latencies) != len(sent):
        raise RuntimeError(f"steady: {len(latencies)} ticket.assigned events for {len(sent)} tickets")
    return {
        "mode": mode,
        "tickets": len(sent),
        "offered_rate": round(len(sent) / offered, 1),
        "producer_max_lag_ms": round(lag * 1000, 2),
        "send_to_event_ms": percentiles(latencies),
    }


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def run(url: str, quick: bool, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    from bench.burst_split import run_split  # it imports this module

    p = params(quick, overrides)
    pycache = Path(tempfile.mkdtemp(prefix="rr-bench-pyc-"))
    client = redis.Redis.from_url(url)
    bursts: list[dict[str, Any]] = []
    steady: list[dict[str, Any]] = []
    try:
        worker_class.run_once(client, url, "noop", "simple", 1, 20, pycache)  # warm-up: bytecode cache
        for repeat in range(p["repeats"]):
            noop = noop_once(client, url, p, pycache)
            burst = burst_once(Layout(client, url, [url]), p, pycache)
            burst.update(repeat=repeat, noop_drain_jobs_per_s=noop["drain_jobs_per_s"])
            burst["noop_redis_cpu_ms_per_job"] = noop["redis_cpu_ms_per_job"]
            burst["over_noop"] = round(ratio(burst["drain_tickets_per_s"], noop["drain_jobs_per_s"]), 2)
            bursts.append(burst)
            print(
                f"  {NAME}: repeat {repeat}: burst {burst['drain_tickets_per_s']}/s vs no-op "
                f"{noop['drain_jobs_per_s']}/s = {burst['over_noop']}x; Redis CPU "
                f"{burst['redis_cpu_ms_per_ticket']} ms/ticket; slowlog {burst['slowlog']}",
                flush=True,
            )
        for repeat in range(p["steady_repeats"]):
            modes = ("enqueue", "push") if repeat % 2 == 0 else ("push", "enqueue")
            for mode in modes:
                s = steady_once(url, mode, p, pycache)
                s["repeat"] = repeat
                steady.append(s)
                print(f"  {NAME}: repeat {repeat}: steady {mode}: {s['send_to_event_ms']}", flush=True)
        split = run_split(url, p, pycache) if p["split_repeats"] else []
    finally:
        client.flushdb()
        client.close()
        shutil.rmtree(pycache, ignore_errors=True)
    result: dict[str, Any] = {
        "params": p,
        "bursts": bursts,
        "steady": steady,
        "split": split,
        "verdict": verdict(bursts, steady),
    }
    if split:
        result["verdict"]["split_burst_over_noop"] = median([b["over_noop"] for b in split])
        result["verdict"]["split_cpu_ms_per_ticket"] = median([b["redis_cpu_ms_per_ticket"] for b in split])
    return result


def steady_ratios(steady: list[dict[str, Any]]) -> list[float]:
    """push p99 / enqueue p99 of each repeat (the two ran back to back, under the machine's load of the moment)."""
    by_repeat: dict[int, dict[str, float]] = {}
    for s in steady:
        by_repeat.setdefault(s["repeat"], {})[s["mode"]] = s["send_to_event_ms"]["p99"]
    return [round(ratio(r["push"], r["enqueue"]), 2) for r in by_repeat.values() if len(r) == 2]


def verdict(bursts: list[dict[str, Any]], steady: list[dict[str, Any]]) -> dict[str, Any]:
    over = median([b["over_noop"] for b in bursts])
    cpu = median([b["redis_cpu_ms_per_ticket"] for b in bursts])
    longest = max(b["slowlog"]["longest_ms"] for b in bursts)
    over_5 = sum(b["slowlog"]["over_5ms"] for b in bursts)
    steady_ratio = round(median(steady_ratios(steady)), 2)
    return {
        "burst_over_noop": over,
        "burst_met": over >= 10,
        "redis_cpu_ms_per_ticket": cpu,
        "cpu_met": cpu <= 0.2,
        "longest_call_ms": longest,
        "calls_over_5ms": over_5,
        "no_call_over_5ms": over_5 == 0,
        "exactly_once_in_order": all(b["in_push_order"] for b in bursts),
        "steady_p99_push_over_enqueue": steady_ratio,
        "steady_met": steady_ratio <= 1.2,
    }


def burst_table(runs: list[dict[str, Any]], p: dict[str, Any]) -> str:
    rows = [
        [
            b["repeat"],
            f"{b['noop_drain_jobs_per_s']:.0f}",
            f"{b['drain_tickets_per_s']:.0f}",
            f"**{b['over_noop']:.1f}×**",
            f"{b['redis_cpu_ms_per_ticket']:.3f} ({b['redis_cpu_ms_per_ticket_push']:.3f} + "
            f"{b['redis_cpu_ms_per_ticket_drain']:.3f}) / {b['noop_redis_cpu_ms_per_job']:.3f}",
            f"{b['slowlog']['longest_ms']:.1f} / {b['slowlog']['over_1ms']} / {b['slowlog']['over_5ms']}",
            f"{b['push_tickets_per_s']:.0f} ({b['push_one_per_call_tickets_per_s']:.0f} / "
            f"{b['push_many_tickets_per_s']:.0f})",
            b["drain_jobs_run"],
        ]
        for b in runs
    ]
    return markdown_table(
        [
            "repeat",
            f"no-op drain jobs/s ({p['noop_jobs']} jobs)",
            f"burst drain tickets/s ({p['tickets']} tickets)",
            "burst / no-op (target ≥ 10×)",
            "Redis CPU ms per ticket: all (push + drain) / no-op per job (target ≤ 0.2)",
            "longest Redis call ms / calls > 1 ms / > 5 ms",
            "push tickets/s, 8 producers (one-per-call / push_many, each half)",
            "drain jobs run",
        ],
        rows,
    )


def render(result: dict[str, Any]) -> str:
    p = result["params"]
    burst = "Single Redis:\n\n" + burst_table(result["bursts"], p)
    if result.get("split"):
        burst += "\n\nSplit topology (state on a 3-primary Redis Cluster, 1 queue shard; all servers counted):\n\n"
        burst += burst_table(result["split"], p)
    srows = [
        [
            s["repeat"],
            s["mode"],
            f"{s['offered_rate']:.0f}",
            "{p50:.1f} / {p99:.1f} / {max:.1f}".format(**s["send_to_event_ms"]),
        ]
        for s in result["steady"]
    ]
    steady = markdown_table(
        [
            "repeat",
            f"path ({PROCESSES} worker processes)",
            "achieved rate /s",
            "send → `ticket.assigned` ms p50 / p99 / max",
        ],
        srows,
    )
    v = result["verdict"]
    findings = FINDINGS.read_text().strip() if FINDINGS.is_file() else ""
    return (
        burst
        + "\n\n"
        + steady
        + f"\n\nSteady load at {p['rate']}/s × {p['steady_s']} s: push p99 / enqueue p99, paired per repeat = "
        + f"**{v['steady_p99_push_over_enqueue']:.2f}** (median of {steady_ratios(result['steady'])}; target ≤ 1.2)."
        + ("\n\n" + findings if findings else "")
    )
