"""RQ worker class: SimpleWorker vs the forking Worker, for our ticket job and for a no-op job.

    python -m bench.worker_class [--tickets 3000] [--fork-tickets 1000] [--processes 1,2]
                                 [--classes simple,fork] [--repeats 3] [--redis-url URL]

For every cell (worker class x processes x workload) and every repeat, on a flushed database:

1. set up one account (round robin on, 5 Online agents, office hours that gate webchat);
2. enqueue all jobs first (``enqueue_many`` for ours; the same payloads and job options for the
   no-op ``bench.common.noop``), so enqueue time is not in the drain time;
3. start ``helpdesk-rr --redis-url URL worker --burst --processes N --worker-class C`` with stderr
   and stdout to /dev/null (the worker logs one JSON line per decision) and wait for it to exit;
4. check every job finished (queue empty, finished registry = N, none failed or started) and, for
   ours, that every ticket has a decision record;
5. read the ``INFO commandstats`` delta taken around step 3 (Redis commands per job, including the
   commands our Lua scripts run) and the jobs' ``started_at``/``ended_at`` stamps.

Throughput is reported two ways: **drain** = N / (first job started -> last job ended), from the
timestamps RQ stores on the jobs (no interpreter start-up or worker registration in it), and
**wall** = N / (workers launched -> all exited). Figures are medians over the repeats; workloads
alternate order between repeats so drift does not favour one. Only the ratios (ours / no-op,
SimpleWorker / fork) are meant to travel to other machines.

Without ``--redis-url`` a throwaway redis-server is started (and stopped) for the run. With it,
the database must be empty (or pass ``--flush``): the bench FLUSHDBs it between runs, and
commandstats are server-wide, so use a server nobody else is using.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from rq import Queue
from rq.job import Job

from bench.common import (
    NOOP,
    bench_redis,
    command_calls,
    command_delta,
    helpdesk_rr_command,
    machine,
    markdown_table,
    median,
    ratio,
    run_quietly,
    utc_now_iso,
    worker_env,
    write_json,
)
from producers.queue import (
    FAILURE_TTL_SECONDS,
    JOB_TIMEOUT_SECONDS,
    QUEUE_NAME,
    RESULT_TTL_SECONDS,
    SERIALIZER,
    enqueue_many,
)
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from schemas.office_hours import OfficeHours
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.logging import configure_logging

ACCOUNT = "bench-acme"
OWNER = "owner-1"
AGENTS = tuple(f"agent-{i}" for i in range(1, 6))
CHANNELS = (Channel.EMAIL, Channel.WEBCHAT, Channel.SMS, Channel.SOCIAL)
OFFICE_HOURS = ("Europe/Berlin", ["mon-fri 09:00-17:00"])
ARRIVAL_SPREAD = timedelta(days=7)
"""Arrival times are spread over the past week, so some webchat tickets land after hours."""
WORKLOADS = ("noop", "ours")
DRAIN_TIMEOUT_SECONDS = 900
ENQUEUE_CHUNK = 1000


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


def setup_account(client: redis.Redis, now: datetime) -> None:
    engine = Engine(client)
    engine.upsert_user(ACCOUNT, OWNER, Role.OWNER, now)
    for agent in AGENTS:
        engine.upsert_user(ACCOUNT, agent, Role.AGENT, now)
        engine.set_status(ACCOUNT, agent, AgentStatus.ONLINE, agent, now)
    engine.set_round_robin(ACCOUNT, True, OWNER, now)
    engine.set_office_hours(ACCOUNT, OfficeHours.from_specs(*OFFICE_HOURS), OWNER, now)


def make_events(count: int, now: datetime) -> list[TicketCreated]:
    step = ARRIVAL_SPREAD / max(count, 1)
    return [
        TicketCreated(
            account_id=ACCOUNT,
            ticket_id=f"t{i:06d}",
            channel=CHANNELS[i % len(CHANNELS)],
            created_at=now - ARRIVAL_SPREAD + step * i,
            subject=f"bench ticket {i}",
        )
        for i in range(count)
    ]


def enqueue_workload(client: redis.Redis, workload: str, events: list[TicketCreated]) -> list[str]:
    """Enqueue every event, in chunks of one pipeline each; returns the job ids in order."""
    job_ids: list[str] = []
    for start in range(0, len(events), ENQUEUE_CHUNK):
        chunk = events[start : start + ENQUEUE_CHUNK]
        if workload == "ours":
            jobs = enqueue_many(chunk, client)
        else:
            datas = [
                Queue.prepare_data(
                    NOOP,
                    args=(event.model_dump(mode="json"),),
                    description=f"noop {event.account_id}/{event.ticket_id} ({event.channel.value})",
                    result_ttl=RESULT_TTL_SECONDS,
                    failure_ttl=FAILURE_TTL_SECONDS,
                    timeout=JOB_TIMEOUT_SECONDS,
                )
                for event in chunk
            ]
            jobs = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).enqueue_many(datas)
        job_ids += [job.id for job in jobs]
    return job_ids


def drain(url: str, worker_class: str, processes: int, pycache: Path) -> tuple[float, int]:
    """Run the burst workers to completion; (wall seconds, worst exit code)."""
    command = helpdesk_rr_command() + ["--redis-url", url, "--log-json", "worker", "--burst"]
    command += ["--processes", str(processes), "--worker-class", worker_class]
    started = time.perf_counter()
    process = run_quietly(command, worker_env(pycache))
    try:
        code = process.wait(timeout=DRAIN_TIMEOUT_SECONDS)
    except BaseException:
        process.terminate()
        process.wait(timeout=30)
        raise
    return time.perf_counter() - started, code


def _stamp(value: bytes | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def job_window(client: redis.Redis, job_ids: list[str]) -> float:
    """Seconds from the first job's start to the last job's end, from RQ's own stamps."""
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(Job.key_for(job_id), ["started_at", "ended_at"])
    starts, ends = [], []
    for started_at, ended_at in pipe.execute():
        start, end = _stamp(started_at), _stamp(ended_at)
        if start is None or end is None:
            raise RuntimeError("a finished job has no started_at/ended_at stamp")
        starts.append(start)
        ends.append(end)
    return (max(ends) - min(starts)).total_seconds()


