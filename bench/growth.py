"""Growth: the per-decision cost as an account grows (Online agents, tickets already stored).

    python -m bench --only growth [--quick]

Cases, each its own account in one Redis (5 → here 10 agents is the smallest case and the baseline):

- **10 / 1,000 / 10,000 Online agents** (users created and set Online through the engine);
- **10 agents + 1,000,000 tickets** already in the account's unassigned set, each with its ticket
  record (the idempotency record) in the exact shape ``decide_ticket`` writes for an unassigned
  ticket (status, channel, created_at, created_ms, reason, available_at, decided_at, rr), filled
  by a Lua loop (chunks of 50,000). It is filled after the agent cases were measured; the baseline
  is measured again beside it, in the same (now larger) database.

Per round, ``Engine.decide`` is called sequentially for ``decisions`` new tickets (email/sms/social:
every one assigned) of each case in turn (rounds interleave the cases, so drift hits all alike).
Reported: client µs per decision (wall / n, one round trip each) and Redis µs per ``EVALSHA``
(``INFO commandstats`` delta; nothing else runs). Ratios are to the baseline. Separately, the cost
of each account's *first decision of an hour*, which snapshots every Online agent into the hour's
stats set (``count_decision`` in decide_ticket-32.lua), is timed by deleting that set first.
The 1 vs 2 worker-process scaling is measured by ``ticket_path`` (``scaling_2_over_1_processes``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench.common import markdown_table, median, ratio
from bench.inprocess import CHANNELS, OWNER
from schemas.common import AgentStatus, Role
from schemas.inbound import TicketCreated
from worker.core.engine import Engine
from worker.core.scripts import day_of, hour_of

NAME = "growth"
TITLE = "Growth: agents and stored tickets"

FILL_SCRIPT = """
local prefix, zkey, first, count, nowIso = ARGV[1], KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local channels = {'email', 'sms', 'social', 'webchat'}
for i = first, first + count - 1 do
  local id = string.format('old%07d', i)
  local ms = 1700000000000 + i
  redis.call('HSET', prefix .. id, 'status', 'unassigned', 'channel', channels[(i % 4) + 1],
             'created_at', '2023-11-14T22:13:20.000Z', 'created_ms', ms, 'reason', 'round_robin_off',
             'available_at', '', 'decided_at', nowIso, 'rr', 'off')
  redis.call('ZADD', zkey, ms, id)
