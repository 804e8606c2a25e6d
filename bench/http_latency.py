"""HTTP latency: signed webchat webhook sent → ``ticket.assigned`` on the account's stream at a fixed
200 requests/s (issue 17), against the same tickets enqueued directly and the trivial route.

    python -m bench --only http_latency [--quick]

**Deployment** (bench/http_stack.py): ``servers`` (1) server process (``helpdesk-rr serve``'s app and
uvicorn configuration, plus the bench's trivial route) and ``helpdesk-rr worker --processes W``
(``workers``: 2, SimpleWorker) on a throwaway Redis; one account with 5 Online agents, round robin on, no
office hours (webchat always open) and its webchat secret set, so every ticket is assigned. Why 1 + 2 on
this 2-vCPU machine: at 200/s a server process needs ~0.3 of a core (http_ingest measures ~1–2 ms of CPU
per webhook) and one SimpleWorker ~0.3–0.6 (FACTS: 330–720 jobs/s each); two workers keep a decision from
waiting behind another's, and leave a core for Redis, the sender and other jobs on the machine. The
processes' CPU use during each run is reported, so the choice can be checked.

**Per run**, ``rate`` requests/s (``rates``: 100, then the target's 200) on a fixed schedule for
``duration_s`` (15 s), open loop (bench/http_load.py: each request on an idle keep-alive connection, a new
one when none is idle, so queueing shows instead of slowing the sender), every request a new
conversation; the first second is warm-up and not counted. A reader thread in the sending process waits
on the stream (``XREAD BLOCK``) and records the wall clock at which each ``ticket.assigned`` entry arrives;
the run ends when every ticket's event has arrived. Three workloads per repeat (``repeats``: 3), order alternated:

- **webchat**: ``POST /v1/webhooks/{account}/webchat`` → **sent → ``ticket.assigned`` seen** (target
  p99 ≤ 25 ms), and sent → the 202.
- **enqueue** (baseline): the same tickets (the same bodies mapped by ``webchat_ticket``) put on the
  account's lane by the sending process with the route's own call, ``push_many([ticket])``, on the
  same schedule → ``ticket.assigned`` seen: the queue and the worker without HTTP.
- **trivial**: the same request bytes to the trivial route: sent → 202, HTTP alone.

**Workers' capacity**, once per repeat: ``capacity`` (3,000) tickets put on the queue at once and timed
until the last one's ``ticket.assigned`` is seen: the drain rate the open-loop rates are compared with (a
queue fed near its drain rate waits long), with the workers' and Redis's CPU per ticket. Since issue 18 the
webhooks push onto the burst intake's lanes (no RQ job per ticket), and so do the baseline and the capacity
run. Wall clocks are the same machine's (``time.time()`` in the sending process for both ends).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench.common import markdown_table, median
from bench.http_load import build_requests, loadavg, open_loop, percentiles
from bench.http_stack import (
    ACCOUNT,
    WEBCHAT_SECRET,
    cpu_seconds,
    descendants,
    redis_cpu_seconds,
    running_stack,
    setup_account,
)
from producers.lanes import push_many
from producers.webhooks import webchat_ticket
from schemas.inbound import TicketCreated
from worker.core.keys import AccountKeys

NAME = "http_latency"
TITLE = "HTTP latency: webchat webhook to ticket.assigned at 200 requests/s (issue 17)"
FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_http.md"
"""Hand-written analysis of both HTTP benches (edit it there, not in the doc)."""
WORKLOADS = ("webchat", "enqueue", "trivial")
TARGET_P99_MS = 25.0
TARGET_RATE = 200


def params(quick: bool) -> dict[str, Any]:
    if quick:
        quick_run = {"rates": [50], "duration_s": 1.0, "warmup_s": 0.2, "repeats": 1, "capacity": 50}
        return {"servers": 1, "workers": 1, **quick_run}
    return {
        "servers": 1,
        "workers": 2,
        "rates": [100, TARGET_RATE],
        "duration_s": 15.0,
        "warmup_s": 1.0,
        "repeats": 3,
        "capacity": 3_000,
    }


class StreamReader(threading.Thread):
    """Waits on the account's event stream; the wall clock at which each ``ticket.assigned`` arrived."""

    def __init__(self, url: str, stream: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.stream = stream
        last: Any = self.client.xrevrange(stream, count=1)
        self.last_id: bytes | str = last[0][0] if last else "0-0"
        self.arrived: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            replies: Any = self.client.xread({self.stream: self.last_id}, count=1000, block=100)
            now = time.time()
            for _, entries in replies or ():
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    if fields.get(b"type") == b"ticket.assigned":
                        self.arrived.setdefault(json.loads(fields[b"data"])["ticket_id"], now)

    def wait_for(self, tickets: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while any(ticket not in self.arrived for ticket in tickets):
            if time.monotonic() > deadline:
                missing = sum(1 for ticket in tickets if ticket not in self.arrived)
                raise RuntimeError(f"{missing} of {len(tickets)} tickets never got a ticket.assigned event")
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.client.close()


def mapped(requests: list[tuple[bytes, str]]) -> list[TicketCreated]:
    """Each webchat request's ticket, as the route maps it."""
    now = datetime.now(UTC)
    tickets = []
    for raw, _ in requests:
        head, body = raw.split(b"\r\n\r\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        timestamp, signature = headers["X-Helpdesk-Timestamp"], headers["X-Helpdesk-Signature"]
        tickets.append(webchat_ticket(ACCOUNT, WEBCHAT_SECRET, body, timestamp, signature, now))
    return tickets


def _enqueue_open_loop(url: str, requests: list[tuple[bytes, str]], rate: float) -> list[float]:
    """The baseline: each request's ticket enqueued with the route's call on the same schedule; the send times."""
    client = redis.Redis.from_url(url)
    tickets = mapped(requests)
    sent = []
    t0 = time.monotonic() + 0.05
    for index, ticket in enumerate(tickets):
        delay = t0 + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent.append(time.time())
        push_many([ticket], client)
    client.close()
    return sent


def warm_up(url: str, ports: list[int], count: int) -> None:
    """Every process's first tickets (imports, script loads, the engine's caches), before anything is measured."""
    requests = build_requests("webchat", count, "warm")
    reader = StreamReader(url, AccountKeys.for_account(ACCOUNT).events)
    reader.start()
    try:
        open_loop(ports, requests, 20)
        reader.wait_for([ticket for _, ticket in requests])
    finally:
        reader.stop()


def worker_capacity(url: str, count: int, pids: list[int]) -> dict[str, float]:
    """The workers' drain rate (closed loop): ``count`` webchat tickets pushed at once (``push_many``, batches of
    500), timed from the first put until the last ``ticket.assigned`` is seen; and the
    workers' and Redis's CPU per ticket meanwhile."""
    client = redis.Redis.from_url(url)
    tickets = mapped(build_requests("webchat", count, "capacity"))
    reader = StreamReader(url, AccountKeys.for_account(ACCOUNT).events)
    reader.start()
    try:
        cpu, redis_cpu, started = cpu_seconds(pids), redis_cpu_seconds(client), time.monotonic()
        for i in range(0, count, 500):
            push_many(tickets[i : i + 500], client)
        reader.wait_for([ticket.ticket_id for ticket in tickets])
        elapsed = time.monotonic() - started
        cpu, redis_cpu = cpu_seconds(pids) - cpu, redis_cpu_seconds(client) - redis_cpu
    finally:
        reader.stop()
        client.close()
    return {
        "tickets_per_s": round(count / elapsed, 1),
        "worker_cpu_ms_per_ticket": round(cpu * 1000 / count, 3),
        "redis_cpu_ms_per_ticket": round(redis_cpu * 1000 / count, 3),
    }


def one_run(
    url: str, workload: str, rate: int, ports: list[int], pids: dict[str, list[int]], p: dict[str, Any]
) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    total = int(rate * (p["warmup_s"] + p["duration_s"]))
    skip = int(rate * p["warmup_s"])
    requests = build_requests(workload if workload == "trivial" else "webchat", total, workload)
    tickets = [ticket for _, ticket in requests]
    reader = StreamReader(url, AccountKeys.for_account(ACCOUNT).events)
    reader.start()
    cpu_before = {name: cpu_seconds(group) for name, group in pids.items()}
    redis_before, started = redis_cpu_seconds(client), time.monotonic()
    try:
        if workload == "enqueue":
            sent, answered, statuses = _enqueue_open_loop(url, requests, rate), None, {"-": total}
            extra: dict[str, Any] = {}
        else:
            result = open_loop(ports, requests, rate)
            records = result.pop("records")
            sent = [r.sent for r in records]
            answered = [r.answered for r in records]
            statuses = {}
            for record in records:
                statuses[str(record.status)] = statuses.get(str(record.status), 0) + 1
            if set(statuses) != {"202"}:
                raise RuntimeError(f"{workload}: answers other than 202: {statuses}")
            extra = {"sender_max_lag_ms": round(result["max_lag_ms"], 2), "connections": result["connections"]}
        if workload != "trivial":
            reader.wait_for(tickets)
        elapsed = time.monotonic() - started
        cores = {name: round((cpu_seconds(group) - cpu_before[name]) / elapsed, 2) for name, group in pids.items()}
        cores["redis"] = round((redis_cpu_seconds(client) - redis_before) / elapsed, 2)
    finally:
        reader.stop()
        client.close()
    out: dict[str, Any] = {
        "workload": workload,
        "rate": rate,
        "requests": total - skip,
        "statuses": statuses,
        "cores_busy": cores,
    }
    out.update(extra)
    if answered is not None:
        out["answer_ms"] = percentiles([(a - s) * 1000 for s, a in zip(sent[skip:], answered[skip:], strict=True)])
    if workload != "trivial":
        out["event_ms"] = percentiles(
            [(reader.arrived[t] - s) * 1000 for s, t in zip(sent[skip:], tickets[skip:], strict=True)]
        )
    return out


def run(url: str, quick: bool, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    p = {**params(quick), **(overrides or {})}
    client = redis.Redis.from_url(url)
    setup_account(url)
    pycache = Path(tempfile.mkdtemp(prefix="rr-bench-pyc-"))
    repeats: list[dict[str, Any]] = []
    try:
        with running_stack(url, p["servers"], p["workers"], pycache) as stack:
            pids = {"servers": stack.pids, "workers": descendants(stack.worker_pid)}
            warm_up(url, stack.ports, p["workers"] * 10)
            for repeat in range(p["repeats"]):
                order = WORKLOADS if repeat % 2 == 0 else tuple(reversed(WORKLOADS))
                capacity = worker_capacity(url, p["capacity"], pids["workers"])
                print(f"  {NAME}: repeat {repeat + 1} worker capacity {capacity}", flush=True)
                for rate in p["rates"]:
                    cells: dict[str, Any] = {"rate": rate, "repeat": repeat + 1, "loadavg": loadavg()}
                    cells["capacity"] = capacity
                    for workload in order:
                        cells[workload] = one_run(url, workload, rate, stack.ports, pids, p)
                        shown = cells[workload].get("event_ms") or cells[workload]["answer_ms"]
                        print(f"  {NAME}: repeat {repeat + 1} {rate}/s {workload}: {shown}", flush=True)
                    repeats.append(cells)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
        client.flushdb()
        client.close()
    at_target = [cells for cells in repeats if cells["rate"] == max(p["rates"])]
    p99s = [cells["webchat"]["event_ms"]["p99"] for cells in at_target]
    worst = max(p99s)
    verdict = {
        "rate": max(p["rates"]),
        "p99_webchat_to_assigned_ms": median(p99s),
        "worst_repeat_p99_ms": worst,
        "target": f"p99 <= {TARGET_P99_MS:.0f} ms",
        "met": median(p99s) <= TARGET_P99_MS,
    }
    return {"params": p, "repeats": repeats, "verdict": verdict}


def _pct(d: dict[str, float] | None) -> str:
    if not d:
        return "–"
    return f"{d['p50']:.1f} / {d['p90']:.1f} / {d['p99']:.1f} / {d['max']:.1f}"


def render(result: dict[str, Any]) -> str:
    p = result["params"]
    rows = []
    for cells in sorted(result["repeats"], key=lambda c: (c["rate"], c["repeat"])):
        for workload in WORKLOADS:
            cell = cells[workload]
            cores = cell["cores_busy"]
            rows.append(
                [
                    f"{cells['rate']}/s",
                    f"{cells['repeat']} (load {cells['loadavg'][0]}; workers' capacity "
                    f"{cells['capacity']['tickets_per_s']:,.0f}/s)",
                    workload,
                    f"**{_pct(cell.get('event_ms'))}**" if workload == "webchat" else _pct(cell.get("event_ms")),
                    _pct(cell.get("answer_ms")),
                    f"{cores['servers']:.2f} / {cores['workers']:.2f} / {cores['redis']:.2f}",
                    str(cell.get("connections", "–")),
                ]
            )
    table = markdown_table(
        [
            "offered",
            "repeat",
            "workload",
            "sent → `ticket.assigned` seen, ms p50 / p90 / p99 / max",
            "sent → 202, ms p50 / p90 / p99 / max",
            "cores busy: servers / workers / Redis",
            "connections opened",
        ],
        rows,
    )
    note = (
        f"{' and '.join(str(r) for r in p['rates'])} requests/s, each for {p['duration_s']:.0f} s after "
        f"{p['warmup_s']:.0f} s of warm-up, "
        f"{p['servers']} server process(es), {p['workers']} worker process(es). Target: webchat p99 ≤ "
        f"{TARGET_P99_MS:.0f} ms."
    )
    findings = FINDINGS.read_text().strip() if FINDINGS.is_file() else ""
    return f"{table}\n\n{note}" + (f"\n\n{findings}" if findings else "")
