"""Reassign-unanswered timers (issue 16): the workers' sweep, its per-timer step and the decision that files a
timer, with 0, 1,000 and 100,000 pending timers.

    python -m bench --only unanswered [--quick]

**Set-up, through the real engine**, once: ``accounts`` accounts (100; 10 in ``--quick``) of 10 agents, all
Online, round robin on, reassign-unanswered after 1 h (max 1), then ``tickets`` (1,000; 100) tickets each
decided by ``Engine.decide`` at ``t0``: every assignment files a no-first-reply timer in its partition's
``unanswered_due`` zset (16 partitions, the default), due at ``t0`` + 1 h: ``accounts × tickets`` pending
timers (100,000; 1,000). A copy of each partition's zset is kept aside; a size is made by restoring, per
partition, the whole copy or its first share (``ZRANGESTORE``), so the timers are the engine's own and the
sizes are measured in turn within each repeat (order alternated). The sizes: (a) 0, (b) 1,000, (c) 100,000
pending timers (``--quick``: 0, 10, 1,000), as ``ZCARD`` over the partitions reports them.

**Measured at each size** (``SLOWLOG`` logging every command, threshold 0, only during the measured calls):

- **sweep, nothing due**: ``sweeps`` (200) calls of ``sweep_unanswered(engine.scripts, engine.keys, 16, now)``
  at ``t0`` + 30 s: wall per sweep (16 ``ZRANGEBYSCORE`` round trips), and Redis µs per sweep (the sum of its
  ``ZRANGEBYSCORE`` durations in SLOWLOG).
- **sweep, 100 due**: ``due_sweeps`` (5) times, a fresh account of 10 agents with reassign-unanswered after
  60 s gets 100 tickets at ``t0``; one sweep at ``t0`` + 61 s must reassign exactly those 100 (checked: one
  ``expire_unanswered`` EVALSHA each, every one ``reassigned``), leave every other timer pending (checked)
  and file no new one (max 1). Wall of the sweep; **Redis µs per due timer** (``expire_unanswered``
  EVALSHAs in SLOWLOG over 100).
- **decision filing a timer**: ``decisions`` (500) tickets decided in an account with reassign-unanswered
  on (each a ``ZADD`` into the same partition zsets); Redis µs per decision (its EVALSHAs in SLOWLOG), and µs
  per ``ZADD`` inside them (``INFO commandstats``; two a decision: the rotation's and the timer's). The timers
  are removed again afterwards.
- **longest Redis call**: the largest SLOWLOG entry of any command during the measured calls (target ≤ 5 ms),
  the 99th percentile of the calls (the worst of the measures at that size), and how many calls were over
  5 ms out of how many logged.

Ratios (c) / (a) are paired within a repeat: median (min–max) over ``repeats`` (3; 1). Target: flat (≈ 1).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from bench.common import markdown_table, median, ratio, script_name
from bench.presence import _sum, slowlog_all
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from worker.core.engine import Engine
from worker.core.keys import DEFAULT_PARTITIONS, partition_unanswered_due
from worker.core.reassign import sweep_unanswered
from worker.core.script_sources import script_source

NAME = "unanswered"
FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_unanswered.md"
"""Hand-written analysis of the runs, appended to the generated tables (edit it there, not in the doc)."""
TITLE = "Reassign-unanswered timers: sweep flat with 100,000 pending (issue 16)"
OWNER = "owner"
HOUR = 3600
DUE_AFTER_S = 60
DUE = 100
AGENTS = 10
SIZES = ("a", "b", "c")
LONG_CALL_US = 5_000
SHAS = {n: hashlib.sha1(script_source(n).encode()).hexdigest() for n in ("expire_unanswered", "decide_ticket")}


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"accounts": 10, "tickets": 100, "sweeps": 50, "due_sweeps": 2, "decisions": 100, "repeats": 1}
    return {"accounts": 100, "tickets": 1_000, "sweeps": 200, "due_sweeps": 5, "decisions": 500, "repeats": 3}


def add_account(engine: Engine, account: str, after_s: int, t0: datetime) -> None:
    engine.upsert_user(account, OWNER, Role.OWNER, t0)
    for i in range(AGENTS):
        engine.upsert_user(account, f"agent-{i:02d}", Role.AGENT, t0)
        engine.set_status(account, f"agent-{i:02d}", AgentStatus.ONLINE, f"agent-{i:02d}", t0)
    engine.set_round_robin(account, True, OWNER, t0)
    engine.set_reassign_unanswered(account, after_s, 1, OWNER, t0)


def decide_many(engine: Engine, account: str, prefix: str, count: int, t0: datetime) -> list[str]:
    channels = list(Channel)
    ids = [f"{prefix}{i:06d}" for i in range(count)]
    for i, ticket in enumerate(ids):
        event = TicketCreated(account_id=account, ticket_id=ticket, channel=channels[i % 4], created_at=t0)
        if engine.decide(event, t0).outcome != "assigned":
            raise RuntimeError(f"{account} {ticket}: not assigned")
    return ids


def _longest(entries: list[tuple[str, int]]) -> dict[str, Any]:
    """The longest call (its script's name), how many calls were logged, how many over 5 ms, and the 99th percentile."""
    top = max(entries, key=lambda e: e[1], default=("", 0))
    durations = sorted(us for _, us in entries)
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))] if durations else 0
    over = sum(1 for us in durations if us > LONG_CALL_US)
    return {
        "us": top[1],
        "command": script_name(top[0], SHAS),
        "calls": len(durations),
        "over_5_ms": over,
        "p99_us": p99,
    }


