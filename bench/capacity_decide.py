"""Decision cost with capacity (issue 15), the second half of ``bench/capacity.py``: Redis time per
``Engine.decide`` with capacity off, on, and with most or all agents at capacity, same run, same agents
and tickets. See ``bench/capacity.py`` for the method."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench.capacity_release import CHANNELS, OWNER, agent_ids, redis_cpu
from bench.common import median, ratio
from schemas.common import AgentStatus, Role
from schemas.inbound import TicketCreated
from worker.core.engine import Engine

DECIDE_VARIANTS = ("off", "on", "on-auto", "most-at-capacity", "all-at-capacity")
BASELINE = "off"
BLOCK = 250
"""Decisions per variant before the next variant's turn."""
HIGH = 1_000_000
"""A capacity nobody reaches in the bench."""
WITH_ROOM = 10
"""Agents below capacity in ``most-at-capacity`` (the others have an override of 1 and one ticket)."""
SHOWN_COMMANDS = 30


def account_of(variant: str) -> str:
    return f"cap-{variant}"


def setup_variant(engine: Engine, variant: str, agents: int, now: datetime) -> None:
    """Every agent Online with one ticket (load 1), then the variant's capacity settings."""
    account = account_of(variant)
    engine.upsert_user(account, OWNER, Role.OWNER, now)
    members = agent_ids(agents)
    for agent in members:
        engine.upsert_user(account, agent, Role.AGENT, now)
        engine.set_status(account, agent, AgentStatus.ONLINE, agent, now)
    engine.set_round_robin(account, True, OWNER, now)
    for event in tickets_for(account, agents, "w", now):
        if engine.decide(event, now).outcome != "assigned":
            raise RuntimeError(f"set-up {variant}: warm-up ticket {event.ticket_id} not assigned")
    if variant == BASELINE:
        return
    if variant == "all-at-capacity":
        engine.set_capacity(account, 1, OWNER, now)
        return
    engine.set_capacity(account, HIGH, OWNER, now)
    if variant == "on-auto":
        engine.set_auto_assign(account, True, OWNER, now)
    if variant == "most-at-capacity":
        for agent in members[WITH_ROOM:]:
            engine.set_capacity(account, 1, OWNER, now, agent_id=agent)
        ready = engine.client.zcard(engine.keys(account).ready)
        if ready != min(WITH_ROOM, agents):
            raise RuntimeError(f"set-up {variant}: {ready} agents below capacity")


def tickets_for(account: str, count: int, prefix: str, now: datetime) -> list[TicketCreated]:
    return [
        TicketCreated(
            account_id=account,
            ticket_id=f"{prefix}{i:06d}",
            channel=CHANNELS[i % len(CHANNELS)],
            created_at=now - timedelta(seconds=count - i),
            subject=f"bench ticket {i}",
        )
        for i in range(count)
    ]


def _delta(before: dict[str, Any], after: dict[str, Any], into: Counter[str], usec: Counter[str]) -> None:
    for name, stat in after.items():
        old = before.get(name, {"calls": 0, "usec": 0})
        into[name.removeprefix("cmdstat_")] += int(stat["calls"]) - int(old["calls"])
        usec[name.removeprefix("cmdstat_")] += int(stat["usec"]) - int(old["usec"])