def verify(client: redis.Redis, workload: str, job_ids: list[str], events: list[TicketCreated]) -> dict[str, Any]:
    """Every job finished, none failed; for ours every ticket has a decision. Raises otherwise."""
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    state = {
        "queued": queue.count,
        "finished": queue.finished_job_registry.count,
        "failed": queue.failed_job_registry.count,
        "started": queue.started_job_registry.count,
    }
    problems = [] if state == {"queued": 0, "finished": len(job_ids), "failed": 0, "started": 0} else [str(state)]
    outcome: dict[str, Any] = {}
    if workload == "ours":
        keys = AccountKeys.for_account(ACCOUNT)
        pipe = client.pipeline(transaction=False)
        for event in events:
            pipe.hget(keys.ticket(event.ticket_id), "status")
        statuses = [s.decode() if s else None for s in pipe.execute()]
        for status in statuses:
            outcome[str(status)] = outcome.get(str(status), 0) + 1
        if outcome.get("assigned", 0) + outcome.get("unassigned", 0) != len(events):
            problems.append(f"tickets without a decision: {outcome}")
        counts = sorted(int(v) for v in client.hgetall(keys.counts).values())
        outcome["per_agent_min_max"] = [counts[0], counts[-1]] if counts else []
        if counts and counts[-1] - counts[0] > 1:
            problems.append(f"round robin unfair: per-agent counts {counts}")
    if problems:
        failed = queue.failed_job_registry.get_job_ids()[:1]
        detail = ""
        if failed:
            job = Job.fetch(failed[0], connection=client, serializer=SERIALIZER)
            detail = f"; first failed job: {(job.exc_info or '').strip().splitlines()[-1:]}"
        raise RuntimeError(f"{workload}: run did not complete cleanly: {'; '.join(problems)}{detail}")
    return {"registries": state, "tickets": outcome}


def run_once(
    client: redis.Redis, url: str, workload: str, worker_class: str, processes: int, count: int, pycache: Path
) -> dict[str, Any]:
    client.flushdb()
    now = datetime.now(UTC)
    setup_account(client, now)
    events = make_events(count, now)
    enqueue_started = time.perf_counter()
    job_ids = enqueue_workload(client, workload, events)
    enqueue_seconds = time.perf_counter() - enqueue_started

    before = command_calls(client)
    wall, code = drain(url, worker_class, processes, pycache)
    commands = command_delta(before, command_calls(client))
    if code != 0:
        raise RuntimeError(f"worker exited with status {code} ({workload}, {worker_class}, {processes} processes)")
    checked = verify(client, workload, job_ids, events)
    window = job_window(client, job_ids)
    total_commands = sum(commands.values())
    return {
        "workload": workload,
        "worker_class": worker_class,
        "processes": processes,
        "jobs": count,
        "enqueue_seconds": round(enqueue_seconds, 4),
        "drain_seconds": round(window, 4),
        "wall_seconds": round(wall, 4),
        "drain_jobs_per_s": round(count / window, 1),
        "wall_jobs_per_s": round(count / wall, 1),
        "commands_per_job": round(total_commands / count, 2),
        "commands_per_job_by_name": {name: round(calls / count, 2) for name, calls in commands.items()},
        **checked,
    }


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------


