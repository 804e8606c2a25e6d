"""Bulk team assignment: a 10,000-ticket job's throughput and its longest single Redis call.

    python -m bench.bulk [--tickets 10000] [--repeats 3] [--batch-sizes 250,500,1000]
                         [--team-size 10] [--redis-server PATH] [--no-profile] [--no-write]

For every batch size (``worker.bulk.BATCH_SIZE`` is monkeypatched) and every repeat, on a flushed
throwaway Redis:

1. **ours**: one account, a team of ``--team-size`` agents, all Online; ``--tickets`` tickets decided
   with round robin off through ``Engine.decide`` (so they are real decided tickets, waiting in the
   unassigned set); round robin back on. Then the real job: ``worker.bulk.start_bulk_assign``
   (``unassigned=True``) and an in-process ``make_worker(client).work(burst=True)``. Timed:
   **whole job** = the job's ``enqueued_at`` -> ``ended_at`` (RQ's stamps; the worker's teardown,
   which waits up to 1 s for its pub/sub thread, is kept apart as ``wall_to_worker_exit``);
   **job body** = ``run_bulk_assign`` alone; **Lua** = the sum of the ``bulk_assign`` EVALSHA round
   trips (client side) and the sum of their durations as Redis logs them in ``SLOWLOG``
   (``slowlog-log-slower-than`` = ``--slowlog-threshold``, 100 µs by default: at 0, Redis 6.2 also
   logs every command run inside the scripts, ~11 per ticket, which slows the script it measures;
   every batch call takes far longer than 100 µs, and the bench checks none is missed). The
   **longest call** is the largest SLOWLOG duration of a ``bulk_assign`` EVALSHA (Redis's own
   clock, so no network or client in it); the one ``bulk_finish`` call (the toasts, over the whole
   job) and the longest command of any kind are kept too. ``INFO commandstats`` around the job
   gives calls and µs per ticket by command. The result is checked every run: every ticket
   assigned by the bulk job, the unassigned set empty, the per-agent counts within 1.
2. **floor** (the baseline): the same number of ticket hashes (written with a pipeline) and the
   same batch size, but a trivial script of the same shape: per ticket one HGET + one HSET + one
   XADD of a small entry. It is what Redis can do at best in that shape; ours / floor is the
   figure meant to travel to other machines.

The two workloads alternate order between repeats. Figures are medians over the repeats.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq.job import Job

import worker.bulk
from bench.common import bench_redis, machine, markdown_table, median, ratio, utc_now_iso, write_json
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import BulkAssignRequest, TicketCreated
from worker.engine import Engine
from worker.keys import AccountKeys
from worker.logging import configure_logging
from worker.runner import make_worker
from worker.scripts import Scripts, script_source

ACCOUNT = "bench-acme"
OWNER = "owner-1"
TEAM = "bench-team"
CHANNELS = (Channel.EMAIL, Channel.WEBCHAT, Channel.SMS, Channel.SOCIAL)
WORKLOADS = ("floor", "ours")
SLOWLOG_MAX_LEN = 1_000_000

FLOOR_SCRIPT = """
local n = 0
for i = 2, #KEYS do
  local status = redis.call('HGET', KEYS[i], 'status')
  redis.call('HSET', KEYS[i], 'status', 'assigned', 'agent_id', ARGV[1])
  redis.call('XADD', KEYS[1], '*', 'type', 'ticket.assigned', 'data', ARGV[i])
  n = n + 1
