"""Per-ticket path vs RQ's floor: tickets decided/s by our worker vs a no-op RQ job, and the Redis
commands and round trips each ticket costs.

    python -m bench --only ticket_path [--quick]

Two parts, each with the no-op job (``bench.noop``, same payloads and job options) as the baseline:

1. **throughput** — ``bench.worker_class.run_once`` for SimpleWorker (the CLI's default) with 1
   and 2 processes: all jobs enqueued first, then ``helpdesk-rr worker --burst --processes N`` runs
   to the end; drain jobs/s from RQ's own stamps; ``INFO commandstats`` per job (commands run inside
   our Lua scripts included). Workloads alternate order between repeats; ratios are paired per repeat.
2. **round trips** — an in-process SimpleWorker (``worker.runtime.runner.make_worker``, production logging
   to /dev/null) drains the same jobs while redis-py's connection counts every request written
   (``send_packed_command``: one per command or per pipeline) and every ``execute_command``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import redis

from bench import worker_class
from bench.common import command_calls, command_delta, markdown_table, median, ratio
from bench.inprocess import (
    RoundTrips,
    check_finished,
    drain_in_process,
    enqueue,
    job_window,
    make_events,
    production_logging,
    setup_account,
)
from producers.connection import connect

NAME = "ticket_path"
TITLE = "Per-ticket path vs RQ's floor"
WORKLOADS = ("noop", "ours")


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"tickets": 300, "processes": [1, 2], "repeats": 1, "rt_tickets": 200}
    return {"tickets": 2000, "processes": [1, 2], "repeats": 3, "rt_tickets": 2000}


def round_trip_run(url: str, workload: str, count: int) -> dict[str, Any]:
    client = connect(url)
    try:
        client.flushdb()
        setup_account(client)
        events = make_events(count)
        ids = enqueue(client, workload, events)
        worker_client = connect(url)
        counter = RoundTrips()
        before = command_calls(client)
        with production_logging(), counter.counting():
            wall = drain_in_process(worker_client)
        commands = command_delta(before, command_calls(client))
        worker_client.close()
        check_finished(client, count)
        window = job_window(client, ids)
    finally:
        client.close()
    return {
        "workload": workload,
        "jobs": count,
        "round_trips_per_job": round(counter.round_trips / count, 3),
        "client_commands_per_job": {k: round(v / count, 3) for k, v in counter.commands.most_common()},
        "redis_commands_per_job": round(sum(commands.values()) / count, 2),
        "redis_commands_per_job_by_name": {k: round(v / count, 2) for k, v in commands.items()},
        "in_process_drain_jobs_per_s": round(count / window, 1),
        "in_process_wall_s": round(wall, 3),
    }


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    runs: list[dict[str, Any]] = []
    rt_runs: list[dict[str, Any]] = []
    pycache = Path(tempfile.mkdtemp(prefix="rr-bench-pyc-"))
    client = redis.Redis.from_url(url)
    try:
        for workload in WORKLOADS:  # warm-up: bytecode cache, script cache
            worker_class.run_once(client, url, workload, "simple", 1, 20, pycache)
            round_trip_run(url, workload, 20)
        for repeat in range(p["repeats"]):
            order = WORKLOADS if repeat % 2 == 0 else tuple(reversed(WORKLOADS))
            for procs in p["processes"]:
                for workload in order:
                    run_ = worker_class.run_once(client, url, workload, "simple", procs, p["tickets"], pycache)
                    run_["repeat"] = repeat
                    runs.append(run_)
                    print(
                        f"  {NAME}: repeat {repeat} x{procs} {workload}: {run_['drain_jobs_per_s']} jobs/s", flush=True
                    )
            for workload in order:
                rt = round_trip_run(url, workload, p["rt_tickets"])
                rt["repeat"] = repeat
                rt_runs.append(rt)
                print(f"  {NAME}: repeat {repeat} in-process {workload}: {rt['round_trips_per_job']} round trips/job")
        client.flushdb()
    finally:
        client.close()
        shutil.rmtree(pycache, ignore_errors=True)
    summary = worker_class.summarise(runs, ["simple"], p["processes"])
    rt_summary: dict[str, Any] = {}
    for workload in WORKLOADS:
        mine = [r for r in rt_runs if r["workload"] == workload]
        rt_summary[workload] = {
            "round_trips_per_job": median([r["round_trips_per_job"] for r in mine]),
            "redis_commands_per_job": median([r["redis_commands_per_job"] for r in mine]),
            "in_process_drain_jobs_per_s": median([r["in_process_drain_jobs_per_s"] for r in mine]),
            "client_commands_per_job": mine[-1]["client_commands_per_job"],
            "redis_commands_per_job_by_name": mine[-1]["redis_commands_per_job_by_name"],
        }
    rt_summary["extra_round_trips_per_ticket"] = round(
        rt_summary["ours"]["round_trips_per_job"] - rt_summary["noop"]["round_trips_per_job"], 3
    )
    rt_summary["in_process_ours_over_noop"] = round(
        median(
            [
                ratio(o["in_process_drain_jobs_per_s"], n["in_process_drain_jobs_per_s"])
                for o in rt_runs
                for n in rt_runs
                if o["workload"] == "ours" and n["workload"] == "noop" and o["repeat"] == n["repeat"]
            ]
        ),
        3,
    )
    cells = {c["processes"]: c for c in summary["cells"]}
    scaling = {}
    if 1 in cells and 2 in cells:
        for workload in WORKLOADS:
            scaling[workload] = round(
                ratio(cells[2][workload]["drain_jobs_per_s"], cells[1][workload]["drain_jobs_per_s"]), 2
            )
    summary["round_trips"] = rt_summary
    summary["scaling_2_over_1_processes"] = scaling
    worst = min(c["ours_over_noop_paired"]["median"] for c in summary["cells"])
    return {
        "params": p,
        "summary": summary,
        "runs": runs,
        "round_trip_runs": rt_runs,
        "verdict": {
            "throughput_ratio_min": worst,
            "throughput_target": ">= 0.9",
            "throughput_met": worst >= 0.9,
            "extra_round_trips": rt_summary["extra_round_trips_per_ticket"],
            "round_trip_target": "<= 1",
            "round_trip_met": rt_summary["extra_round_trips_per_ticket"] <= 1.0 + 1e-9,
        },
    }


def render(result: dict[str, Any]) -> str:
    summary = result["summary"]
    rows = []
    for cell in summary["cells"]:
        noop, ours, paired = cell["noop"], cell["ours"], cell["ours_over_noop_paired"]
        rows.append(
            [
                f"SimpleWorker × {cell['processes']}",
                ours["jobs"],
                f"{noop['drain_jobs_per_s']:.0f} ({noop['drain_min_max'][0]:.0f}–{noop['drain_min_max'][1]:.0f})",
                f"{ours['drain_jobs_per_s']:.0f} ({ours['drain_min_max'][0]:.0f}–{ours['drain_min_max'][1]:.0f})",
                f"**{paired['median']:.2f}** ({paired['min_max'][0]:.2f}–{paired['min_max'][1]:.2f})",
                "≥ 0.9",
                f"{noop['commands_per_job']:.1f} / {ours['commands_per_job']:.1f}",
            ]
        )
    table = markdown_table(
        [
            "worker",
            "jobs",
            "no-op drain jobs/s (min–max)",
            "ours drain jobs/s (min–max)",
            "ours / no-op (paired)",
            "target",
            "Redis cmds per job no-op / ours",
        ],
        rows,
    )
    rt = summary["round_trips"]
    rt_rows = [
        [
            "round trips per job (requests written by the worker's client)",
            f"{rt['noop']['round_trips_per_job']:.2f}",
            f"{rt['ours']['round_trips_per_job']:.2f}",
            f"**+{rt['extra_round_trips_per_ticket']:.2f}**",
            "≤ +1",
        ],
        [
            "Redis commands per job (`INFO commandstats`, inside Lua included)",
            f"{rt['noop']['redis_commands_per_job']:.1f}",
            f"{rt['ours']['redis_commands_per_job']:.1f}",
            f"+{rt['ours']['redis_commands_per_job'] - rt['noop']['redis_commands_per_job']:.1f}",
            "",
        ],
        [
            "in-process SimpleWorker drain jobs/s (logging to /dev/null)",
            f"{rt['noop']['in_process_drain_jobs_per_s']:.0f}",
            f"{rt['ours']['in_process_drain_jobs_per_s']:.0f}",
            f"**{rt['in_process_ours_over_noop']:.2f}** ×",
            "≥ 0.9",
        ],
    ]
    table += "\n\n" + markdown_table(["per job", "no-op", "ours", "ours − no-op", "target"], rt_rows)
    scaling = summary.get("scaling_2_over_1_processes") or {}
    if scaling:
        table += (
            f"\n\n2 worker processes / 1 (drain, medians): no-op **{scaling['noop']:.2f}×**, "
            f"ours **{scaling['ours']:.2f}×** (2 cores shared with Redis and the bench)."
        )
    return table