def pairwise_ratios(runs: list[dict[str, Any]], worker_class: str, processes: int) -> list[float]:
    """ours / no-op drain throughput for each repeat of one cell."""
    by_repeat: dict[int, dict[str, float]] = {}
    for run in runs:
        if (run["worker_class"], run["processes"]) == (worker_class, processes):
            by_repeat.setdefault(run["repeat"], {})[run["workload"]] = run["drain_jobs_per_s"]
    return [ratio(pair["ours"], pair["noop"]) for pair in by_repeat.values() if len(pair) == 2]


def summarise(runs: list[dict[str, Any]], classes: list[str], processes: list[int]) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    for worker_class in classes:
        for procs in processes:
            cell: dict[str, Any] = {"worker_class": worker_class, "processes": procs}
            for workload in WORKLOADS:
                mine = [
                    r
                    for r in runs
                    if (r["worker_class"], r["processes"], r["workload"]) == (worker_class, procs, workload)
                ]
                drains = [r["drain_jobs_per_s"] for r in mine]
                walls = [r["wall_jobs_per_s"] for r in mine]
                cell[workload] = {
                    "jobs": mine[0]["jobs"] if mine else 0,
                    "repeats": len(mine),
                    "drain_jobs_per_s": round(median(drains), 1),
                    "drain_min_max": [min(drains, default=0), max(drains, default=0)],
                    "wall_jobs_per_s": round(median(walls), 1),
                    "commands_per_job": round(median([r["commands_per_job"] for r in mine]), 2),
                }
            cell["ours_over_noop_drain"] = round(
                ratio(cell["ours"]["drain_jobs_per_s"], cell["noop"]["drain_jobs_per_s"]), 3
            )
            cell["ours_over_noop_wall"] = round(
                ratio(cell["ours"]["wall_jobs_per_s"], cell["noop"]["wall_jobs_per_s"]), 3
            )
            # The same ratio per repeat (the two workloads ran back to back, so they shared the
            # machine's load of the moment), then its median and spread: the figure least moved
            # by load that changes between repeats.
            paired = pairwise_ratios(runs, worker_class, procs)
            cell["ours_over_noop_paired"] = {
                "median": round(median(paired), 3),
                "min_max": [round(min(paired, default=0), 3), round(max(paired, default=0), 3)],
            }
            cells.append(cell)
    simple_over_fork = []
    if "simple" in classes and "fork" in classes:
        by = {(c["worker_class"], c["processes"]): c for c in cells}
        for procs in processes:
            for workload in WORKLOADS:
                simple, fork = by[("simple", procs)][workload], by[("fork", procs)][workload]
                simple_over_fork.append(
                    {
                        "processes": procs,
                        "workload": workload,
                        "drain": round(ratio(simple["drain_jobs_per_s"], fork["drain_jobs_per_s"]), 2),
                        "wall": round(ratio(simple["wall_jobs_per_s"], fork["wall_jobs_per_s"]), 2),
                    }
                )
    return {"cells": cells, "simple_over_fork": simple_over_fork}


def _spread(values: list[float]) -> str:
    return f"{values[0]:.0f}–{values[1]:.0f}"


