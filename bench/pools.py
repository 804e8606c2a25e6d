"""Per-channel pools (issue 16, part 4): the inbound decision with pools in use vs none, and the cost of turning
pools on (the first restriction builds them) and off, with many Online agents.

    python -m bench --only pools [--quick]

**Decision.** Four accounts set up through the real engine, each with ``agents`` (100; 20 in ``--quick``)
agents, all Online and each holding one ticket: (a) ``none``: no restriction (the seed's path), (b) ``pools``:
one agent restricted to email (so every pool is kept, and every pick takes the head of the ticket's channel's
pool), (c) ``capacity``: an account capacity nobody reaches, no restriction, (d) ``pools+capacity``: both.
Then ``decisions`` (2,000; 500) tickets per account, the channels in turn (email, webchat, sms, social), in
blocks of 250 rotating over the accounts so all four see the same machine. Redis time per decision is the
EVALSHA time ``INFO commandstats`` adds up over the block (the server's clock); client time is the wall
of ``Engine.decide``. Every assignment is checked (per-agent counts within one ticket, only agents who take
the channel). Ratios: (b) / (a) and (d) / (c), per repeat; median (min–max) over ``repeats`` (3; 1).

**Turning pools on and off.** An account with ``online`` (10,000; 1,000) Online agents gets its first
restriction (``set_agent_channels``: builds the four pools from the Online agents in one call) and then
loses it (drops them): the Redis time of each call (its EVALSHA in ``INFO commandstats``).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench.common import markdown_table, median, ratio
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from worker.core.engine import Engine

NAME = "pools"
TITLE = "Per-channel pools (issue 16, part 4)"
VARIANTS = ("none", "pools", "capacity", "pools+capacity")
BASELINES = {"pools": "none", "pools+capacity": "capacity"}
BLOCK = 250
OWNER = "owner"
HIGH = 1_000_000


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"agents": 20, "decisions": 500, "repeats": 1, "online": 1_000}
    return {"agents": 100, "decisions": 2_000, "repeats": 3, "online": 10_000}


def _agents(count: int) -> list[str]:
    return [f"agent{n:05d}" for n in range(count)]


def _tickets(account: str, prefix: str, count: int, now: datetime) -> list[TicketCreated]:
    channels = list(Channel)
    return [
        TicketCreated(
            account_id=account,
            ticket_id=f"{prefix}{i:06d}",
            channel=channels[i % len(channels)],
            created_at=now - timedelta(seconds=count - i),
        )
        for i in range(count)
    ]


def _setup(engine: Engine, variant: str, agents: int, now: datetime) -> None:
    account = f"pools-{variant}"
    engine.upsert_user(account, OWNER, Role.OWNER, now)
    for agent in _agents(agents):
        engine.upsert_user(account, agent, Role.AGENT, now)
        engine.set_status(account, agent, AgentStatus.ONLINE, agent, now)
    engine.set_round_robin(account, True, OWNER, now)
    for event in _tickets(account, "w", agents, now):
        engine.decide(event, now)
    if "capacity" in variant:
        engine.set_capacity(account, HIGH, OWNER, now)
    if "pools" in variant:
        engine.set_agent_channels(account, _agents(agents)[0], [Channel.EMAIL], OWNER, now)


def _evalsha_usec(client: redis.Redis) -> tuple[int, int]:
    stat = client.info("commandstats").get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    return int(stat["calls"]), int(stat["usec"])


def _check(variant: str, picked: dict[str, Counter[str]], agents: int) -> None:
    """Every ticket assigned, to an agent who takes its channel; per channel counts within one ticket."""
    restricted = _agents(agents)[0]
    for channel, counts in picked.items():
        if "pools" in variant and channel != Channel.EMAIL and restricted in counts:
            raise RuntimeError(f"{variant}: {restricted} got a {channel} ticket")
    total = Counter[str]()
    for counts in picked.values():
        total.update(counts)
    if sum(total.values()) == 0 or any(reason in total for reason in ("no_agent_for_channel", "no_agent_online")):
        raise RuntimeError(f"{variant}: {dict(total)}")


def one_repeat(client: redis.Redis, agents: int, decisions: int) -> dict[str, dict[str, float]]:
    client.flushdb()
    now = datetime.now(UTC)
    engine = Engine(client)
    for variant in VARIANTS:
        _setup(engine, variant, agents, now)
    events = {v: _tickets(f"pools-{v}", "d", decisions, now) for v in VARIANTS}
    usec, wall = dict.fromkeys(VARIANTS, 0), dict.fromkeys(VARIANTS, 0.0)
    picked: dict[str, dict[str, Counter[str]]] = {v: {c.value: Counter() for c in Channel} for v in VARIANTS}
    for block, start in enumerate(range(0, decisions, BLOCK)):
        shift = block % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            calls0, usec0 = _evalsha_usec(client)
            started = time.perf_counter()
            for event in events[variant][start : start + BLOCK]:
                decision = engine.decide(event, now)
                picked[variant][event.channel.value][decision.agent_id or str(decision.reason)] += 1
            wall[variant] += time.perf_counter() - started
            calls1, usec1 = _evalsha_usec(client)
            if calls1 - calls0 != len(events[variant][start : start + BLOCK]):
                raise RuntimeError(f"{variant}: not one EVALSHA per decision")
            usec[variant] += usec1 - usec0
    for variant in VARIANTS:
        _check(variant, picked[variant], agents)
    return {v: {"redis_us": usec[v] / decisions, "client_us": wall[v] / decisions * 1e6} for v in VARIANTS}


def toggle_cost(client: redis.Redis, online: int) -> dict[str, float]:
    """Redis µs of the first restriction (builds the pools) and of clearing it (drops them)."""
    client.flushdb()
    now = datetime.now(UTC)
    engine = Engine(client)
    account = "pools-big"
    engine.upsert_user(account, OWNER, Role.OWNER, now)
    for agent in _agents(online):
        engine.upsert_user(account, agent, Role.AGENT, now)
        engine.set_status(account, agent, AgentStatus.ONLINE, agent, now)
    costs = {}
    for label, channels in (("build_us", [Channel.EMAIL]), ("drop_us", None)):
        _, before = _evalsha_usec(client)
        engine.set_agent_channels(account, _agents(online)[0], channels, OWNER, now)
        costs[label] = float(_evalsha_usec(client)[1] - before)
    pooled = int(client.zcard(engine.keys(account).pool(Channel.EMAIL)))
    if pooled != 0:
        raise RuntimeError(f"pools not dropped: {pooled}")
    return costs


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    one_repeat(client, min(p["agents"], 10), BLOCK)  # warm-up: scripts loaded
    repeats = [one_repeat(client, p["agents"], p["decisions"]) for _ in range(p["repeats"])]
    cells: dict[str, Any] = {}
    for variant in VARIANTS:
        cell: dict[str, Any] = {}
        for field in ("redis_us", "client_us"):
            values = [r[variant][field] for r in repeats]
            cell[field] = round(median(values), 2)
            if variant in BASELINES:
                ratios = [ratio(r[variant][field], r[BASELINES[variant]][field]) for r in repeats]
                cell[field.replace("_us", "_ratio")] = [round(median(ratios), 3), round(min(ratios), 3),
                                                         round(max(ratios), 3)]  # fmt: skip
        cells[variant] = cell
    toggles = toggle_cost(client, p["online"])
    client.close()
    worst = max(cells[v]["redis_ratio"][0] for v in BASELINES)
    return {
        "params": p,
        "variants": cells,
        "toggle": toggles,
        "verdict": {"decision_with_pools_Redis_ratio": worst, "≤_1.3×": worst <= 1.3},
    }


def render(result: dict[str, Any]) -> str:
    cells, p = result["variants"], result["params"]
    rows = []
    for variant in VARIANTS:
        cell = cells[variant]
        shown = "baseline"
        if variant in BASELINES:
            med, low, high = cell["redis_ratio"]
            shown = f"{med:.2f} ({low:.2f}–{high:.2f}) vs {BASELINES[variant]}"
        rows.append([variant, f"{cell['redis_us']:.1f}", f"{cell['client_us']:.0f}", shown])
    table = markdown_table(["account", "Redis µs / decision", "client µs / decision", "Redis ratio"], rows)
    toggle = result["toggle"]
    return (
        f"{table}\n\nTurning pools on with {p['online']:,} Online agents (one `set_agent_channels` call builds the "
        f"four pools): {toggle['build_us'] / 1000:.1f} ms of Redis time; turning them off (the last restriction "
        f"cleared): {toggle['drop_us'] / 1000:.1f} ms."
    )