end
return n
"""
"""The baseline: per ticket HGET + HSET + XADD of a small entry, nothing else (no JSON, no rotation)."""


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


BULK_SHA = sha1(script_source("bulk_assign"))
FINISH_SHA = sha1(script_source("bulk_finish"))
FLOOR_SHA = sha1(FLOOR_SCRIPT)


# --------------------------------------------------------------------------------------------
# SLOWLOG
# --------------------------------------------------------------------------------------------


def slowlog_on(client: redis.Redis, threshold_us: int) -> None:
    client.config_set("slowlog-log-slower-than", threshold_us)
    client.config_set("slowlog-max-len", SLOWLOG_MAX_LEN)


def slowlog_read(client: redis.Redis, sha: str) -> dict[str, Any]:
    """Durations (µs) SLOWLOG logged since the last reset: the EVALSHAs of ``sha``, and the longest
    entry of any kind (with its command, truncated)."""
    entries = client.slowlog_get(SLOWLOG_MAX_LEN)
    calls: list[int] = []
    longest: dict[str, Any] = {"us": 0, "command": ""}
    for entry in entries:
        command = entry["command"]
        text = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
        words = text.split(" ", 2)
        if words[0].lower() == "slowlog":
            continue
        duration = int(entry["duration"])
        if words[0].lower() == "evalsha" and len(words) > 1 and words[1] == sha:
            calls.append(duration)
        if duration > longest["us"]:
            longest = {"us": duration, "command": text[:80]}
    return {
        "entries": len(entries),
        "calls": len(calls),
        "max_us": max(calls, default=0),
        "p50_us": median(calls) if calls else 0,
        "sum_us": sum(calls),
        "any_max": longest,
    }


def commandstats_delta(before: dict[str, Any], after: dict[str, Any], tickets: int) -> dict[str, Any]:
    """Calls and µs per ticket by command around the job (commands inside scripts included; the
    ``evalsha`` row's µs contain its inner commands' µs)."""
    rows = {}
    for name, stat in after.items():
        old = before.get(name, {"calls": 0, "usec": 0})
        calls, usec = int(stat["calls"]) - int(old["calls"]), int(stat["usec"]) - int(old["usec"])
        if calls and name not in ("cmdstat_info", "cmdstat_slowlog"):
            rows[name.removeprefix("cmdstat_")] = {"calls": round(calls / tickets, 3), "us": round(usec / tickets, 2)}
    return dict(sorted(rows.items(), key=lambda kv: -kv[1]["us"]))


# --------------------------------------------------------------------------------------------
# Timing hooks (class-level, so the worker's own Engine/Scripts use them)
# --------------------------------------------------------------------------------------------


@contextmanager
def patched(owner: Any, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextmanager
def timing_hooks(timings: dict[str, list[float]]) -> Iterator[None]:
    """Record: each bulk_assign EVALSHA round trip (``Scripts._call``), each ``Scripts.bulk_assign``
    wrapper call (plus key/arg building), each ``Job.save_meta``, and ``run_bulk_assign`` as a whole."""

    def wrap_call(original: Any) -> Any:
        def _call(self: Scripts, name: str, keys: list[str], args: list[Any]) -> list[Any]:
            if name != "bulk_assign":
                return original(self, name, keys, args)  # type: ignore[no-any-return]
            started = time.perf_counter()
            try:
                return original(self, name, keys, args)  # type: ignore[no-any-return]
            finally:
                timings["evalsha"].append(time.perf_counter() - started)

        return _call

    def wrap_timed(key: str) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    timings[key].append(time.perf_counter() - started)

            return timed

        return wrap

    with (
        patched(Scripts, "_call", wrap_call),
        patched(Scripts, "bulk_assign", wrap_timed("bulk_assign")),
        patched(Job, "save_meta", wrap_timed("save_meta")),
        patched(worker.bulk, "run_bulk_assign", wrap_timed("run_bulk_assign")),
    ):
        yield


@contextmanager
def batch_size(size: int) -> Iterator[None]:
    with patched(worker.bulk, "BATCH_SIZE", lambda _: size):
        yield


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------


def agents(team_size: int) -> list[str]:
    return [f"agent-{i:02d}" for i in range(1, team_size + 1)]


def setup_ours(client: redis.Redis, tickets: int, team_size: int) -> Engine:
    """Account, team (all Online), and ``tickets`` tickets decided with round robin off."""
    client.flushdb()
    now = datetime.now(UTC)
    engine = Engine(client)
    engine.upsert_user(ACCOUNT, OWNER, Role.OWNER, now)
    members = agents(team_size)
    for agent in members:
        engine.upsert_user(ACCOUNT, agent, Role.AGENT, now)
        engine.set_status(ACCOUNT, agent, AgentStatus.ONLINE, agent, now)
    engine.set_team(ACCOUNT, TEAM, members, OWNER, now)
    engine.set_round_robin(ACCOUNT, False, OWNER, now)
    spread = timedelta(days=1)
    step = spread / max(tickets, 1)
    for i in range(tickets):
        event = TicketCreated(
            account_id=ACCOUNT,
            ticket_id=f"t{i:06d}",
            channel=CHANNELS[i % len(CHANNELS)],
            created_at=now - spread + step * i,
            subject=f"bench ticket {i}",
        )
        decision = engine.decide(event, now)
        if decision.outcome != "unassigned":
            raise RuntimeError(f"set-up: ticket {event.ticket_id} was {decision.outcome}, expected unassigned")
    engine.set_round_robin(ACCOUNT, True, OWNER, now)
    keys = engine.keys(ACCOUNT)
    if client.zcard(keys.unassigned) != tickets:
        raise RuntimeError("set-up: not every ticket is in the unassigned set")
    return engine


def setup_floor(client: redis.Redis, tickets: int) -> list[str]:
    """The same number of ticket hashes, of a similar size, written with a pipeline."""
    client.flushdb()
    keys = AccountKeys.for_account(ACCOUNT)
    ticket_keys = [keys.ticket(f"t{i:06d}") for i in range(tickets)]
    pipe = client.pipeline(transaction=False)
    for i, key in enumerate(ticket_keys):
        pipe.hset(
            key,
            mapping={
                "status": "unassigned",
                "reason": "round_robin_off",
                "channel": CHANNELS[i % len(CHANNELS)].value,
                "created_ms": 1_700_000_000_000 + i,
            },
        )
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()
    return ticket_keys


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


def verify_ours(client: redis.Redis, engine: Engine, result: dict[str, Any], tickets: int, team_size: int) -> dict:
    keys = engine.keys(ACCOUNT)
    problems = []
    if result.get("assigned") != tickets or result.get("tickets") != tickets:
        problems.append(f"job result {result}")
    if client.zcard(keys.unassigned):
        problems.append(f"{client.zcard(keys.unassigned)} tickets still unassigned")
    counts = sorted(int(v) for v in client.hgetall(keys.counts).values())
    if len(counts) != team_size or sum(counts) != tickets or counts[-1] - counts[0] > 1:
        problems.append(f"per-agent counts {counts}")
    pipe = client.pipeline(transaction=False)
    for i in range(tickets):
        pipe.hmget(keys.ticket(f"t{i:06d}"), ["status", "reason"])
    statuses = pipe.execute()
    wrong = sum(1 for status, reason in statuses if (status, reason) != (b"assigned", b"bulk_team"))
    if wrong:
        problems.append(f"{wrong} ticket records not assigned by the bulk job")
    if problems:
        raise RuntimeError("ours: wrong result: " + "; ".join(problems))
    return {"assigned": tickets, "per_agent_min_max": [counts[0], counts[-1]]}


def run_ours(client: redis.Redis, tickets: int, team_size: int, size: int) -> dict[str, Any]:
    engine = setup_ours(client, tickets, team_size)
    request = BulkAssignRequest(account_id=ACCOUNT, team_id=TEAM, actor_id=OWNER, unassigned=True)
    timings: dict[str, list[float]] = {"evalsha": [], "bulk_assign": [], "save_meta": [], "run_bulk_assign": []}
    stats_before = client.info("commandstats")
    client.slowlog_reset()
    with batch_size(size), timing_hooks(timings):
        started = time.perf_counter()
        job = worker.bulk.start_bulk_assign(client, request)
        make_worker(client).work(burst=True, logging_level="WARNING")
        wall = time.perf_counter() - started
    slow = slowlog_read(client, BULK_SHA)
    finish = slowlog_read(client, FINISH_SHA)
    commands = commandstats_delta(stats_before, client.info("commandstats"), tickets)
    job = Job.fetch(job.id, connection=client)
    if job.get_status() != "finished":
        raise RuntimeError(f"ours: job {job.id} is {job.get_status()}: {job.exc_info}")
    checked = verify_ours(client, engine, job.return_value() or {}, tickets, team_size)
    logging_on = int(client.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]) < 1000
    if logging_on and slow["calls"] < len(timings["evalsha"]):  # more: the warm-up's first NOSCRIPT
        raise RuntimeError(f"SLOWLOG saw {slow['calls']} bulk_assign calls, the client made {len(timings['evalsha'])}")
    (job_seconds,) = timings["run_bulk_assign"]
    lua = sum(timings["evalsha"])
    if job.enqueued_at is None or job.started_at is None or job.ended_at is None:
        raise RuntimeError("ours: the job has no enqueued_at/started_at/ended_at stamp")
    whole = (job.ended_at - job.enqueued_at).total_seconds()
    return {
        "workload": "ours",
        "batch_size": size,
        "tickets": tickets,
        "batches": len(timings["evalsha"]),
        "whole_job_seconds": round(whole, 4),
        "in_worker_seconds": round((job.ended_at - job.started_at).total_seconds(), 4),
        "wall_to_worker_exit_seconds": round(wall, 4),
        "job_seconds": round(job_seconds, 4),
        "evalsha_seconds": round(lua, 4),
        "bulk_assign_wrapper_seconds": round(sum(timings["bulk_assign"]), 4),
        "save_meta_seconds": round(sum(timings["save_meta"]), 4),
        "save_meta_calls": len(timings["save_meta"]),
        "whole_job_tickets_per_s": round(tickets / whole),
        "job_tickets_per_s": round(tickets / job_seconds),
        "lua_tickets_per_s_client": round(tickets / lua),
        "lua_tickets_per_s_redis": round(tickets / (slow["sum_us"] / 1e6)) if slow["sum_us"] else None,
        "max_call_ms_slowlog": round(slow["max_us"] / 1000, 3),
        "median_call_ms_slowlog": round(slow["p50_us"] / 1000, 3),
        "finish_call_ms_slowlog": round(finish["max_us"] / 1000, 3),
        "max_call_ms_client": round(max(timings["evalsha"]) * 1000, 3),
        "slowlog_sum_ms": round(slow["sum_us"] / 1000, 2),
        "slowlog_entries": slow["entries"],
        "longest_any_command": {"ms": round(slow["any_max"]["us"] / 1000, 3), "command": slow["any_max"]["command"]},
        "commandstats_per_ticket": commands,
        **checked,
    }


def run_floor(client: redis.Redis, tickets: int, size: int) -> dict[str, Any]:
    ticket_keys = setup_floor(client, tickets)
    stream = AccountKeys.for_account(ACCOUNT).events
    script = client.register_script(FLOOR_SCRIPT)
    script(keys=[stream], args=["agent-01"])  # load it (0 tickets), outside the timing
    calls: list[float] = []
    client.slowlog_reset()
    done = 0
    started = time.perf_counter()
    for start in range(0, tickets, size):
        batch = ticket_keys[start : start + size]
        args = ["agent-01", *(f"t{i:06d}" for i in range(start, start + len(batch)))]
        call_started = time.perf_counter()
        done += int(script(keys=[stream, *batch], args=args))
        calls.append(time.perf_counter() - call_started)
    wall = time.perf_counter() - started
    slow = slowlog_read(client, FLOOR_SHA)
    if done != tickets or client.xlen(stream) != tickets:
        raise RuntimeError(f"floor: {done} tickets done, {client.xlen(stream)} stream entries, expected {tickets}")
    lua = sum(calls)
    return {
        "workload": "floor",
        "batch_size": size,
        "tickets": tickets,
        "batches": len(calls),
        "whole_job_seconds": round(wall, 4),
        "evalsha_seconds": round(lua, 4),
        "whole_job_tickets_per_s": round(tickets / wall),
        "lua_tickets_per_s_client": round(tickets / lua),
        "lua_tickets_per_s_redis": round(tickets / (slow["sum_us"] / 1e6)) if slow["sum_us"] else None,
        "max_call_ms_slowlog": round(slow["max_us"] / 1000, 3),
        "median_call_ms_slowlog": round(slow["p50_us"] / 1000, 3),
        "max_call_ms_client": round(max(calls) * 1000, 3),
        "slowlog_sum_ms": round(slow["sum_us"] / 1000, 2),
        "slowlog_entries": slow["entries"],
    }


def profile_ours(client: redis.Redis, tickets: int, team_size: int, size: int) -> dict[str, Any]:
    """One more job under cProfile: where the Python side of the job spends its time."""
    setup_ours(client, tickets, team_size)
    request = BulkAssignRequest(account_id=ACCOUNT, team_id=TEAM, actor_id=OWNER, unassigned=True)
    profiler = cProfile.Profile()
    with batch_size(size):
        job = worker.bulk.start_bulk_assign(client, request)
        profiler.enable()
        make_worker(client).work(burst=True, logging_level="WARNING")
        profiler.disable()
    if Job.fetch(job.id, connection=client).get_status() != "finished":
        raise RuntimeError("profiled job did not finish")
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{filename.rsplit('/site-packages/', 1)[-1].replace(str(sys.prefix), '')}:{line}({name})",
                "calls": calls,
                "self_s": round(tottime, 4),
                "cum_s": round(cumtime, 4),
            }
        )
    by_cum = sorted(rows, key=lambda r: -r["cum_s"])[:30]
    by_self = sorted(rows, key=lambda r: -r["self_s"])[:20]
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    return {
        "batch_size": size,
        "profiled_seconds": round(total, 4),
        "top_cumulative": by_cum,
        "top_self": by_self,
    }


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------

MEDIAN_FIELDS = (
    "whole_job_tickets_per_s",
    "job_tickets_per_s",
    "lua_tickets_per_s_client",
    "lua_tickets_per_s_redis",
    "max_call_ms_slowlog",
    "median_call_ms_slowlog",
    "finish_call_ms_slowlog",
    "max_call_ms_client",
    "whole_job_seconds",
    "in_worker_seconds",
    "wall_to_worker_exit_seconds",
    "job_seconds",
    "evalsha_seconds",
    "slowlog_sum_ms",
    "save_meta_seconds",
)


def summarise(runs: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    cells = []
    for size in sizes:
        cell: dict[str, Any] = {"batch_size": size}
        for workload in WORKLOADS:
            mine = [r for r in runs if (r["workload"], r["batch_size"]) == (workload, size)]
            stats: dict[str, Any] = {"repeats": len(mine)}
            for field in MEDIAN_FIELDS:
                values = [r[field] for r in mine if r.get(field) is not None]
                if values:
                    stats[field] = round(median(values), 3)
                    stats[field + "_min_max"] = [min(values), max(values)]
            cell[workload] = stats
        paired = []
        for repeat in sorted({r["repeat"] for r in runs}):
            pair = {r["workload"]: r for r in runs if r["batch_size"] == size and r["repeat"] == repeat}
            if len(pair) == 2:
                paired.append(
                    {
                        "whole": ratio(
                            pair["ours"]["whole_job_tickets_per_s"], pair["floor"]["whole_job_tickets_per_s"]
                        ),
                        "lua_redis": ratio(
                            pair["ours"]["lua_tickets_per_s_redis"] or 0, pair["floor"]["lua_tickets_per_s_redis"] or 0
                        ),
                        "max_call": ratio(pair["ours"]["max_call_ms_slowlog"], pair["floor"]["max_call_ms_slowlog"]),
                    }
                )
        cell["ours_over_floor_paired"] = (
            {
                key: {
                    "median": round(median([p[key] for p in paired]), 3),
                    "min_max": [round(min(p[key] for p in paired), 3), round(max(p[key] for p in paired), 3)],
                }
                for key in ("whole", "lua_redis", "max_call")
            }
            if paired
            else {}
        )
        cells.append(cell)
    return cells


def _range(stats: dict[str, Any], field: str, fmt: str = ",.0f") -> str:
    low, high = stats[field + "_min_max"]
    return f"{stats[field]:{fmt}} ({low:{fmt}}–{high:{fmt}})"


def markdown(cells: list[dict[str, Any]], tickets: int) -> str:
    rows = []
    for cell in cells:
        ours, floor, paired = cell["ours"], cell["floor"], cell["ours_over_floor_paired"]
        rows.append(
            [
                cell["batch_size"],
                _range(ours, "whole_job_tickets_per_s"),
                _range(ours, "job_tickets_per_s"),
                _range(ours, "lua_tickets_per_s_redis"),
                _range(floor, "lua_tickets_per_s_redis"),
                f"**{paired['lua_redis']['median']:.2f}** ({paired['lua_redis']['min_max'][0]:.2f}–"
                f"{paired['lua_redis']['min_max'][1]:.2f})",
                _range(ours, "max_call_ms_slowlog", ".2f"),
                f"{ours['median_call_ms_slowlog']:.2f}",
                _range(ours, "finish_call_ms_slowlog", ".2f"),
                _range(ours, "max_call_ms_client", ".2f"),
                _range(floor, "max_call_ms_slowlog", ".2f"),
            ]
        )
    return markdown_table(
        [
            "batch",
            f"ours whole job tickets/s (enqueued → ended; {tickets:,} tickets)",
            "ours job body tickets/s (`run_bulk_assign`)",
            "ours Lua-only tickets/s (SLOWLOG sum)",
            "floor Lua-only tickets/s (SLOWLOG sum)",
            "ours / floor, Lua-only (paired)",
            "ours longest call ms (SLOWLOG)",
            "ours median call ms (SLOWLOG)",
            "ours `bulk_finish` call ms (SLOWLOG)",
            "ours longest call ms (client round trip)",
            "floor longest call ms (SLOWLOG)",
        ],
        rows,
    )


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000, help="tickets per job (default 10000, the maximum)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell; medians are reported (default 3)")
    parser.add_argument("--batch-sizes", type=_int_list, default=[100, 250, 500, 1000], help="default 100,250,500,1000")
    parser.add_argument(
        "--slowlog-threshold",
        type=int,
        default=100,
        help="slowlog-log-slower-than, µs (default 100; 0 also logs every command inside the scripts on Redis 6.2)",
    )
    parser.add_argument("--team-size", type=int, default=10, help="team members, all Online (default 10)")
    parser.add_argument("--redis-server", default=None, help="redis-server binary for the throwaway server")
    parser.add_argument("--no-profile", action="store_true", help="skip the extra cProfile'd job")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/bulk.json")
    args = parser.parse_args(argv)
    if args.repeats < 1 or not 1 <= args.tickets <= 10_000 or args.team_size < 1 or not args.batch_sizes:
        parser.error("--repeats and --team-size must be positive, --tickets 1..10000, --batch-sizes non-empty")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="WARNING")  # set-up and the job would log a line per change
    command_line = "python -m bench.bulk " + " ".join(argv if argv is not None else sys.argv[1:])
    started_at = utc_now_iso()
    runs: list[dict[str, Any]] = []
    profile: dict[str, Any] | None = None
    with bench_redis(None, args.redis_server) as (url, where):
        client = redis.Redis.from_url(url)
        try:
            meta = {"redis": where, "machine": machine(client)}
            print(f"# {where}; {meta['machine']}", file=sys.stderr)
            slowlog_on(client, args.slowlog_threshold)
            # Untimed warm-up: script cache, imports, page-in.
            run_floor(client, 1000, 500)
            run_ours(client, 1000, args.team_size, 500)
            for repeat in range(args.repeats):
                order = WORKLOADS if repeat % 2 == 0 else tuple(reversed(WORKLOADS))
                for size in args.batch_sizes:
                    for workload in order:
                        if workload == "ours":
                            run = run_ours(client, args.tickets, args.team_size, size)
                        else:
                            run = run_floor(client, args.tickets, size)
                        run["repeat"] = repeat
                        runs.append(run)
                        print(
                            f"repeat {repeat} batch {size:5} {workload:5}: "
                            f"whole {run['whole_job_tickets_per_s']:>7,} t/s, "
                            f"Lua(redis) {run['lua_tickets_per_s_redis'] or 0:>7,} t/s, longest call "
                            f"{run['max_call_ms_slowlog']:.2f} ms (client {run['max_call_ms_client']:.2f} ms)",
                            file=sys.stderr,
                            flush=True,
                        )
            if not args.no_profile:
                profile = profile_ours(client, args.tickets, args.team_size, 500)
            meta["machine"]["loadavg_at_end"] = machine()["loadavg_at_start"]
            client.flushdb()
        finally:
            client.close()
    cells = summarise(runs, args.batch_sizes)
    result = {
        "bench": "bulk",
        "date": started_at,
        "finished": utc_now_iso(),
        "command": command_line.strip(),
        **meta,
        "params": {k: v for k, v in vars(args).items() if k != "no_write"},
        "floor_script": FLOOR_SCRIPT.strip(),
        "summary": cells,
        "profile": profile,
        "runs": runs,
    }
    print(markdown(cells, args.tickets))
    if not args.no_write:
        print(f"\nwrote {write_json('bulk', result)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------------------------
# Suite entry (python -m bench)
# --------------------------------------------------------------------------------------------

NAME = "bulk"
TITLE = "Bulk team assignment"


def params(quick: bool) -> dict[str, Any]:
    sizes = sorted({worker.bulk.BATCH_SIZE, 500})
    if quick:
        return {"tickets": 2000, "team_size": 10, "batch_sizes": sizes, "repeats": 1, "slowlog_threshold": 100}
    return {"tickets": 10_000, "team_size": 10, "batch_sizes": sizes, "repeats": 3, "slowlog_threshold": 100}


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    runs: list[dict[str, Any]] = []
    try:
        slowlog_on(client, p["slowlog_threshold"])
        run_floor(client, 1000, 500)
        run_ours(client, 1000, p["team_size"], 500)
        for repeat in range(p["repeats"]):
            order = WORKLOADS if repeat % 2 == 0 else tuple(reversed(WORKLOADS))
            for size in p["batch_sizes"]:
                for workload in order:
                    if workload == "ours":
                        one = run_ours(client, p["tickets"], p["team_size"], size)
                    else:
                        one = run_floor(client, p["tickets"], size)
                    one["repeat"] = repeat
                    runs.append(one)
                    print(f"  bulk: repeat {repeat} batch {size} {workload}: {one['whole_job_tickets_per_s']} t/s")
        client.flushdb()
    finally:
        client.config_set("slowlog-log-slower-than", 10000)
        client.close()
    cells = summarise(runs, p["batch_sizes"])
    production = next(c for c in cells if c["batch_size"] == worker.bulk.BATCH_SIZE)
    return {
        "params": {**p, "production_batch_size": worker.bulk.BATCH_SIZE},
        "floor_script": FLOOR_SCRIPT.strip(),
        "summary": cells,
        "runs": runs,
        "verdict": {
            "whole_job_tickets_per_s": production["ours"]["whole_job_tickets_per_s"],
            "longest_call_ms": production["ours"]["max_call_ms_slowlog"],
        },
    }


def render(result: dict[str, Any]) -> str:
    return markdown(result["summary"], result["params"]["tickets"])
