"""HTTP webhook ingest: signed webhooks accepted per second against a trivial route of the same stack
(issue 17).

    python -m bench --only http_ingest [--quick]

**Stack** (bench/http_stack.py): ``servers`` (2) server processes, each ``helpdesk-rr serve``'s exact app and
uvicorn configuration plus one extra route, ``POST /bench/trivial`` (reads the body, answers 202), on its
own port; no workers (what is measured is the HTTP edge: a deployment's workers would take CPU the
trivial route does not make them use; the queued jobs are flushed afterwards). One account with a
webchat secret and a Twilio Auth Token set through the control API.

**Load** (bench/http_load.py): ``clients`` (1) client process of ``connections`` (32) keep-alive
connections spread over the servers, closed loop, raw HTTP/1.1 on uvloop, every request built and
signed before the clock starts and each one a new conversation (no provider retries). Per workload,
``warmup_s`` (1 s) then ``duration_s`` (5 s) counted. The workloads, in alternating order per repeat
(``repeats``: 3):

- **trivial**: the webchat request's exact bytes (headers, signature, JSON body) to ``/bench/trivial``.
- **webchat**: ``POST /v1/webhooks/{account}/webchat``: read the secret, verify the HMAC and the
  timestamp, validate the JSON through the webchat adapter, enqueue the ticket; 202.
- **twilio**: ``POST /v1/webhooks/{account}/twilio`` with Twilio's form and ``X-Twilio-Signature``.
- **ceiling** (once per repeat): the same client against a bare asyncio responder (uvloop, fixed 202) on
  as many ports: how fast the client can go when the server costs almost nothing. The trivial route's
  rate over this ceiling says how far the client is from being the bottleneck.

Every answer in the window must be a 202 (the run fails otherwise). Reported per workload: answers/s,
the ratio to the trivial route **of the same repeat** (median and range over repeats; target ≥ 0.5),
closed-loop latency percentiles (with ``connections`` requests in flight, so they include queueing in the
servers), and CPU per request from ``/proc``: the servers', Redis's (``INFO cpu``) and the client's.
Before the runs, each step of a webchat delivery is also timed alone in the bench process (``steps``:
2,000 calls each, CPU time): a ``PING``, the secret read, verify + map, the enqueue
(``once=True``, what the route did before issue 18) and the push (what it does now).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench.common import markdown_table, median, ratio
from bench.http_load import ClosedLoop, bare_responders, build_requests, closed_loop, loadavg
from bench.http_stack import cpu_seconds, redis_cpu_seconds, running_stack, setup_account

NAME = "http_ingest"
TITLE = "HTTP webhook ingest: signed webhooks per second against a trivial route (issue 17)"
FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_http.md"
"""Hand-written analysis of both HTTP benches, appended to http_latency's section (edit it there)."""
WEBHOOKS = ("webchat", "twilio")
TARGET = 0.5


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "servers": 1,
            "clients": 1,
            "connections": 4,
            "warmup_s": 0.2,
            "duration_s": 0.5,
            "repeats": 1,
            "requests": 4_000,
            "workloads": ["trivial", *WEBHOOKS],
            "steps": 50,
        }
    return {
        "servers": 2,
        "clients": 1,
        "connections": 32,
        "warmup_s": 1.0,
        "duration_s": 5.0,
        "repeats": 3,
        "requests": 60_000,
        "workloads": ["trivial", *WEBHOOKS],
        "steps": 2_000,
    }


def measure(spec: ClosedLoop, clients: int, server_pids: list[int], client: redis.Redis) -> dict[str, Any]:
    def probe() -> dict[str, float]:
        return {"servers": cpu_seconds(server_pids), "redis": redis_cpu_seconds(client)}

    result = closed_loop(spec, clients, probe)
    if result["exhausted"]:
        raise RuntimeError(f"{spec.workload}: a client ran out of prebuilt requests; raise params['requests']")
    if set(result["statuses"]) != {"202"}:
        raise RuntimeError(f"{spec.workload}: answers other than 202: {result['statuses']}")
    cpu, answered = result.pop("probed"), max(1, result["answered"])
    result["server_cpu_ms_per_request"] = round(cpu["servers"] * 1000 / answered, 4)
    result["redis_cpu_ms_per_request"] = round(cpu["redis"] * 1000 / answered, 4)
    result["server_cores_busy"] = round(cpu["servers"] / spec.duration_s, 2)
    return result