end
return count
"""
"""Writes ``count`` unassigned ticket records and their unassigned-set entries, as decide_ticket does."""


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"agents": [10, 1000], "stored_tickets": 50_000, "decisions": 200, "rounds": 2, "chunk": 50_000}
    return {"agents": [10, 1000, 10_000], "stored_tickets": 1_000_000, "decisions": 1000, "rounds": 3, "chunk": 50_000}


def setup_agents(engine: Engine, account: str, agents: int) -> None:
    now = datetime.now(UTC)
    engine.upsert_user(account, OWNER, Role.OWNER, now)
    for i in range(agents):
        engine.upsert_user(account, f"agent-{i:05d}", Role.AGENT, now)
        engine.set_status(account, f"agent-{i:05d}", AgentStatus.ONLINE, f"agent-{i:05d}", now)
    engine.set_round_robin(account, True, OWNER, now)


def fill_tickets(client: redis.Redis, engine: Engine, account: str, count: int, chunk: int) -> float:
    keys = engine.keys(account)
    prefix = keys.ticket("")
    script = client.register_script(FILL_SCRIPT)
    started = time.perf_counter()
    now_iso = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for first in range(0, count, chunk):
        script(keys=[keys.unassigned], args=[prefix, first, min(chunk, count - first), now_iso])
    if client.zcard(keys.unassigned) != count:
        raise RuntimeError("growth: fill incomplete")
    return time.perf_counter() - started


def decide_round(client: redis.Redis, engine: Engine, account: str, prefix: str, n: int) -> dict[str, float]:
    now = datetime.now(UTC)
    events = [
        TicketCreated(
            account_id=account,
            ticket_id=f"{prefix}{i:06d}",
            channel=CHANNELS[i % len(CHANNELS)],
            created_at=now - timedelta(seconds=n - i),
        )
        for i in range(n)
    ]
    before = client.info("commandstats")["cmdstat_evalsha"]
    longest = 0.0
    started = time.perf_counter()
    for event in events:
        t = time.perf_counter()
        decision = engine.decide(event, now)
        longest = max(longest, time.perf_counter() - t)
        if decision.outcome != "assigned":
            raise RuntimeError(f"growth: {event.ticket_id} {decision.outcome} ({decision.reason})")
    wall = time.perf_counter() - started
    after = client.info("commandstats")["cmdstat_evalsha"]
    calls = int(after["calls"]) - int(before["calls"])
    return {
        "client_us": wall / n * 1e6,
        "redis_us": (int(after["usec"]) - int(before["usec"])) / calls,
        "longest_ms": longest * 1000,
    }


def first_of_hour_ms(client: redis.Redis, engine: Engine, account: str, tag: str) -> float:
    now = datetime.now(UTC)
    client.delete(engine.keys(account).stats_online(day_of(now), hour_of(now)))
    event = TicketCreated(account_id=account, ticket_id=f"hour-{tag}", channel=CHANNELS[0], created_at=now)
    started = time.perf_counter()
    engine.decide(event, now)
    return (time.perf_counter() - started) * 1000


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    client.flushdb()
    engine = Engine(client)
    cases: dict[str, str] = {}
    setup_seconds: dict[str, float] = {}
    for agents in p["agents"]:
        account = f"grow-a{agents}"
        started = time.perf_counter()
        setup_agents(engine, account, agents)
        setup_seconds[f"{agents} agents"] = round(time.perf_counter() - started, 2)
        cases[f"{agents} agents"] = account
    baseline = f"{p['agents'][0]} agents"
    runs: list[dict[str, Any]] = []

    def measure(names: list[str], phase: str) -> None:
        for name in names:  # warm-up: script cache, key-name cache
            decide_round(client, engine, cases[name], f"{phase}-warm-", 20)
        for rnd in range(p["rounds"]):
            order = names if rnd % 2 == 0 else list(reversed(names))
            for name in order:
                r = decide_round(client, engine, cases[name], f"{phase}-r{rnd}-", p["decisions"])
                runs.append({"phase": phase, "case": name, "round": rnd, **{k: round(v, 2) for k, v in r.items()}})
                print(
                    f"  {NAME}: {phase} round {rnd} {name}: "
                    f"{r['client_us']:.0f} µs client, {r['redis_us']:.1f} µs redis"
                )

    agent_cases = [f"{a} agents" for a in p["agents"]]
    measure(agent_cases, "agents")
    hour_ms = {name: round(first_of_hour_ms(client, engine, cases[name], name.split()[0]), 2) for name in agent_cases}
    stored_case = f"{p['agents'][0]} agents + {p['stored_tickets']:,} stored tickets"
    account = "grow-stored"
    setup_agents(engine, account, p["agents"][0])
    fill_s = fill_tickets(client, engine, account, p["stored_tickets"], p["chunk"])
    cases[stored_case] = account
    used = client.info("memory")["used_memory"]
    measure([baseline, stored_case], "stored")
    client.flushdb()
    client.close()

    def cell(name: str, phase: str) -> dict[str, Any]:
        mine = [r for r in runs if r["case"] == name and r["phase"] == phase]
        base = [r for r in runs if r["case"] == baseline and r["phase"] == phase]
        c_ratio = [ratio(m["client_us"], b["client_us"]) for m in mine for b in base if m["round"] == b["round"]]
        r_ratio = [ratio(m["redis_us"], b["redis_us"]) for m in mine for b in base if m["round"] == b["round"]]
        return {
            "case": name,
            "phase": phase,
            "client_us": round(median([r["client_us"] for r in mine]), 1),
            "redis_us": round(median([r["redis_us"] for r in mine]), 1),
            "longest_ms": round(max(r["longest_ms"] for r in mine), 2),
            "client_ratio": round(median(c_ratio), 3),
            "redis_ratio": round(median(r_ratio), 3),
            "redis_ratio_min_max": [round(min(r_ratio), 3), round(max(r_ratio), 3)],
            "first_decision_of_hour_ms": hour_ms.get(name),
        }

    cells = [cell(name, "agents") for name in agent_cases]
    cells += [cell(baseline, "stored"), cell(stored_case, "stored")]
    worst = max(max(c["redis_ratio"], c["client_ratio"]) for c in cells)
    return {
        "params": p,
        "setup_seconds": setup_seconds,
        "fill_seconds": round(fill_s, 2),
        "used_memory_after_fill": used,
        "summary": {"baseline": baseline, "cells": cells},
        "runs": runs,
        "verdict": {"worst_ratio": worst, "target": "<= 1.3", "met": worst <= 1.3},
    }


def render(result: dict[str, Any]) -> str:
    rows = []
    for c in result["summary"]["cells"]:
        phase = "before the fill" if c["phase"] == "agents" else "after the fill (same db)"
        rows.append(
            [
                f"{c['case']} ({phase})",
                f"{c['client_us']:.0f}",
                f"**{c['client_ratio']:.2f}**",
                f"{c['redis_us']:.1f}",
                f"**{c['redis_ratio']:.2f}** ({c['redis_ratio_min_max'][0]:.2f}–{c['redis_ratio_min_max'][1]:.2f})",
                f"{c['longest_ms']:.2f}",
                "–" if c["first_decision_of_hour_ms"] is None else f"{c['first_decision_of_hour_ms']:.2f}",
                "≤ 1.3",
            ]
        )
    return markdown_table(
        [
            "case",
            "client µs per decision",
            "/ baseline",
            "Redis µs per EVALSHA",
            "/ baseline (min–max over rounds)",
            "longest decision, ms",
            "first decision of the hour, ms",
            "target",
        ],
        rows,
    )