def markdown(summary: dict[str, Any]) -> str:
    rows = []
    for cell in summary["cells"]:
        noop, ours = cell["noop"], cell["ours"]
        rows.append(
            [
                "SimpleWorker" if cell["worker_class"] == "simple" else "Worker (fork)",
                cell["processes"],
                ours["jobs"],
                f"{noop['drain_jobs_per_s']:.0f} ({_spread(noop['drain_min_max'])})",
                f"{ours['drain_jobs_per_s']:.0f} ({_spread(ours['drain_min_max'])})",
                f"**{cell['ours_over_noop_paired']['median']:.2f}** "
                f"({cell['ours_over_noop_paired']['min_max'][0]:.2f}–{cell['ours_over_noop_paired']['min_max'][1]:.2f})",
                f"{noop['wall_jobs_per_s']:.0f} / {ours['wall_jobs_per_s']:.0f}",
                f"{noop['commands_per_job']:.1f} / {ours['commands_per_job']:.1f}",
            ]
        )
    table = markdown_table(
        [
            "class",
            "processes",
            "jobs",
            "no-op drain jobs/s (min–max)",
            "ours drain jobs/s (min–max)",
            "ours / no-op, paired per repeat (min–max)",
            "wall jobs/s no-op / ours",
            "Redis cmds per job no-op / ours",
        ],
        rows,
    )
    if summary["simple_over_fork"]:
        ratios = markdown_table(
            ["processes", "workload", "SimpleWorker / fork (drain)", "SimpleWorker / fork (wall)"],
            [
                [r["processes"], r["workload"], f"**{r['drain']:.2f}**", f"{r['wall']:.2f}"]
                for r in summary["simple_over_fork"]
            ],
        )
        table += "\n\n" + ratios
    return table


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_class", description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=3000, help="jobs per SimpleWorker run (default 3000)")
    parser.add_argument("--fork-tickets", type=int, default=1000, help="jobs per forking-Worker run (default 1000)")
    parser.add_argument("--processes", type=_int_list, default=[1, 2], help="comma-separated (default 1,2)")
    parser.add_argument("--classes", default="simple,fork", help="comma-separated: simple,fork (default both)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell; medians are reported (default 3)")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of a throwaway one (FLUSHDBs it!)")
    parser.add_argument("--redis-server", default=None, help="redis-server binary for the throwaway server")
    parser.add_argument("--flush", action="store_true", help="with --redis-url: allow flushing a non-empty db")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/worker_class.json")
    args = parser.parse_args(argv)
    args.classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    if not set(args.classes) <= {"simple", "fork"} or not args.classes:
        parser.error("--classes takes simple and/or fork")
    if args.repeats < 1 or args.tickets < 1 or args.fork_tickets < 1 or not args.processes:
        parser.error("--repeats, --tickets, --fork-tickets and --processes must be positive")
    return args


def measure(
    args: argparse.Namespace, url: str, where: str, pycache: Path, runs: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Warm up, then every repeat of every cell into ``runs``; returns the run's metadata."""
    client = redis.Redis.from_url(url)
    try:
        if args.redis_url and client.dbsize() and not args.flush:
            print(f"refusing: {url} is not empty and the bench FLUSHDBs it; pass --flush to allow", file=sys.stderr)
            return None
        meta = {"redis": where, "machine": machine(client)}
        print(f"# {where}; {meta['machine']}", file=sys.stderr)
        # Untimed warm-up: fills the bytecode cache and the script cache, pages in the binaries.
        for worker_class in args.classes:
            for workload in WORKLOADS:
                run_once(client, url, workload, worker_class, 1, 20, pycache)
        for repeat in range(args.repeats):
            order = WORKLOADS if repeat % 2 == 0 else tuple(reversed(WORKLOADS))
            for worker_class in args.classes:
                count = args.tickets if worker_class == "simple" else args.fork_tickets
                for procs in args.processes:
                    for workload in order:
                        run = run_once(client, url, workload, worker_class, procs, count, pycache)
                        run["repeat"] = repeat
                        runs.append(run)
                        print(
                            f"repeat {repeat} {worker_class:6} x{procs} {workload:4}: {count} jobs, "
                            f"drain {run['drain_jobs_per_s']:7.1f} jobs/s, wall {run['wall_jobs_per_s']:7.1f} jobs/s, "
                            f"{run['commands_per_job']:.1f} cmds/job, tickets {run['tickets'] or '-'}",
                            file=sys.stderr,
                            flush=True,
                        )
        client.flushdb()
        return meta
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="WARNING")  # the bench's own account set-up would log a line per change
    command_line = "python -m bench.worker_class " + " ".join(argv if argv is not None else sys.argv[1:])
    started_at = utc_now_iso()
    runs: list[dict[str, Any]] = []
    pycache = Path(tempfile.mkdtemp(prefix="rr-bench-pyc-"))
    try:
        with bench_redis(args.redis_url, args.redis_server) as (url, where):
            meta = measure(args, url, where, pycache, runs)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
    if meta is None:
        return 2
    summary = summarise(runs, args.classes, args.processes)
    result = {
        "bench": "worker_class",
        "date": started_at,
        "finished": utc_now_iso(),
        "command": command_line.strip(),
        **meta,
        "params": {k: v for k, v in vars(args).items() if k != "no_write"},
        "summary": summary,
        "runs": runs,
    }
    print(markdown(summary))
    if not args.no_write:
        print(f"\nwrote {write_json('worker_class', result)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