def step_costs(url: str, count: int) -> dict[str, float]:
    """CPU ms per call of each step of a webchat delivery, alone, in this process (one thread, ``count`` calls):
    what the server's CPU per delivery is made of (compare with the trivial request's)."""
    from bench.http_latency import mapped
    from bench.http_stack import ACCOUNT, WEBCHAT_SECRET
    from producers.lanes import push_many
    from producers.queue import enqueue_many
    from producers.webhooks import webchat_ticket
    from schemas.common import WebhookSecretName
    from worker.api import Helpdesk

    helpdesk = Helpdesk.from_env(redis_url=url)
    queue = helpdesk.queue_for(ACCOUNT)
    requests = build_requests("webchat", count, "steps")
    parts = []
    for raw, _ in requests:
        head, body = raw.split(b"\r\n\r\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        parts.append((body, headers["X-Helpdesk-Timestamp"], headers["X-Helpdesk-Signature"]))
    tickets = mapped(requests)
    now = datetime.now(UTC)

    def cpu_ms(step: Callable[[int], object]) -> float:
        started = time.process_time()
        for i in range(count):
            step(i)
        return round((time.process_time() - started) * 1000 / count, 4)

    return {
        "ping": cpu_ms(lambda _: helpdesk.ping()),
        "webhook_secret": cpu_ms(lambda _: helpdesk.webhook_secret(ACCOUNT, WebhookSecretName.WEBCHAT)),
        "verify_and_map": cpu_ms(lambda i: webchat_ticket(ACCOUNT, WEBCHAT_SECRET, *parts[i], now)),
        "enqueue_once": cpu_ms(lambda i: enqueue_many([tickets[i]], queue, once=True)),
        "push": cpu_ms(lambda i: push_many([tickets[i]], queue)),
    }


def run(url: str, quick: bool, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    p = {**params(quick), **(overrides or {})}
    client = redis.Redis.from_url(url)
    setup_account(url)
    pycache = Path(tempfile.mkdtemp(prefix="rr-bench-pyc-"))
    repeats: list[dict[str, Any]] = []
    try:
        steps = step_costs(url, p["steps"])
        print(f"  {NAME}: steps alone, CPU ms per call: {steps}", flush=True)
        with running_stack(url, p["servers"], 0, pycache) as stack:
            for repeat in range(p["repeats"]):
                order = p["workloads"] if repeat % 2 == 0 else list(reversed(p["workloads"]))
                cells: dict[str, Any] = {"loadavg": loadavg()}
                for workload in order:
                    spec = ClosedLoop(
                        stack.ports, workload, p["connections"], p["warmup_s"], p["duration_s"], p["requests"]
                    )
                    cells[workload] = measure(spec, p["clients"], stack.pids, client)
                    print(f"  {NAME}: repeat {repeat + 1} {workload}: {cells[workload]['rate']:,.0f}/s", flush=True)
                repeats.append(cells)
        for cells in repeats:
            with bare_responders(p["servers"]) as ports:
                spec = ClosedLoop(ports, "trivial", p["connections"], p["warmup_s"], p["duration_s"], p["requests"] * 8)
                cells["ceiling"] = closed_loop(spec, p["clients"])
            print(f"  {NAME}: client ceiling {cells['ceiling']['rate']:,.0f}/s", flush=True)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
        client.flushdb()
        client.close()
    summary: dict[str, Any] = {}
    for workload in [*p["workloads"], "ceiling"]:
        rates = [cells[workload]["rate"] for cells in repeats]
        ratios = [ratio(cells[workload]["rate"], cells["trivial"]["rate"]) for cells in repeats]
        summary[workload] = {
            "rate_median": median(rates),
            "ratio_median": round(median(ratios), 3),
            "ratio_min": round(min(ratios), 3),
            "ratio_max": round(max(ratios), 3),
        }
    verdict: dict[str, Any] = {}
    for workload in WEBHOOKS:
        if workload in summary:
            verdict[f"{workload}_over_trivial"] = summary[workload]["ratio_median"]
    verdict["target"] = f">= {TARGET}"
    verdict["met"] = all(summary[w]["ratio_median"] >= TARGET for w in WEBHOOKS if w in summary)
    verdict["trivial_over_client_ceiling"] = round(
        ratio(summary["trivial"]["rate_median"], summary["ceiling"]["rate_median"]), 3
    )
    return {"params": p, "steps": steps, "repeats": repeats, "summary": summary, "verdict": verdict}


def _pct(d: dict[str, float]) -> str:
    return f"{d['p50']:.1f} / {d['p90']:.1f} / {d['p99']:.1f} / {d['max']:.1f}"


def render(result: dict[str, Any]) -> str:
    p, summary = result["params"], result["summary"]
    rows = []
    for workload in [*p["workloads"], "ceiling"]:
        cells = [r[workload] for r in result["repeats"]]
        s = summary[workload]
        middle = sorted(cells, key=lambda c: c["rate"])[len(cells) // 2]
        rows.append(
            [
                workload,
                ", ".join(f"{c['rate']:,.0f}" for c in cells),
                f"**{s['ratio_median']:.2f}** ({s['ratio_min']:.2f}–{s['ratio_max']:.2f})",
                _pct(middle["latency_ms"]),
                "–" if workload == "ceiling" else f"{median([c['server_cpu_ms_per_request'] for c in cells]):.3f}",
                "–" if workload == "ceiling" else f"{median([c['redis_cpu_ms_per_request'] for c in cells]):.3f}",
                f"{median([c['client_cpu_ms_per_request'] for c in cells]):.3f}",
                "–" if workload == "ceiling" else f"{median([c['server_cores_busy'] for c in cells]):.2f}",
            ]
        )
    loads = ", ".join(str(r["loadavg"][0]) for r in result["repeats"])
    table = markdown_table(
        [
            "workload",
            f"answers/s per repeat ({p['servers']} servers, {p['clients']} client × {p['connections']} connections)",
            "÷ trivial, same repeat: median (range)",
            "latency ms p50 / p90 / p99 / max (median repeat)",
            "server CPU ms / request",
            "Redis CPU ms / request",
            "client CPU ms / request",
            "server cores busy",
        ],
        rows,
    )
    note = f"Load average (1 min) at the start of each repeat: {loads}. Target: webhook ÷ trivial ≥ {TARGET}."
    steps = result.get("steps")
    if steps:
        shown = ", ".join(f"`{name}` {ms:.3f}" for name, ms in steps.items())
        note += f"\n\nA webchat delivery's steps alone (CPU ms per call, one thread, before the runs): {shown}."
    return f"{table}\n\n{note}"
