"""Presence-timeout sweep (issue 16): one sweep and one heartbeat with 0, 1,000 and 100,000 pending timers.

    python -m bench --only presence [--quick]

**Set-up, through the real engine** (``Engine.upsert_user``, ``Engine.set_status(..., ONLINE, ...)``,
``Engine.set_presence_timeout``), once: ``accounts`` accounts (1,000; 10 in ``--quick``) of ``agents``
agents each (100), every agent Online at a simulated ``t0``. A **pending timer** is an entry of a
partition's ``presence_due`` zset whose time is in the future: an Online agent of an account with a
presence timeout. The three sizes are made by setting a timeout of 3,600 s (at ``t0``) on none, on
``accounts / 100`` (10), or on all the accounts, and by clearing it again: the agents stay Online
throughout, so moving between sizes costs one ``set_presence_timeout`` call per account, and the sizes are
measured in turn within each repeat (order alternated), not minutes apart. The sizes: (a) 0, (b) 1,000,
(c) 100,000 pending timers (``--quick``: 0, 100, 1,000; the accounts are set up once, before a
warm-up sweep and heartbeat that load the scripts), as ``ZCARD`` over the partitions reports them.

**Measured at each size** (16 partitions, the default; ``SLOWLOG`` logging every command, threshold 0,
only during the measured calls, not the set-up):

- **nothing due**: ``sweeps`` (200) calls of ``sweep_presence(engine.scripts, engine.keys, 16, now)`` at
  ``t0`` + 30 s (nothing due): wall per sweep (this process, send → reply of 16 ``ZRANGEBYSCORE``), and
  Redis µs per sweep (the sum of its ``ZRANGEBYSCORE`` durations in SLOWLOG).
- **100 agents due**: ``due_sweeps`` (5) times, a fresh account of 100 agents goes Online at ``t0`` with a
  timeout of 60 s, then one sweep at ``t0`` + 61 s: it must return exactly those 100 (checked), and the
  pending timers must all still be there (checked). Wall of the sweep; **Redis µs per expired agent** (the
  sum of the ``expire_presence`` EVALSHAs in SLOWLOG over 100).
- **heartbeat**: a 10-agent account gets the timeout (so 10 timers more while it runs), then
  ``heartbeats`` (2,000) calls of ``Engine.heartbeat`` over its agents, each re-filing the agent's timer
  (a ``ZADD`` into the same ``presence_due`` zset); then its timeout is cleared. Wall per call (median)
  and Redis µs per call (its EVALSHAs in SLOWLOG).
- **longest Redis call**: the largest SLOWLOG entry of any command during the measured calls (target ≤
  5 ms, as in ``bench/capacity_release.py``), and how many entries were over 5 ms.

The ratios (c) / (a) are taken per repeat and reported as the median (min–max) over ``repeats`` (3; 1 in
``--quick``); beside them, the fastest repeat of (c) over the fastest of (a) (the least disturbed runs on a
shared machine). Target: flat (≈ 1). Wall figures include the client's round trips on a shared machine;
Redis µs figures are the server's own clock.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from bench.bulk import SLOWLOG_MAX_LEN
from bench.common import markdown_table, median, ratio, script_name
from schemas.common import AgentStatus, Role
from worker.core.engine import Engine
from worker.core.keys import DEFAULT_PARTITIONS, partition_presence_due
from worker.core.presence import sweep_presence
from worker.core.script_sources import script_source

NAME = "presence"
TITLE = "Presence-timeout sweep (issue 16)"
FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_presence.md"
"""Hand-written analysis of a run, appended to the generated tables (edit it there, not in the doc)."""
OWNER = "owner-1"
TIMEOUT_S = 3600
DUE_TIMEOUT_S = 60
DUE_AGENTS = 100
HB_AGENTS = 10
LONG_CALL_US = 5_000
SHAS = {name: hashlib.sha1(script_source(name).encode()).hexdigest() for name in ("expire_presence", "heartbeat")}
SIZES = ("a", "b", "c")


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"accounts": 10, "agents": 100, "sweeps": 50, "due_sweeps": 2, "heartbeats": 300, "repeats": 1}
    return {"accounts": 1_000, "agents": 100, "sweeps": 200, "due_sweeps": 5, "heartbeats": 2_000, "repeats": 3}


def add_account(engine: Engine, account: str, agents: int, now: datetime) -> list[str]:
    """An account of ``agents`` agents, every one Online at ``now`` (no timeout yet)."""
    engine.upsert_user(account, OWNER, Role.OWNER, now)
    members = [f"agent-{i:03d}" for i in range(agents)]
    for agent in members:
        engine.upsert_user(account, agent, Role.AGENT, now)
        engine.set_status(account, agent, AgentStatus.ONLINE, agent, now)
    return members


def pending(client: redis.Redis) -> int:
    return sum(int(client.zcard(partition_presence_due(p))) for p in range(DEFAULT_PARTITIONS))


@contextmanager
def slowlog_all(client: redis.Redis, into: list[tuple[str, int]]) -> Iterator[None]:
    """Log every command while the block runs; append (command head, µs) of each entry to ``into``."""
    client.config_set("slowlog-max-len", SLOWLOG_MAX_LEN)
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    try:
        yield
    finally:
        client.config_set("slowlog-log-slower-than", 10_000)
        for entry in client.slowlog_get(SLOWLOG_MAX_LEN):
            command = entry["command"]
            words = (command.decode(errors="replace") if isinstance(command, bytes) else str(command)).split(" ", 2)
            head = words[0].lower()
            if head in ("slowlog", "config"):
                continue
            name = f"{head} {words[1]}" if head == "evalsha" and len(words) > 1 else head
            into.append((name, int(entry["duration"])))
        client.slowlog_reset()


def _sum(entries: list[tuple[str, int]], head: str) -> int:
    return sum(us for name, us in entries if name == head)


def _longest(entries: list[tuple[str, int]]) -> dict[str, Any]:
    top = max(entries, key=lambda e: e[1], default=("", 0))
    return {"us": top[1], "command": top[0][:60], "over_5_ms": sum(1 for _, us in entries if us > LONG_CALL_US)}


def measure_idle(client: redis.Redis, engine: Engine, at: datetime, sweeps: int) -> dict[str, Any]:
    walls: list[float] = []
    entries: list[tuple[str, int]] = []
    with slowlog_all(client, entries):
        for _ in range(sweeps):
            started = time.perf_counter()
            expired = sweep_presence(engine.scripts, engine.keys, DEFAULT_PARTITIONS, at)
            walls.append(time.perf_counter() - started)
            if expired:
                raise RuntimeError(f"idle sweep expired {len(expired)}")
    return {
        "wall_us": round(median(walls) * 1e6, 1),
        "wall_us_max": round(max(walls) * 1e6, 1),
        "redis_us": round(_sum(entries, "zrangebyscore") / sweeps, 2),
        "longest": _longest(entries),
    }


def measure_due(client: redis.Redis, engine: Engine, t0: datetime, label: str) -> dict[str, Any]:
    account = f"due-{label}"
    add_account(engine, account, DUE_AGENTS, t0)
    engine.set_presence_timeout(account, DUE_TIMEOUT_S, OWNER, t0)
    before = pending(client)
    entries: list[tuple[str, int]] = []
    with slowlog_all(client, entries):
        started = time.perf_counter()
        expired = sweep_presence(engine.scripts, engine.keys, DEFAULT_PARTITIONS, t0 + timedelta(seconds=61))
        wall = time.perf_counter() - started
    if len(expired) != DUE_AGENTS or {a for a, _ in expired} != {account}:
        raise RuntimeError(f"due sweep: {len(expired)} expired, accounts {sorted({a for a, _ in expired})[:3]}")
    if pending(client) != before - DUE_AGENTS:
        raise RuntimeError("due sweep: pending timers changed")
    redis_us = _sum(entries, f"evalsha {SHAS['expire_presence']}")
    return {
        "wall_ms": round(wall * 1000, 3),
        "redis_us_per_agent": round(redis_us / DUE_AGENTS, 2),
        "wall_us_per_agent": round(wall * 1e6 / DUE_AGENTS, 1),
        "longest": _longest(entries),
    }


def measure_heartbeat(client: redis.Redis, engine: Engine, t0: datetime, beats: int) -> dict[str, Any]:
    engine.set_presence_timeout("hb", TIMEOUT_S, OWNER, t0)
    walls: list[float] = []
    entries: list[tuple[str, int]] = []
    with slowlog_all(client, entries):
        for i in range(beats):
            at = t0 + timedelta(seconds=10, milliseconds=i)
            started = time.perf_counter()
            if not engine.heartbeat("hb", f"agent-{i % HB_AGENTS:03d}", at):
                raise RuntimeError("heartbeat: agent not Online")
            walls.append(time.perf_counter() - started)
    engine.set_presence_timeout("hb", None, OWNER, t0)
    return {
        "wall_us": round(median(walls) * 1e6, 1),
        "redis_us": round(_sum(entries, f"evalsha {SHAS['heartbeat']}") / beats, 2),
        "longest": _longest(entries),
    }


def set_size(engine: Engine, accounts: list[str], count: int, t0: datetime) -> None:
    """A timeout of TIMEOUT_S on the first ``count`` accounts, none on the others (each call only if it changes)."""
    for i, account in enumerate(accounts):
        engine.set_presence_timeout(account, TIMEOUT_S if i < count else None, OWNER, t0)


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        engine = Engine(client)
        t0 = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        accounts = [f"pend-{i:05d}" for i in range(p["accounts"])]
        for account in accounts:
            add_account(engine, account, p["agents"], t0)
        add_account(engine, "hb", HB_AGENTS, t0)
        setup_s = time.perf_counter() - started
        print(f"  presence: set-up {p['accounts'] * p['agents']:,} Online agents in {setup_s:.1f} s", flush=True)
        counts = {"a": 0, "b": max(1, p["accounts"] // 100), "c": p["accounts"]}
        measure_due(client, engine, t0, "warm-up")  # loads the scripts: no SCRIPT LOAD in the figures
        measure_heartbeat(client, engine, t0, HB_AGENTS)
        runs = []
        for repeat in range(p["repeats"]):
            order = SIZES if repeat % 2 == 0 else tuple(reversed(SIZES))
            for size in order:
                set_size(engine, accounts, counts[size], t0)
                timers = pending(client)
                one: dict[str, Any] = {"repeat": repeat, "size": size, "pending": timers}
                one["idle"] = measure_idle(client, engine, t0 + timedelta(seconds=30), p["sweeps"])
                due = [measure_due(client, engine, t0, f"{repeat}-{size}-{k}") for k in range(p["due_sweeps"])]
                one["due"] = due
                one["heartbeat"] = measure_heartbeat(client, engine, t0, p["heartbeats"])
                runs.append(one)
                print(
                    f"  presence: repeat {repeat} size {size} ({timers:,} pending): idle sweep "
                    f"{one['idle']['wall_us']:.0f} µs, due sweep {median([d['wall_ms'] for d in due]):.1f} ms "
                    f"({median([d['redis_us_per_agent'] for d in due]):.1f} Redis µs/agent), heartbeat "
                    f"{one['heartbeat']['wall_us']:.0f} µs",
                    flush=True,
                )
        client.flushdb()
    finally:
        client.config_set("slowlog-log-slower-than", 10_000)
        client.close()
    summary = summarize(runs)
    longest = max(r["longest_ms"] for r in summary["cells"].values())
    return {
        "params": {**p, "partitions": DEFAULT_PARTITIONS, "setup_s": round(setup_s, 1)},
        "summary": summary,
        "runs": runs,
        "verdict": {
            "idle sweep (c)/(a)": summary["ratios"]["idle_wall"]["median"],
            "Redis µs per expired agent (c)/(a)": summary["ratios"]["due_redis_per_agent"]["median"],
            "heartbeat Redis µs (c)/(a)": summary["ratios"]["heartbeat_redis"]["median"],
            "longest call ms": longest,
            "≤ 5 ms": longest <= 5,
        },
    }


METRICS: dict[str, Callable[[dict[str, Any]], float]] = {
    "idle_wall": lambda r: r["idle"]["wall_us"],
    "idle_redis": lambda r: r["idle"]["redis_us"],
    "due_wall": lambda r: median([d["wall_ms"] for d in r["due"]]),
    "due_redis_per_agent": lambda r: median([d["redis_us_per_agent"] for d in r["due"]]),
    "heartbeat_wall": lambda r: r["heartbeat"]["wall_us"],
    "heartbeat_redis": lambda r: r["heartbeat"]["redis_us"],
}


def _longests(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [run["idle"]["longest"], *(d["longest"] for d in run["due"]), run["heartbeat"]["longest"]]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for size in SIZES:
        mine = [r for r in runs if r["size"] == size]
        cell: dict[str, Any] = {"pending": mine[0]["pending"], "repeats": len(mine)}
        for name, get in METRICS.items():
            values = [get(r) for r in mine]
            cell[name] = round(median(values), 2)
            cell[name + "_min_max"] = [min(values), max(values)]
        longs = [lg for r in mine for lg in _longests(r)]
        top = max(longs, key=lambda lg: lg["us"])
        cell["longest_ms"] = round(top["us"] / 1000, 3)
        cell["longest_command"] = script_name(top["command"], SHAS)  # the name, while the hash still matches
        cell["calls_over_5_ms"] = sum(lg["over_5_ms"] for lg in longs)
        cell["idle_wall_max_us"] = max(r["idle"]["wall_us_max"] for r in mine)
        cells[size] = cell
    ratios = {}
    for name, get in METRICS.items():
        values = []
        for repeat in sorted({r["repeat"] for r in runs}):
            pair = {r["size"]: r for r in runs if r["repeat"] == repeat}
            values.append(ratio(get(pair["c"]), get(pair["a"])))
        ratios[name] = {"median": round(median(values), 3), "min_max": [round(min(values), 3), round(max(values), 3)]}
    return {"cells": cells, "ratios": ratios}


def _range(cell: dict[str, Any], field: str, fmt: str) -> str:
    low, high = cell[field + "_min_max"]
    if low == high:
        return f"{cell[field]:{fmt}}"
    return f"{cell[field]:{fmt}} ({low:{fmt}}–{high:{fmt}})"


def render(result: dict[str, Any]) -> str:
    p, summary = result["params"], result["summary"]
    rows = []
    for size in SIZES:
        c = summary["cells"][size]
        rows.append(
            [
                f"({size}) {c['pending']:,}",
                _range(c, "idle_wall", ",.0f"),
                _range(c, "idle_redis", ".1f"),
                _range(c, "due_wall", ".2f"),
                _range(c, "due_redis_per_agent", ".1f"),
                _range(c, "heartbeat_wall", ",.0f"),
                _range(c, "heartbeat_redis", ".1f"),
                f"{c['longest_ms']:.3f} (`{script_name(c['longest_command'], SHAS)}`)",
                str(c["calls_over_5_ms"]),
            ]
        )
    table = markdown_table(
        [
            "pending timers",
            f"sweep, nothing due: wall µs (median of {p['sweeps']})",
            "… Redis µs per sweep",
            f"sweep, {DUE_AGENTS} due: wall ms",
            "… Redis µs per expired agent",
            "heartbeat wall µs",
            "heartbeat Redis µs",
            "longest Redis call ms (SLOWLOG)",
            "calls > 5 ms",
        ],
        rows,
    )
    names = {
        "idle_wall": "sweep, nothing due, wall",
        "idle_redis": "sweep, nothing due, Redis time",
        "due_wall": f"sweep, {DUE_AGENTS} due, wall",
        "due_redis_per_agent": "Redis time per expired agent",
        "heartbeat_wall": "heartbeat, wall",
        "heartbeat_redis": "heartbeat, Redis time",
    }
    ratio_rows = []
    for name, label in names.items():
        r = summary["ratios"][name]
        fastest = ratio(summary["cells"]["c"][name + "_min_max"][0], summary["cells"]["a"][name + "_min_max"][0])
        paired = f"**{r['median']:.2f}** ({r['min_max'][0]:.2f}–{r['min_max'][1]:.2f})"
        ratio_rows.append([label, paired, f"{fastest:.2f}", "≈ 1"])
    ratios = markdown_table(
        ["(c) / (a)", "paired within a repeat: median (min–max)", "fastest (c) / fastest (a)", "target"], ratio_rows
    )
    text = (
        f"Set-up: {p['accounts'] * p['agents']:,} agents Online through the engine in {p['setup_s']:.0f} s; "
        f"{p['repeats']} repeat(s), each measuring every size; medians with (min–max) over the repeats."
    )
    findings = FINDINGS.read_text().strip() if FINDINGS.is_file() else ""
    return table + "\n\n" + ratios + "\n\n" + text + ("\n\n" + findings if findings else "")