def pending(client: redis.Redis) -> int:
    return sum(int(client.zcard(partition_unanswered_due(p))) for p in range(DEFAULT_PARTITIONS))


def _aside(partition: int) -> str:
    return f"bench:unanswered_due:{partition}"


def set_size(client: redis.Redis, wanted: int, total: int) -> int:
    """Restore ``wanted`` of the ``total`` timers kept aside (each partition's share); return how many are pending."""
    for p in range(DEFAULT_PARTITIONS):
        live, aside = partition_unanswered_due(p), _aside(p)
        client.delete(live)
        share = round(int(client.zcard(aside)) * wanted / total)
        if share:
            client.zrangestore(live, aside, 0, share - 1)
    return pending(client)


def measure_idle(client: redis.Redis, engine: Engine, at: datetime, sweeps: int) -> dict[str, Any]:
    walls: list[float] = []
    entries: list[tuple[str, int]] = []
    with slowlog_all(client, entries):
        for _ in range(sweeps):
            started = time.perf_counter()
            if sweep_unanswered(engine.scripts, engine.keys, DEFAULT_PARTITIONS, at):
                raise RuntimeError("idle sweep reassigned a ticket")
            walls.append(time.perf_counter() - started)
    return {
        "wall_us": round(median(walls) * 1e6, 1),
        "wall_us_max": round(max(walls) * 1e6, 1),
        "redis_us": round(_sum(entries, "zrangebyscore") / sweeps, 2),
        "longest": _longest(entries),
    }


def measure_due(client: redis.Redis, engine: Engine, t0: datetime, label: str) -> dict[str, Any]:
    account = f"due-{label}"
    add_account(engine, account, DUE_AFTER_S, t0)
    tickets = set(decide_many(engine, account, "t", DUE, t0))
    before = pending(client)
    entries: list[tuple[str, int]] = []
    with slowlog_all(client, entries):
        started = time.perf_counter()
        done = sweep_unanswered(engine.scripts, engine.keys, DEFAULT_PARTITIONS, t0 + timedelta(seconds=61))
        wall = time.perf_counter() - started
    steps = [us for name, us in entries if name == f"evalsha {SHAS['expire_unanswered']}"]
    if {(a, t) for a, t, _ in done} != {(account, t) for t in tickets} or len(steps) != DUE:
        raise RuntimeError(f"due sweep: {len(done)} reassigned, {len(steps)} expire_unanswered calls")
    if pending(client) != before - DUE:
        raise RuntimeError(f"due sweep: {before} pending before, {pending(client)} after")
    return {
        "wall_ms": round(wall * 1000, 3),
        "redis_us_per_timer": round(sum(steps) / DUE, 2),
        "longest": _longest(entries),
    }


