"""Engine vs Redis's floor: ``Scripts.decide_ticket`` called directly, against a trivial EVALSHA of
the same shape, in the same run.

    python -m bench --only engine [--quick]

``--procs`` client processes (forked; each has its own connection) decide distinct tickets of one
account (5 Online agents, round robin on, no office hours, so every ticket takes the full assign
path: record, rotation, counts, stats, two events on two streams). Two modes:

- **pipelined**: each process sends pipelines of 50 calls. Our calls are built by the real
  ``Scripts.decide_ticket`` (keys, arguments) and captured into the pipeline instead of sent one by one;
- **direct**: each process calls ``Scripts.decide_ticket`` in a loop, one round trip per ticket (what
  a worker does).

The **floor** gets exactly the same keys and arguments (13 keys, 18 args), through the same client
path, but its script does only ``HGET`` (idempotency) + ``HSET`` of 3 fields + ``INCR`` + one small
``XADD``. Throughput = tickets / (first process start → last process end). Redis µs per call is
``INFO commandstats``' EVALSHA ``usec`` delta over the calls.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime
from typing import Any

import redis

from bench.bulk import commandstats_delta
from bench.common import markdown_table, median, ratio
from bench.inprocess import ACCOUNT, CHANNELS, setup_account
from schemas.common import utc_iso
from worker.core.engine import Engine
from worker.core.scripts import DecideReply, Scripts, TicketArgs

NAME = "engine"
TITLE = "Engine vs Redis's floor"
MODES = ("pipelined", "direct")
WORKLOADS = ("floor", "ours")

FLOOR_SCRIPT = """
local s = redis.call('HGET', KEYS[6], 'status')
if s then return {'assigned', 'x', '', 1, ARGV[3]} end
redis.call('HSET', KEYS[6], 'status', 'assigned', 'channel', ARGV[3], 'decided_at', ARGV[6])
redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[8], '*', 'type', 'ticket.assigned', 'data', ARGV[2])
return {'assigned', 'agent-1', '', 0, ARGV[3]}
"""
"""The baseline: same 13 keys and 18 arguments, four cheap commands, no JSON, no rotation."""

FAKE_REPLY = [b"assigned", b"agent-1", b"", 0, b"email"]


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"procs": 4, "pipeline": 50, "tickets_per_proc": 500, "repeats": 1}
    return {"procs": 4, "pipeline": 50, "tickets_per_proc": 4000, "repeats": 3}


def _decide(scripts: Scripts, engine: Engine, ticket_id: str, channel: str, now: datetime) -> DecideReply:
    keys = engine.keys(ACCOUNT)
    return scripts.decide_ticket(
        keys,
        TicketArgs(ticket_id, channel, utc_iso(now), int(now.timestamp() * 1000)),
        now_iso=utc_iso(now),
        office_hours_version="",
        open_at_arrival=True,
        available_at_iso="",
        event_ids=(f"e1-{ticket_id}", f"e2-{ticket_id}"),
        now=now,
        enqueued_ms=None,
    )


def _child(url: str, workload: str, mode: str, prefix: str, count: int, batch: int, start: Any, out: Any) -> None:
    client = redis.Redis.from_url(url)
    engine = Engine(client)
    scripts = engine.scripts
    floor = client.register_script(FLOOR_SCRIPT)
    now = datetime.now(UTC)
    pipe = client.pipeline(transaction=False)
    captured: list[tuple[list[str], list[Any]]] = []

    def capture(name: str, keys: list[str], args: list[Any]) -> list[Any]:
        captured.append((keys, args))
        return FAKE_REPLY

    original_call = scripts._call
    start.wait()
    began = time.time()
    for i in range(count):
        ticket_id = f"{prefix}{i:07d}"
        channel = CHANNELS[i % len(CHANNELS)].value
        if mode == "direct":
            if workload == "ours":
                _decide(scripts, engine, ticket_id, channel, now)
            else:
                scripts._call = capture  # type: ignore[method-assign]
                _decide(scripts, engine, ticket_id, channel, now)
                scripts._call = original_call  # type: ignore[method-assign]
                keys, args = captured.pop()
                floor(keys=keys, args=args)
            continue
        scripts._call = capture  # type: ignore[method-assign]
        _decide(scripts, engine, ticket_id, channel, now)
        scripts._call = original_call  # type: ignore[method-assign]
        if len(captured) >= batch or i == count - 1:
            loaded = scripts._scripts["decide_ticket"].script if workload == "ours" else floor
            for keys, args in captured:
                loaded(keys=keys, args=args, client=pipe)
            pipe.execute()
            captured.clear()
    out.put((began, time.time()))
    client.close()


def one_run(url: str, workload: str, mode: str, p: dict[str, Any], tag: str) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    count = p["tickets_per_proc"]
    stats_before = client.info("commandstats")
    before = stats_before.get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    children = [
        ctx.Process(
            target=_child, args=(url, workload, mode, f"{tag}-{n}-", count, p["pipeline"], start, out), daemon=True
        )
        for n in range(p["procs"])
    ]
    for child in children:
        child.start()
    time.sleep(0.3)  # let every child connect before the start signal
    start.set()
    spans = [out.get(timeout=600) for _ in children]
    for child in children:
        child.join(timeout=60)
        if child.exitcode != 0:
            raise RuntimeError(f"engine bench child exited with {child.exitcode}")
    stats_after = client.info("commandstats")
    after = stats_after["cmdstat_evalsha"]
    calls = int(after["calls"]) - int(before["calls"])
    total = count * p["procs"]
    if calls < total:
        raise RuntimeError(f"{workload}/{mode}: {calls} EVALSHA calls, expected {total}")
    seconds = max(e for _, e in spans) - min(b for b, _ in spans)
    client.close()
    return {
        "workload": workload,
        "mode": mode,
        "tickets": total,
        "seconds": round(seconds, 4),
        "tickets_per_s": round(total / seconds),
        "redis_us_per_call": round((int(after["usec"]) - int(before["usec"])) / calls, 2),
        "commandstats_per_ticket": commandstats_delta(stats_before, stats_after, total),
    }


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    client.flushdb()
    setup_account(client)
    client.script_load(FLOOR_SCRIPT)
    runs: list[dict[str, Any]] = []
    one_run(url, "ours", "direct", {**p, "tickets_per_proc": 20, "procs": 1}, "warm-o")
    one_run(url, "floor", "direct", {**p, "tickets_per_proc": 20, "procs": 1}, "warm-f")
    for repeat in range(p["repeats"]):
        order = WORKLOADS if repeat % 2 == 0 else tuple(reversed(WORKLOADS))
        for mode in MODES:
            for workload in order:
                r = one_run(url, workload, mode, p, f"r{repeat}{mode[0]}{workload[0]}")
                r["repeat"] = repeat
                runs.append(r)
                print(f"  {NAME}: repeat {repeat} {mode} {workload}: {r['tickets_per_s']} tickets/s", flush=True)
    client.flushdb()
    client.close()
    cells = []
    for mode in MODES:
        cell: dict[str, Any] = {"mode": mode}
        for workload in WORKLOADS:
            mine = [r for r in runs if (r["mode"], r["workload"]) == (mode, workload)]
            cell[workload] = {
                "tickets_per_s": median([r["tickets_per_s"] for r in mine]),
                "min_max": [min(r["tickets_per_s"] for r in mine), max(r["tickets_per_s"] for r in mine)],
                "redis_us_per_call": median([r["redis_us_per_call"] for r in mine]),
            }
        paired = []
        for repeat in range(p["repeats"]):
            pair = {r["workload"]: r for r in runs if r["mode"] == mode and r["repeat"] == repeat}
            paired.append(ratio(pair["ours"]["tickets_per_s"], pair["floor"]["tickets_per_s"]))
        cell["ours_over_floor"] = {
            "median": round(median(paired), 3),
            "min_max": [round(min(paired), 3), round(max(paired), 3)],
        }
        cells.append(cell)
    worst = min(c["ours_over_floor"]["median"] for c in cells)
    inside = next(r for r in reversed(runs) if (r["workload"], r["mode"]) == ("ours", "pipelined"))
    return {
        "params": p,
        "floor_script": FLOOR_SCRIPT.strip(),
        "summary": {"cells": cells, "ours_commandstats_per_ticket": inside["commandstats_per_ticket"]},
        "runs": runs,
        "verdict": {"ratio_min": worst, "target": ">= 0.5", "met": worst >= 0.5},
    }


def render(result: dict[str, Any]) -> str:
    p = result["params"]
    rows = []
    for cell in result["summary"]["cells"]:
        ours, floor, r = cell["ours"], cell["floor"], cell["ours_over_floor"]
        shape = (
            f"{p['procs']} processes × pipelines of {p['pipeline']}"
            if cell["mode"] == "pipelined"
            else (f"{p['procs']} processes, 1 call per round trip")
        )
        rows.append(
            [
                shape,
                f"{p['procs'] * p['tickets_per_proc']:,}",
                f"{floor['tickets_per_s']:,.0f} ({floor['min_max'][0]:,}–{floor['min_max'][1]:,})",
                f"{ours['tickets_per_s']:,.0f} ({ours['min_max'][0]:,}–{ours['min_max'][1]:,})",
                f"**{r['median']:.2f}** ({r['min_max'][0]:.2f}–{r['min_max'][1]:.2f})",
                "≥ 0.5",
                f"{floor['redis_us_per_call']:.1f} / {ours['redis_us_per_call']:.1f}",
            ]
        )
    table = markdown_table(
        [
            "mode",
            "tickets per run",
            "floor tickets/s (min–max)",
            "ours tickets/s (min–max)",
            "ours / floor (paired)",
            "target",
            "Redis µs per EVALSHA floor / ours",
        ],
        rows,
    )
    inside = result["summary"].get("ours_commandstats_per_ticket") or {}
    if inside:
        cmds = ", ".join(
            f"`{name}` {v['calls']:g}× {v['us']:.1f} µs"
            for name, v in inside.items()
            if name != "evalsha" and v["us"] >= 0.5
        )
        total = sum(v["us"] for name, v in inside.items() if name != "evalsha")
        table += (
            f"\n\nInside one of our EVALSHAs ({inside.get('evalsha', {}).get('us', 0):.1f} µs, `INFO commandstats`, "
            f"pipelined run): the Redis commands take {total:.1f} µs ({cmds}); the rest is Lua."
        )
    return table
