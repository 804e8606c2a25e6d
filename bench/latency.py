"""Latency: enqueue → ``ticket.assigned`` on the stream at a steady offered load, against the same
load of no-op jobs.

    python -m bench --only latency [--quick]

Per run (workload × rate), on a flushed database: one account (5 Online agents, round robin on, no
office hours, channels email/sms/social, so every ticket is assigned); ``helpdesk-rr --redis-url URL
--log-json worker --processes 2`` started (output to /dev/null) and waited for until both workers
have registered; 20 warm-up jobs drained; then the bench process enqueues one job at a time with
``producers.queue.enqueue`` (the no-op: the same call shape, job ``bench.noop``) on a fixed
schedule of ``rate`` jobs/s for ``duration`` seconds, recording the wall clock just before each
enqueue. Afterwards it waits for the queue to drain and stops the workers (SIGTERM).

- **enqueue → event** (ours only): the ``ticket.assigned`` entry's stream ID (Redis's clock, ms)
  minus the recorded enqueue time. This is what a consumer of the stream sees.
- **enqueue → started / ended**: RQ's ``started_at`` / ``ended_at`` stamps on each job, for both
  workloads; ended is the baseline's comparable figure (the no-op has no event).

The worker does not pass the job's enqueue time to ``Engine.decide``, so the ``latency_ms:*``
histogram in ``{rr:pNN}:metrics`` stays empty under RQ; it is not used here.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Retry, Worker
from rq.job import Job

from bench.common import NOOP, helpdesk_rr_command, markdown_table, ratio, run_quietly, worker_env
from bench.inprocess import ACCOUNT, make_events, parse_stamp, setup_account
from producers.queue import (
    FAILURE_TTL_SECONDS,
    JOB_RETRIES,
    JOB_TIMEOUT_SECONDS,
    QUEUE_NAME,
    RESULT_TTL_SECONDS,
    SERIALIZER,
    enqueue,
    ticket_queue,
)
from schemas.inbound import TicketCreated
from worker.core.keys import AccountKeys

NAME = "latency"
TITLE = "Latency: enqueue to ticket.assigned"
WORKLOADS = ("noop", "ours")
PROCESSES = 2


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"rates": [100, 300], "duration_s": 3, "processes": PROCESSES}
    return {"rates": [100, 300], "duration_s": 20, "processes": PROCESSES}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    ordered = sorted(values)
    at: Callable[[float], float] = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(at(0.50), 2), "p99": round(at(0.99), 2), "max": round(ordered[-1], 2), "n": len(ordered)}


def _enqueue_one(client: redis.Redis, workload: str, event: TicketCreated) -> Job:
    if workload == "ours":
        return enqueue(event, client)
    queue: Queue = ticket_queue(client)
    return queue.enqueue(
        NOOP,
        event.model_dump(mode="json"),
        description=f"noop {event.account_id}/{event.ticket_id} ({event.channel.value})",
        meta={"account_id": event.account_id, "ticket_id": event.ticket_id},
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=FAILURE_TTL_SECONDS,
        job_timeout=JOB_TIMEOUT_SECONDS,
        retry=Retry(max=JOB_RETRIES),
    )


def _wait_drained(client: redis.Redis, expected: int, timeout: float = 120) -> None:
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.count == 0 and queue.finished_job_registry.count >= expected:
            return
        if queue.failed_job_registry.count:
            raise RuntimeError(f"{queue.failed_job_registry.count} jobs failed")
        time.sleep(0.1)
    raise RuntimeError(f"queue not drained: {queue.count} queued, {queue.finished_job_registry.count} finished")


def one_run(url: str, workload: str, rate: int, p: dict[str, Any], pycache: Path) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    client.flushdb()
    setup_account(client)
    command = helpdesk_rr_command() + ["--redis-url", url, "--log-json", "worker", "--processes", str(p["processes"])]
    process = run_quietly(command, worker_env(pycache))
    try:
        deadline = time.monotonic() + 60
        while Worker.count(connection=client) < p["processes"]:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("workers did not start")
            time.sleep(0.05)
        warm = make_events(20, prefix="w")
        for event in warm:
            _enqueue_one(client, workload, event)
        _wait_drained(client, len(warm))
        total = rate * p["duration_s"]
        events = make_events(total, prefix="t")
        sent: list[tuple[str, str, float]] = []
        lag = 0.0
        t0 = time.time() + 0.05
        for i, event in enumerate(events):
            target = t0 + i / rate
            delay = target - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                lag = max(lag, -delay)
            at = time.time()
            job = _enqueue_one(client, workload, event)
            sent.append((job.id, event.ticket_id, at))
        offered_seconds = time.time() - t0
        _wait_drained(client, len(warm) + total)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except Exception:
            process.kill()
            process.wait()
    pipe = client.pipeline(transaction=False)
    for job_id, _, _ in sent:
        pipe.hmget(Job.key_for(job_id), ["started_at", "ended_at"])
    started_ms, ended_ms = [], []
    for (_, _, at), (s, e) in zip(sent, pipe.execute(), strict=True):
        started_ms.append(parse_stamp(s).timestamp() * 1000 - at * 1000)
        ended_ms.append(parse_stamp(e).timestamp() * 1000 - at * 1000)
    event_ms: list[float] = []
    if workload == "ours":
        enqueued = {ticket: at for _, ticket, at in sent}
        stream = AccountKeys.for_account(ACCOUNT).events
        entries: Any = client.xrange(stream)  # bytes: the client does not decode responses
        for entry_id, fields in entries:
            if fields.get(b"type") != b"ticket.assigned":
                continue
            ticket = json.loads(fields[b"data"])["ticket_id"]
            if ticket in enqueued:
                event_ms.append(int(entry_id.split(b"-")[0]) - enqueued[ticket] * 1000)
        if len(event_ms) != len(sent):
            raise RuntimeError(f"latency: {len(event_ms)} ticket.assigned events for {len(sent)} tickets")
    client.flushdb()
    client.close()
    return {
        "workload": workload,
        "rate": rate,
        "jobs": len(sent),
        "offered_rate": round(len(sent) / offered_seconds, 1),
        "producer_max_lag_ms": round(lag * 1000, 2),
        "enqueue_to_started_ms": percentiles(started_ms),
        "enqueue_to_ended_ms": percentiles(ended_ms),
        "enqueue_to_event_ms": percentiles(event_ms) if event_ms else None,
    }


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    pycache = Path(tempfile.mkdtemp(prefix="rr-bench-pyc-"))
    runs = []
    try:
        for rate in p["rates"]:
            for workload in WORKLOADS:
                r = one_run(url, workload, rate, p, pycache)
                runs.append(r)
                print(
                    f"  {NAME}: {rate}/s {workload}: ended p50/p99/max {r['enqueue_to_ended_ms']}"
                    + (f", event {r['enqueue_to_event_ms']}" if r["enqueue_to_event_ms"] else ""),
                    flush=True,
                )
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
    cells = []
    for rate in p["rates"]:
        pair = {r["workload"]: r for r in runs if r["rate"] == rate}
        cells.append(
            {
                "rate": rate,
                "noop": pair["noop"],
                "ours": pair["ours"],
                "p99_ended_ours_over_noop": round(
                    ratio(pair["ours"]["enqueue_to_ended_ms"]["p99"], pair["noop"]["enqueue_to_ended_ms"]["p99"]), 2
                ),
                "p50_ended_ours_over_noop": round(
                    ratio(pair["ours"]["enqueue_to_ended_ms"]["p50"], pair["noop"]["enqueue_to_ended_ms"]["p50"]), 2
                ),
            }
        )
    at100 = next((c for c in cells if c["rate"] == 100), None)
    p99 = at100["ours"]["enqueue_to_event_ms"]["p99"] if at100 else float("nan")
    return {
        "params": p,
        "summary": {"cells": cells},
        "runs": runs,
        "verdict": {"p99_event_ms_at_100": p99, "target": "<= 20 ms", "met": p99 <= 20},
    }


def _pct(d: dict[str, float] | None) -> str:
    if not d:
        return "–"
    return f"{d['p50']:.1f} / {d['p99']:.1f} / {d['max']:.1f}"


def render(result: dict[str, Any]) -> str:
    p = result["params"]
    rows = []
    for cell in result["summary"]["cells"]:
        noop, ours = cell["noop"], cell["ours"]
        rows.append(
            [
                f"{cell['rate']}/s × {p['duration_s']} s",
                f"{noop['offered_rate']:.0f} / {ours['offered_rate']:.0f}",
                _pct(noop["enqueue_to_started_ms"]),
                _pct(noop["enqueue_to_ended_ms"]),
                f"**{_pct(ours['enqueue_to_event_ms'])}**",
                _pct(ours["enqueue_to_ended_ms"]),
                f"**{cell['p99_ended_ours_over_noop']:.2f}** ({cell['p50_ended_ours_over_noop']:.2f})",
                "p99 ≤ 20 ms" if cell["rate"] == 100 else "",
            ]
        )
    return markdown_table(
        [
            f"offered load ({p['processes']} SimpleWorker processes)",
            "achieved enqueue rate no-op / ours",
            "no-op enqueue → started, ms p50 / p99 / max",
            "no-op enqueue → ended, ms p50 / p99 / max",
            "ours enqueue → `ticket.assigned`, ms p50 / p99 / max",
            "ours enqueue → ended, ms p50 / p99 / max",
            "ours / no-op, enqueue → ended p99 (p50)",
            "target",
        ],
        rows,
    )