def measure_filing(client: redis.Redis, engine: Engine, t0: datetime, label: str, count: int) -> dict[str, Any]:
    entries: list[tuple[str, int]] = []
    before = client.info("commandstats").get("cmdstat_zadd", {"calls": 0, "usec": 0})
    with slowlog_all(client, entries):
        ids = decide_many(engine, "filing", f"f{label}-", count, t0)
    after = client.info("commandstats")["cmdstat_zadd"]
    zadd_us = (int(after["usec"]) - int(before["usec"])) / max(1, int(after["calls"]) - int(before["calls"]))
    due_key = engine.keys("filing").unanswered_due
    if int(client.zrem(due_key, *(f"filing {t}" for t in ids))) != count:
        raise RuntimeError("filing: not one timer per decision")
    return {
        "redis_us": round(_sum(entries, f"evalsha {SHAS['decide_ticket']}") / count, 2),
        "zadd_us": round(zadd_us, 3),
        "longest": _longest(entries),
    }


def measure(
    client: redis.Redis, engine: Engine, p: dict[str, Any], t0: datetime, repeat: int, size: str
) -> dict[str, Any]:
    one: dict[str, Any] = {"repeat": repeat, "size": size, "pending": pending(client)}
    one["idle"] = measure_idle(client, engine, t0 + timedelta(seconds=30), p["sweeps"])
    one["due"] = [measure_due(client, engine, t0, f"{repeat}-{size}-{k}") for k in range(p["due_sweeps"])]
    one["filing"] = measure_filing(client, engine, t0, f"{repeat}{size}", p["decisions"])
    print(
        f"  unanswered: repeat {repeat} size {size} ({one['pending']:,} pending): idle sweep "
        f"{one['idle']['wall_us']:.0f} µs ({one['idle']['redis_us']:.1f} Redis µs), due sweep "
        f"{median([d['wall_ms'] for d in one['due']]):.1f} ms "
        f"({median([d['redis_us_per_timer'] for d in one['due']]):.1f} Redis µs/timer), filing decision "
        f"{one['filing']['redis_us']:.1f} Redis µs",
        flush=True,
    )
    return one


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        engine = Engine(client)
        t0 = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        for i in range(p["accounts"]):
            add_account(engine, f"pend-{i:04d}", HOUR, t0)
            decide_many(engine, f"pend-{i:04d}", "p", p["tickets"], t0)
        add_account(engine, "filing", HOUR, t0)
        setup_s = time.perf_counter() - started
        total = pending(client)
        if total != p["accounts"] * p["tickets"]:
            raise RuntimeError(f"set-up: {total} timers for {p['accounts'] * p['tickets']} assignments")
        for partition in range(DEFAULT_PARTITIONS):
            client.copy(partition_unanswered_due(partition), _aside(partition))
        print(f"  unanswered: set-up {total:,} timers through the engine in {setup_s:.1f} s", flush=True)
        client.script_load(script_source("expire_unanswered"))  # no NOSCRIPT round in the figures
        measure_due(client, engine, t0, "warm-up")
        counts = {"a": 0, "b": total // 100, "c": total}
        runs = []
        for repeat in range(p["repeats"]):
            for size in SIZES if repeat % 2 == 0 else tuple(reversed(SIZES)):
                set_size(client, counts[size], total)
                runs.append(measure(client, engine, p, t0, repeat, size))
        client.flushdb()
    finally:
        client.config_set("slowlog-log-slower-than", 10_000)
        client.close()
    summary = summarize(runs)
    return {
        "params": {**p, "partitions": DEFAULT_PARTITIONS, "setup_s": round(setup_s, 1)},
        "summary": summary,
        "runs": runs,
        "verdict": verdict(summary),
    }


def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    cells = summary["cells"]
    over = sum(c["calls_over_5_ms"] for c in cells.values())
    logged = sum(c["calls_logged"] for c in cells.values())
    return {
        "idle sweep wall (c)/(a)": summary["ratios"]["idle_wall"]["median"],
        "Redis µs per due timer (c)/(a)": summary["ratios"]["due_redis_per_timer"]["median"],
        "filing decision Redis (c)/(a)": summary["ratios"]["filing_redis"]["median"],
        "longest call ms at 100,000 pending": cells["c"]["longest_ms"],
        "longest call ms at any size": max(c["longest_ms"] for c in cells.values()),
        "calls over 5 ms": f"{over} of {logged:,}",
        "every call ≤ 5 ms": over == 0,
    }


METRICS: dict[str, Callable[[dict[str, Any]], float]] = {
    "idle_wall": lambda r: r["idle"]["wall_us"],
    "idle_redis": lambda r: r["idle"]["redis_us"],
    "due_wall": lambda r: median([d["wall_ms"] for d in r["due"]]),
    "due_redis_per_timer": lambda r: median([d["redis_us_per_timer"] for d in r["due"]]),
    "filing_redis": lambda r: r["filing"]["redis_us"],
    "filing_zadd": lambda r: r["filing"]["zadd_us"],
}
LABELS = {
    "idle_wall": "sweep, nothing due, wall µs",
    "idle_redis": "… Redis µs per sweep",
    "due_wall": f"sweep, {DUE} due, wall ms",
    "due_redis_per_timer": "… Redis µs per due timer",
    "filing_redis": "decision filing a timer, Redis µs",
    "filing_zadd": "… µs per ZADD in it",
}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for size in SIZES:
        mine = [r for r in runs if r["size"] == size]
        cell: dict[str, Any] = {"pending": mine[0]["pending"]}
        for name, get in METRICS.items():
            values = [get(r) for r in mine]
            cell[name], cell[name + "_min_max"] = round(median(values), 2), [min(values), max(values)]
        longs = [lg for r in mine for lg in (r["idle"]["longest"], *(d["longest"] for d in r["due"]),
                                            r["filing"]["longest"])]  # fmt: skip
        top = max(longs, key=lambda lg: lg["us"])
        cell["longest_ms"], cell["longest_command"] = round(top["us"] / 1000, 3), script_name(top["command"], SHAS)
        cell["calls_over_5_ms"] = sum(lg["over_5_ms"] for lg in longs)
        cell["calls_logged"] = sum(lg["calls"] for lg in longs)
        cell["p99_ms_max"] = round(max(lg["p99_us"] for lg in longs) / 1000, 3)
        cells[size] = cell
    ratios = {}
    for name, get in METRICS.items():
        values = []
        for repeat in sorted({r["repeat"] for r in runs}):
            pair = {r["size"]: r for r in runs if r["repeat"] == repeat}
            values.append(ratio(get(pair["c"]), get(pair["a"])))
        ratios[name] = {"median": round(median(values), 3), "min_max": [round(min(values), 3), round(max(values), 3)]}
    return {"cells": cells, "ratios": ratios}


def _cell(cell: dict[str, Any], name: str) -> str:
    low, high = cell[name + "_min_max"]
    return f"{cell[name]:,.1f}" if low == high else f"{cell[name]:,.1f} ({low:,.1f}–{high:,.1f})"


def render(result: dict[str, Any]) -> str:
    p, summary = result["params"], result["summary"]
    rows = []
    for size in SIZES:
        c = summary["cells"][size]
        longest = f"{c['longest_ms']:.3f} (`{script_name(c['longest_command'], SHAS)}`)"
        calls = f"{c['calls_over_5_ms']} of {c['calls_logged']:,}"
        rows.append(
            [f"({size}) {c['pending']:,}", *(_cell(c, n) for n in METRICS), longest, f"{c['p99_ms_max']:.3f}", calls]
        )
    table = markdown_table(
        [
            "pending timers",
            *LABELS.values(),
            "longest Redis call ms (SLOWLOG)",
            "p99 call ms (worst measure)",
            "calls > 5 ms",
        ],
        rows,
    )
    ratio_rows = []
    for name, label in LABELS.items():
        r = summary["ratios"][name]
        ratio_rows.append([label, f"**{r['median']:.2f}** ({r['min_max'][0]:.2f}–{r['min_max'][1]:.2f})", "≈ 1"])
    ratios = markdown_table(["(c) / (a)", "paired within a repeat: median (min–max)", "target"], ratio_rows)
    return (
        f"{table}\n\n{ratios}\n\nSet-up: {p['accounts'] * p['tickets']:,} timers filed through `Engine.decide` in "
        f"{p['setup_s']:.0f} s; {p['repeats']} repeat(s), each measuring every size; medians with (min–max) over "
        f"the repeats."
    ) + (f"\n\n{FINDINGS.read_text().strip()}" if FINDINGS.is_file() else "")
