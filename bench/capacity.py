"""Capacity and the waiting queue (issue 15): a release of the waiting queue against a bulk job of the
same tickets, and what capacity adds to an inbound decision.

    python -m bench --only capacity [--quick]

**Release vs bulk** (``bench/capacity_release.py``). One account, ``agents`` agents (100; 10 in
``--quick``), round robin on, a team of all of them; ``tickets`` tickets (10,000; 1,000 in ``--quick``,
email/sms/social in turn, arrivals spread over the past day) decided through ``Engine.decide`` while
nobody is Online: each waits with ``no_agent_online`` (in the unassigned set and the waiting queue). Then
every agent goes Online and one workload runs, on a flushed database each time, in alternating order:

- **bulk** (the baseline): no capacity, auto-assign off; the existing job body,
  ``worker.core.bulk.run_bulk_assign`` (``--unassigned`` to the team; enqueued with
  ``start_bulk_assign``, run in this process without an RQ worker: batches sized to ~2 ms, two calls in
  flight, one toast per agent at the end).
- **bulk, capacity set**: the same job with a capacity of ``tickets / agents`` (100) set before the
  tickets arrive (auto-assign off): what the capacity bookkeeping (load, ``ready``) costs the bulk path.
- **release**: the same capacity and auto-assign on before the tickets arrive; the agents going Online
  ring (no enqueuer here, so nothing is enqueued); then ``worker.core.release.run_release(engine.scripts,
  engine.keys(account), clock)``: after-hours promotion, ``release_waiting`` batches sized to ~2 ms (one
  call in flight), one toast per agent. The capacity is exactly enough for every ticket.

Every run is checked: every ticket assigned by the workload, the unassigned set and the waiting queue
empty, per-agent counts within 1 (the release: every agent's load exactly at capacity, one toast each).
**Wall** is the workload's function, timed in this process (``run_bulk_assign`` / ``run_release``).
**Redis time** is the sum of the workload's batch EVALSHAs as Redis logs them in ``SLOWLOG``
(``slowlog-log-slower-than`` = 100 µs: every batch is logged); the **longest call** is the largest of
them, and for the release also ``run_release``'s own ``longest_us`` (``TIME`` at both ends of each
batch). **Redis CPU** is the server's main thread CPU time around the workload (``INFO cpu``), **client
CPU** this process's (``time.process_time``): unlike the wall-clock figures, they hardly grow while a
process waits for a core on a busy machine. Ratios are paired within a repeat; "fastest run of each"
divides the fastest release by the fastest bulk job (the least disturbed runs). ``INFO commandstats``
around the workload gives the calls and µs per ticket by command (mean of the repeats). For the
release, the wall is split into its batch calls (send to reply), ``promote_due`` (one ``ZRANGEBYSCORE``
per batch), the toasts, and the rest (the head read: one ``ZRANGE`` per batch, and building the call).

**Decision cost with capacity** (``bench/capacity_decide.py``). One account per variant on the same
server, each with ``agents`` agents (100) Online, round robin on, and one ticket already assigned to
each agent (load 1); then the same ``decisions`` tickets (10,000 per variant; 500 in ``--quick``) through
``Engine.decide``, one round trip each, in blocks of 250 that rotate over the variants, so drift hits all
alike. Variants:

- **off** (the baseline): no capacity;
- **on, room for all**: capacity 1,000,000 (nobody reaches it);
- **on + auto-assign**: the same with auto-assign on (nothing waits);
- **most at capacity**: capacity 1,000,000 with an override of 1 for 90 of the 100 agents (at capacity
  with their one ticket): every ticket goes to one of the other 10;
- **all at capacity**: capacity 1: every ticket waits with ``all_agents_at_capacity`` (another path, the
  one a ticket that waits takes; shown for scale, not a like-for-like ratio).

**Redis µs per decision** is the EVALSHA ``usec`` of ``INFO commandstats`` over the block's calls (the
bench suite's measure, as in "Engine vs Redis's floor"); the ratio to **off** is taken per repeat and
reported as the median (min–max) over the repeats. **Redis CPU µs per decision** is ``INFO cpu`` around
each block over its decisions (it includes the bench's own ``INFO`` calls, the same for every variant).
Client µs per decision (``Engine.decide``'s wall
time) is shown beside it. Targets (issue 15): release ≤ 1.5× the bulk job's wall time, longest call ≤
5 ms, a decision with capacity on ≤ 1.2× one without.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from bench.bulk import slowlog_on
from bench.capacity_decide import DECIDE_VARIANTS, decide_cells, run_decisions
from bench.capacity_release import RELEASE_WORKLOADS, release_summary, run_release_runs
from bench.common import markdown_table

NAME = "capacity"
TITLE = "Capacity and the waiting queue (issue 15)"
SLOWLOG_THRESHOLD_US = 100
FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_capacity.md"
"""Hand-written analysis of a run, appended to the generated tables (edit it there, not in the doc)."""


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"tickets": 1_000, "agents": 10, "decisions": 500, "decide_agents": 100, "repeats": 1}
    return {"tickets": 10_000, "agents": 100, "decisions": 10_000, "decide_agents": 100, "repeats": 7}


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    try:
        slowlog_on(client, SLOWLOG_THRESHOLD_US)
        release_runs = run_release_runs(client, p["tickets"], p["agents"], p["repeats"], lambda line: print(line))
        decide_runs = run_decisions(client, p["decisions"], p["decide_agents"], p["repeats"], lambda line: print(line))
        client.flushdb()
    finally:
        client.config_set("slowlog-log-slower-than", 10000)
        client.close()
    release = release_summary(release_runs)
    decide = decide_cells(decide_runs)
    on = decide["variants"]["on"]["redis_ratio"]["median"]
    ratio_release = release["paired"]["release_over_bulk_wall"]["median"]
    longest = max(release["workloads"]["release"]["longest_call_ms"], release["workloads"]["release"]["longest_us_ms"])
    return {
        "params": {**p, "slowlog_threshold_us": SLOWLOG_THRESHOLD_US},
        "summary": {"release": release, "decide": decide},
        "runs": {"release": release_runs, "decide": decide_runs},
        "verdict": {
            "release over bulk": ratio_release,
            "≤ 1.5×": ratio_release <= 1.5,
            "release longest call ms": longest,
            "≤ 5 ms": longest <= 5,
            "decision capacity on over off": on,
            "≤ 1.2×": on <= 1.2,
        },
    }


def _range(cell: dict[str, Any], field: str, fmt: str) -> str:
    if cell.get(field) is None:
        return "–"
    low, high = cell[field + "_min_max"]
    return f"{cell[field]:{fmt}} ({low:{fmt}}–{high:{fmt}})"


def _ratio(paired: dict[str, Any]) -> str:
    if not paired:
        return "–"
    return f"**{paired['median']:.2f}** ({paired['min_max'][0]:.2f}–{paired['min_max'][1]:.2f})"


def render_release(summary: dict[str, Any], p: dict[str, Any]) -> str:
    rows = []
    for name in RELEASE_WORKLOADS:
        cell = summary["workloads"][name]
        rows.append(
            [
                f"`{name}`",
                _range(cell, "wall_ms", ",.0f"),
                _range(cell, "tickets_per_s", ",.0f"),
                _range(cell, "redis_ms", ",.0f"),
                _range(cell, "redis_cpu_ms", ",.0f"),
                _range(cell, "client_cpu_ms", ",.0f"),
                _range(cell, "redis_us_per_ticket", ".1f"),
                _range(cell, "longest_call_ms", ".2f"),
                _range(cell, "longest_us_ms", ".2f"),
                _range(cell, "calls", ",.0f"),
                _range(cell, "calls_over_5_ms", ",.0f"),
                _range(cell, "median_batch", ",.0f"),
            ]
        )
    table = markdown_table(
        [
            f"workload ({p['tickets']:,} tickets, {p['agents']} agents)",
            "wall ms",
            "tickets/s",
            "Redis ms (SLOWLOG sum of its batch calls)",
            "Redis CPU ms (`INFO cpu`)",
            "client CPU ms",
            "Redis µs per ticket",
            "longest call ms (SLOWLOG)",
            "longest batch ms (script clock)",
            "batch calls",
            "calls > 5 ms",
            "median batch (tickets)",
        ],
        rows,
    )
    paired = summary["paired"]
    ratios = markdown_table(
        ["paired ratio (same repeat)", "median (min–max)", "target"],
        [
            ["release / bulk, wall", _ratio(paired["release_over_bulk_wall"]), "≤ 1.5"],
            ["release / bulk, Redis time", _ratio(paired["release_over_bulk_redis"]), "–"],
            ["release / bulk, Redis CPU", _ratio(paired["release_over_bulk_redis_cpu"]), "–"],
            ["release / bulk, Redis + client CPU", _ratio(paired["release_over_bulk_cpu"]), "–"],
            [
                "release / bulk, wall, fastest run of each (the least disturbed)",
                f"{summary['fastest']['release_over_bulk_wall']:.2f}",
                "–",
            ],
            [
                "release / bulk, Redis time, fastest run of each",
                f"{summary['fastest']['release_over_bulk_redis']:.2f}",
                "–",
            ],
            ["bulk with capacity / bulk, wall", _ratio(paired["bulk_capacity_over_bulk_wall"]), "–"],
            ["bulk with capacity / bulk, Redis time", _ratio(paired["bulk_capacity_over_bulk_redis"]), "–"],
        ],
    )
    split = summary["release_split_ms"]
    parts = ", ".join(f"{name} {value:,.0f}" for name, value in split.items())
    text = (
        f"Where the release's wall time goes (ms, medians): {parts}. "
        "Batch calls are send → reply of each `release_waiting` EVALSHA, one in flight."
    )
    return table + "\n\n" + ratios + "\n\n" + text + "\n\n" + _commands(summary)


def _commands(summary: dict[str, Any]) -> str:
    per = {name: summary["workloads"][name].get("commandstats_per_ticket", {}) for name in RELEASE_WORKLOADS}
    names = sorted(
        {n for v in per.values() for n in v}, key=lambda n: -max(v.get(n, {}).get("us", 0) for v in per.values())
    )
    rows = []
    for name in names[:16]:
        cells = []
        for workload in RELEASE_WORKLOADS:
            v = per[workload].get(name)
            cells.append(f"{v['calls']:.2f} × / {v['us']:.2f} µs" if v and v["calls"] else "–")
        rows.append([f"`{name}`", *cells])
    header = "Calls and µs per ticket by command (`INFO commandstats`, mean of the repeats; `evalsha` includes the "
    return header + "commands run inside it):\n\n" + markdown_table(["command", *RELEASE_WORKLOADS], rows)


def render_decide(summary: dict[str, Any], p: dict[str, Any]) -> str:
    rows = []
    for name in DECIDE_VARIANTS:
        cell = summary["variants"][name]
        rows.append(
            [
                name,
                _range(cell, "redis_us", ".1f"),
                _ratio(cell.get("redis_ratio", {})),
                _range(cell, "redis_cpu_us", ".1f"),
                _ratio(cell.get("redis_cpu_ratio", {})),
                _range(cell, "client_us", ".0f"),
                _ratio(cell.get("client_ratio", {})),
                cell["outcome"],
            ]
        )
    table = markdown_table(
        [
            f"variant ({p['decisions']:,} decisions each, {p['decide_agents']} agents Online)",
            "Redis µs per decision (EVALSHA, commandstats)",
            "/ off (paired)",
            "Redis CPU µs per decision (`INFO cpu`)",
            "/ off (paired)",
            "client µs per decision",
            "/ off (paired)",
            "outcome",
        ],
        rows,
    )
    inside = summary.get("inner_commands", {})
    if inside:
        rows = [[f"`{cmd}`", *(f"{inside[v].get(cmd, 0):.2f}" for v in inside)] for cmd in summary["inner_order"]]
        table += "\n\nCommands per decision inside the EVALSHA (calls, last repeat):\n\n" + markdown_table(
            ["command", *inside], rows
        )
    return table


def render(result: dict[str, Any]) -> str:
    p, summary = result["params"], result["summary"]
    findings = FINDINGS.read_text().strip() if FINDINGS.is_file() else ""
    return (
        "### Release vs bulk\n\n"
        + render_release(summary["release"], p)
        + "\n\n### Decision cost with capacity\n\n"
        + render_decide(summary["decide"], p)
        + ("\n\n" + findings if findings else "")
    )
