"""Profile: where an in-process SimpleWorker spends its time draining our tickets vs no-op jobs.

    python -m bench --only profile_worker [--quick]

``tickets`` jobs of each workload (ours: ``worker.jobs.process_ticket``; baseline: ``bench.noop``,
same payloads) are enqueued, then ``worker.runtime.runner.make_worker(client).work(burst=True)`` drains them
under cProfile, with production logging (JSON, INFO, to /dev/null). Reported per job: the whole
drain, and the cumulative time of the functions that make up our part (validation, the engine, the
EVALSHA round trip, the log line, the result); the rest of the job is RQ's and is the same for the
no-op. cProfile inflates pure-Python code relative to C and to waiting on sockets; read the shares,
and compare ours against the no-op's profile of the same run.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from typing import Any

from bench.common import markdown_table, ratio
from bench.inprocess import check_finished, enqueue, job_window, make_events, production_logging, setup_account
from producers.connection import connect
from worker.runtime.runner import make_worker

NAME = "profile_worker"
TITLE = "Worker profile"

PARTS: list[tuple[str, str, str]] = [
    ("job body: `worker.jobs.process_ticket` (all of our code)", "worker/jobs.py", "process_ticket"),
    ("`TicketCreated.model_validate` (pydantic, in the job)", "pydantic/main.py", "model_validate"),
    ("`Engine.decide`", "worker/core/engine.py", "decide"),
    ("`Scripts.decide_ticket` (key/arg building + EVALSHA)", "worker/core/scripts.py", "decide_ticket"),
    ("`Script.__call__` (the EVALSHA round trip)", "redis/commands/core.py", "__call__"),
    ("`structlog` log line (`ticket.decided`)", "structlog/_native.py", "meth"),
    ("`new_event_id` (uuid4 ×2)", "schemas/events.py", "new_event_id"),
    ("`bound_contextvars` (job_id into the log context)", "contextlib.py", "__enter__"),
    ("RQ: `perform_job` (job + its bookkeeping)", "rq/worker/base.py", "perform_job"),
    ("RQ: `handle_job_success` (finished registry, result)", "rq/worker/base.py", "handle_job_success"),
    ("RQ: `dequeue_job_and_maintain_ttl` (BLMOVE + job fetch)", "rq/worker/base.py", "dequeue_job_and_maintain_ttl"),
    ("RQ: `prepare_job_execution` (started registry, heartbeat)", "rq/worker/base.py", "prepare_job_execution"),
    ("RQ: `Job.save` / `_execute` pipelines", "rq/job.py", "save"),
    ("redis-py: socket reads (`_read_response`)", "redis/connection.py", "read_response"),
    ("pickle loads (job payload)", "~", "<built-in method _pickle.loads>"),
    ("pickle dumps (job result)", "~", "<built-in method _pickle.dumps>"),
]


def params(quick: bool) -> dict[str, Any]:
    return {"tickets": 300 if quick else 3000}


def _cum(stats: pstats.Stats, file_part: str, name: str) -> tuple[float, int]:
    total, calls = 0.0, 0
    for (filename, _line, func), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and (file_part == "~" and filename == "~" or file_part != "~" and filename.endswith(file_part)):
            total += ct
            calls += nc
    return total, calls


def profile_drain(url: str, workload: str, n: int) -> dict[str, Any]:
    client = connect(url)
    client.flushdb()
    setup_account(client)
    ids = enqueue(client, workload, make_events(n))
    worker_client = connect(url)
    worker = make_worker(worker_client)
    profiler = cProfile.Profile()
    with production_logging():
        started = time.perf_counter()
        profiler.enable()
        worker.work(burst=True, logging_level="WARNING")
        profiler.disable()
        wall = time.perf_counter() - started
    check_finished(client, n)
    window = job_window(client, ids)
    stats = pstats.Stats(profiler)
    parts = []
    for label, file_part, name in PARTS:
        seconds, calls = _cum(stats, file_part, name)
        if calls:
            parts.append(
                {"part": label, "us_per_job": round(seconds / n * 1e6, 1), "calls_per_job": round(calls / n, 2)}
            )
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.rsplit("/site-packages/", 1)[-1].replace("/work/main/", "")
        rows.append(
            {
                "function": f"{where}:{line}({func})",
                "calls": nc,
                "self_us_per_job": round(tt / n * 1e6, 1),
                "cum_us_per_job": round(ct / n * 1e6, 1),
            }
        )
    worker_client.close()
    client.flushdb()
    client.close()
    return {
        "workload": workload,
        "jobs": n,
        "wall_s": round(wall, 3),
        "us_per_job_profiled": round(window / n * 1e6, 1),
        "us_per_job_profiled_with_startup": round(wall / n * 1e6, 1),
        "parts": parts,
        "top_cumulative": sorted(rows, key=lambda r: -r["cum_us_per_job"])[:40],
        "top_self": sorted(rows, key=lambda r: -r["self_us_per_job"])[:30],
    }


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    profile_drain(url, "ours", 50)  # warm-up
    noop = profile_drain(url, "noop", p["tickets"])
    ours = profile_drain(url, "ours", p["tickets"])
    print(f"  {NAME}: profiled µs/job noop {noop['us_per_job_profiled']}, ours {ours['us_per_job_profiled']}")
    return {
        "params": p,
        "summary": {
            "noop": noop,
            "ours": ours,
            "ours_over_noop_profiled": round(ratio(ours["us_per_job_profiled"], noop["us_per_job_profiled"]), 3),
        },
        "verdict": {},
    }


def render(result: dict[str, Any]) -> str:
    s = result["summary"]
    noop_parts = {p["part"]: p for p in s["noop"]["parts"]}
    rows = [
        [
            "whole job: first start → last end / jobs (under cProfile)",
            f"{s['noop']['us_per_job_profiled']:.0f}",
            f"{s['ours']['us_per_job_profiled']:.0f}",
            "",
        ]
    ]
    for part in s["ours"]["parts"]:
        base = noop_parts.get(part["part"])
        rows.append(
            [
                part["part"],
                f"{base['us_per_job']:.0f}" if base else "–",
                f"{part['us_per_job']:.0f}",
                part["calls_per_job"],
            ]
        )
    return markdown_table(
        [
            f"µs per job (cumulative, {s['ours']['jobs']:,} jobs; ours / no-op = {s['ours_over_noop_profiled']:.2f})",
            "no-op",
            "ours",
            "calls per job (ours)",
        ],
        rows,
    )