def one_repeat(client: redis.Redis, decisions: int, agents: int, repeat: int) -> list[dict[str, Any]]:
    """Every variant's account set up afresh, then ``decisions`` tickets each, in rotating blocks."""
    client.flushdb()
    now = datetime.now(UTC)
    engine = Engine(client)
    for variant in DECIDE_VARIANTS:
        setup_variant(engine, variant, agents, now)
    events = {v: tickets_for(account_of(v), decisions, "d", now) for v in DECIDE_VARIANTS}
    calls = {v: Counter[str]() for v in DECIDE_VARIANTS}
    usec = {v: Counter[str]() for v in DECIDE_VARIANTS}
    wall = dict.fromkeys(DECIDE_VARIANTS, 0.0)
    cpu = dict.fromkeys(DECIDE_VARIANTS, 0.0)
    outcomes = {v: Counter[str]() for v in DECIDE_VARIANTS}
    for block, start in enumerate(range(0, decisions, BLOCK)):
        shift = block % len(DECIDE_VARIANTS)
        for variant in DECIDE_VARIANTS[shift:] + DECIDE_VARIANTS[:shift]:
            cpu_before = redis_cpu(client)
            before = client.info("commandstats")
            started = time.perf_counter()
            for event in events[variant][start : start + BLOCK]:
                decision = engine.decide(event, now)
                outcomes[variant][decision.agent_id if decision.agent_id else str(decision.reason)] += 1
            wall[variant] += time.perf_counter() - started
            _delta(before, client.info("commandstats"), calls[variant], usec[variant])
            cpu[variant] += redis_cpu(client) - cpu_before
    runs = []
    for variant in DECIDE_VARIANTS:
        evalsha = calls[variant]["evalsha"]
        if evalsha != decisions:
            raise RuntimeError(f"{variant}: {evalsha} EVALSHA calls for {decisions} decisions")
        runs.append(
            {
                "variant": variant,
                "repeat": repeat,
                "decisions": decisions,
                "redis_us": round(usec[variant]["evalsha"] / evalsha, 2),
                "redis_cpu_us": round(cpu[variant] / decisions * 1e6, 2),
                "client_us": round(wall[variant] / decisions * 1e6, 1),
                "outcome": _outcome(variant, outcomes[variant], agents, decisions),
                "inner_calls_per_decision": {
                    name: round(n / decisions, 3)
                    for name, n in calls[variant].most_common()
                    if n and name not in ("evalsha", "info")
                },
            }
        )
    return runs


def _outcome(variant: str, outcomes: Counter[str], agents: int, decisions: int) -> str:
    """What the decisions did, checked against what the variant must do."""
    if variant == "all-at-capacity":
        if outcomes != Counter({"all_agents_at_capacity": decisions}):
            raise RuntimeError(f"{variant}: {dict(outcomes)}")
        return "every ticket waits (`all_agents_at_capacity`)"
    allowed = set(agent_ids(agents)[:WITH_ROOM] if variant == "most-at-capacity" else agent_ids(agents))
    if set(outcomes) - allowed or sum(outcomes.values()) != decisions:
        raise RuntimeError(f"{variant}: tickets went to {sorted(set(outcomes) - allowed)[:5]}")
    counts = sorted(outcomes.values())
    if counts[-1] - counts[0] > 1:
        raise RuntimeError(f"{variant}: per-agent counts {counts[0]}..{counts[-1]}")
    return f"assigned over {len(outcomes)} agents"


def run_decisions(
    client: redis.Redis, decisions: int, agents: int, repeats: int, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    one_repeat(client, min(decisions, BLOCK), min(agents, 20), -1)  # untimed warm-up
    runs = []
    for repeat in range(repeats):
        mine = one_repeat(client, decisions, agents, repeat)
        runs += mine
        base = next(r for r in mine if r["variant"] == BASELINE)
        log(
            f"  capacity: repeat {repeat} decisions: "
            + ", ".join(
                f"{r['variant']} {r['redis_us']:.1f} µs ({ratio(r['redis_us'], base['redis_us']):.2f})" for r in mine
            )
        )
    return runs


def _spread(values: list[float]) -> dict[str, Any]:
    return {"median": round(median(values), 3), "min_max": [round(min(values), 3), round(max(values), 3)]}


def decide_cells(runs: list[dict[str, Any]]) -> dict[str, Any]:
    repeats = sorted({r["repeat"] for r in runs})
    by = {(r["repeat"], r["variant"]): r for r in runs}
    cells: dict[str, Any] = {}
    for variant in DECIDE_VARIANTS:
        mine = [by[(repeat, variant)] for repeat in repeats]
        cell: dict[str, Any] = {"outcome": mine[-1]["outcome"]}
        for field in ("redis_us", "redis_cpu_us", "client_us"):
            values = [r[field] for r in mine]
            cell[field] = round(median(values), 2)
            cell[field + "_min_max"] = [min(values), max(values)]
            paired = [ratio(by[(k, variant)][field], by[(k, BASELINE)][field]) for k in repeats]
            cell[field.replace("_us", "_ratio")] = _spread(paired)
        cells[variant] = cell
    last = repeats[-1]
    inner = {v: by[(last, v)]["inner_calls_per_decision"] for v in DECIDE_VARIANTS}
    names = sorted({n for v in inner.values() for n in v}, key=lambda n: (-max(v.get(n, 0) for v in inner.values()), n))
    return {"variants": cells, "inner_commands": inner, "inner_order": names[:SHOWN_COMMANDS]}
