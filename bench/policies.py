"""Every issue-16 policy on (issue 16): the inbound decision with none of the account policies on against
every one on, and each alone, same run, same agents and tickets.

    python -m bench --only policies [--quick]

**Set-up, through the real engine**, one account per variant, each with ``agents`` (100; 20 in ``--quick``)
agents, all Online, round robin on, and each agent holding one ticket (load 1, the warm-up tickets are
decided before any policy is set). Then the variant's policies: (a) ``none``: the seed's defaults;
``capacity``: an account capacity nobody reaches (1,000,000); ``auto-assign``: auto-assign on (the waiting
queue's; capacity as in ``capacity``, as it only acts with one); ``presence``: a presence timeout of 1 h and
a heartbeat from every agent before each block; ``reassign-away``: on, grace 0; ``unanswered``:
reassign-unanswered after 1 h, max 1 (so each assignment files a no-first-reply timer in its partition's
``unanswered_due``); ``pools``: per-channel pools in use, a realistic mix: 20 % of the agents restricted
(every tenth to email only, every tenth other to webchat and sms), the rest take every channel; (b) ``all``:
every one of these at once.

**Measured.** ``decisions`` (2,000; 500) tickets per account, the channels in turn (email, webchat, sms,
social), in blocks of 250 rotating over the accounts (the first account of the rotation shifts by one
each block) so every variant sees the same machine. Redis time per decision is the EVALSHA time that
``INFO commandstats`` adds up over the block (the server's clock; exactly one EVALSHA per decision,
checked; the heartbeats run between blocks, outside it); Redis CPU is the server main thread's CPU over the
block (``INFO cpu``); client time is the wall of ``Engine.decide``. The inner commands per decision
(``INFO commandstats``, every command a script runs) show where a policy's cost is.
**Every run's outcomes are checked**, so the bench cannot measure a broken path: every ticket assigned,
only to an agent who takes its channel, and among agents with the same channel set the per-agent counts
differ by at most 1; with ``unanswered``, one timer filed per decision (``ZCARD`` of the account's entries).
Ratios are each variant over ``none``, paired within a repeat; median (min–max) over ``repeats`` (5; 1).
Target (issue 16): ``all`` / ``none`` ≤ 1.3 in Redis time.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from bench.capacity_decide import _delta
from bench.capacity_release import redis_cpu
from bench.common import markdown_table, median, ratio
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from worker.core.engine import Engine
from worker.core.text import text

NAME = "policies"
FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_policies.md"
"""Hand-written analysis of the runs, appended to the generated tables (edit it there, not in the doc)."""
TITLE = "Every policy on: the inbound decision (issue 16)"
POLICIES = ("capacity", "auto-assign", "presence", "reassign-away", "unanswered", "pools")
VARIANTS = ("none", *POLICIES, "all")
BASELINE = "none"
BLOCK = 250
OWNER = "owner"
HIGH = 1_000_000
HOUR = 3600
SHOWN_COMMANDS = 14


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"agents": 20, "decisions": 500, "repeats": 1}
    return {"agents": 100, "decisions": 2_000, "repeats": 5}


def agent_ids(count: int) -> list[str]:
    return [f"agent{n:05d}" for n in range(count)]


def channel_set(index: int) -> tuple[str, ...] | None:
    """The mix with pools: every tenth agent email only, every tenth other webchat and sms, the rest all."""
    if index % 10 == 0:
        return (Channel.EMAIL.value,)
    if index % 10 == 5:
        return (Channel.WEBCHAT.value, Channel.SMS.value)
    return None


def has(variant: str, policy: str) -> bool:
    return variant in (policy, "all") or (policy == "capacity" and variant == "auto-assign")


def tickets(account: str, prefix: str, count: int, now: datetime) -> list[TicketCreated]:
    channels = list(Channel)
    return [
        TicketCreated(
            account_id=account,
            ticket_id=f"{prefix}{i:06d}",
            channel=channels[i % len(channels)],
            created_at=now - timedelta(seconds=count - i),
        )  # fmt: skip
        for i in range(count)
    ]


def setup(engine: Engine, variant: str, agents: int, now: datetime) -> None:
    account = f"pol-{variant}"
    engine.upsert_user(account, OWNER, Role.OWNER, now)
    members = agent_ids(agents)
    for agent in members:
        engine.upsert_user(account, agent, Role.AGENT, now)
        engine.set_status(account, agent, AgentStatus.ONLINE, agent, now)
    engine.set_round_robin(account, True, OWNER, now)
    for event in tickets(account, "w", agents, now):
        if engine.decide(event, now).outcome != "assigned":
            raise RuntimeError(f"set-up {variant}: warm-up ticket {event.ticket_id} not assigned")
    if has(variant, "capacity"):
        engine.set_capacity(account, HIGH, OWNER, now)
    if has(variant, "auto-assign"):
        engine.set_auto_assign(account, True, OWNER, now)
    if has(variant, "presence"):
        engine.set_presence_timeout(account, HOUR, OWNER, now)
    if has(variant, "reassign-away"):
        engine.set_reassign_away(account, True, 0, OWNER, now)
    if has(variant, "unanswered"):
        engine.set_reassign_unanswered(account, HOUR, 1, OWNER, now)
    if has(variant, "pools"):
        for index, agent in enumerate(members):
            chosen = channel_set(index)
            if chosen:
                engine.set_agent_channels(account, agent, list(chosen), OWNER, now)


def heartbeats(engine: Engine, variant: str, agents: int, now: datetime) -> None:
    if has(variant, "presence"):
        for agent in agent_ids(agents):
            if not engine.heartbeat(f"pol-{variant}", agent, now):
                raise RuntimeError(f"{variant}: {agent} not Online at a heartbeat")


def check(variant: str, engine: Engine, picked: Counter[tuple[str, str]], agents: int, decisions: int) -> str:
    """Every ticket assigned, only to an agent taking its channel; per channel set, counts within one ticket."""
    sets = {a: (channel_set(i) if has(variant, "pools") else None) for i, a in enumerate(agent_ids(agents))}
    per_agent = Counter[str]()
    for (channel, agent), n in picked.items():
        if agent not in sets:
            raise RuntimeError(f"{variant}: {n} {channel} tickets not assigned ({agent})")
        allowed = sets[agent]
        if allowed is not None and channel not in allowed:
            raise RuntimeError(f"{variant}: {agent} ({','.join(allowed)}) got {n} {channel} tickets")
        per_agent[agent] += n
    if sum(per_agent.values()) != decisions:
        raise RuntimeError(f"{variant}: {sum(per_agent.values())} of {decisions} assigned")
    spreads = []
    for chosen in set(sets.values()):
        counts = [per_agent[a] for a, s in sets.items() if s == chosen]
        if max(counts) - min(counts) > 1:
            raise RuntimeError(f"{variant}: channel set {chosen}: per-agent counts {min(counts)}..{max(counts)}")
        spreads.append(f"{len(counts)} × {'/'.join(chosen) if chosen else 'all'}: {min(counts)}–{max(counts)}")
    if has(variant, "unanswered"):
        account = f"pol-{variant} "
        members = engine.client.zrange(engine.keys(account.strip()).unanswered_due, 0, -1)
        filed = [m for m in members if text(m).startswith(account)]
        if len(filed) != decisions:
            raise RuntimeError(f"{variant}: {len(filed)} unanswered timers for {decisions} assignments")
    return "; ".join(sorted(spreads))


def one_repeat(client: redis.Redis, agents: int, decisions: int, repeat: int) -> list[dict[str, Any]]:
    client.flushdb()
    now = datetime.now(UTC)
    engine = Engine(client)
    for variant in VARIANTS:
        setup(engine, variant, agents, now)
    events = {v: tickets(f"pol-{v}", "d", decisions, now) for v in VARIANTS}
    calls = {v: Counter[str]() for v in VARIANTS}
    usec = {v: Counter[str]() for v in VARIANTS}
    wall, cpu = dict.fromkeys(VARIANTS, 0.0), dict.fromkeys(VARIANTS, 0.0)
    picked = {v: Counter[tuple[str, str]]() for v in VARIANTS}
    for block, start in enumerate(range(0, decisions, BLOCK)):
        shift = block % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            heartbeats(engine, variant, agents, now)
            cpu_before, before = redis_cpu(client), client.info("commandstats")
            started = time.perf_counter()
            for event in events[variant][start : start + BLOCK]:
                decision = engine.decide(event, now)
                picked[variant][(event.channel.value, decision.agent_id or str(decision.reason))] += 1
            wall[variant] += time.perf_counter() - started
            _delta(before, client.info("commandstats"), calls[variant], usec[variant])
            cpu[variant] += redis_cpu(client) - cpu_before
    runs = []
    for variant in VARIANTS:
        if calls[variant]["evalsha"] != decisions:
            raise RuntimeError(f"{variant}: {calls[variant]['evalsha']} EVALSHA calls for {decisions} decisions")
        shown = [(n, c) for n, c in calls[variant].most_common() if c and n not in ("evalsha", "info")]
        inner = {n: round(c / decisions, 3) for n, c in shown}
        inner_us = {n: round(usec[variant][n] / decisions, 3) for n, _ in shown}
        runs.append({
            "variant": variant, "repeat": repeat, "decisions": decisions,
            "redis_us": round(usec[variant]["evalsha"] / decisions, 2),
            "redis_cpu_us": round(cpu[variant] / decisions * 1e6, 2),
            "client_us": round(wall[variant] / decisions * 1e6, 1),
            "outcome": check(variant, engine, picked[variant], agents, decisions),
            "inner_calls_per_decision": inner,
            "inner_us_per_decision": inner_us,
        })  # fmt: skip
    return runs


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    repeats = sorted({r["repeat"] for r in runs})
    by = {(r["repeat"], r["variant"]): r for r in runs}
    cells: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [by[(k, variant)] for k in repeats]
        cell: dict[str, Any] = {"outcome": mine[-1]["outcome"]}
        for field in ("redis_us", "redis_cpu_us", "client_us"):
            values = [r[field] for r in mine]
            paired = [ratio(by[(k, variant)][field], by[(k, BASELINE)][field]) for k in repeats]
            cell[field] = round(median(values), 2)
            cell[field + "_min_max"] = [min(values), max(values)]
            cell[field.replace("_us", "_ratio")] = {
                "median": round(median(paired), 3), "min_max": [round(min(paired), 3), round(max(paired), 3)]
            }  # fmt: skip
        cell["inner_commands"] = round(sum(mine[-1]["inner_calls_per_decision"].values()), 2)
        cells[variant] = cell
    for variant in VARIANTS:  # Redis µs per decision in each inner command, and in the script itself (Lua)
        mine = [by[(k, variant)] for k in repeats]
        used = {n for r in mine for n in r["inner_us_per_decision"]}
        split = {n: round(median([r["inner_us_per_decision"].get(n, 0.0) for r in mine]), 2) for n in used}
        lua = [r["redis_us"] - sum(r["inner_us_per_decision"].values()) for r in mine]
        cells[variant]["inner_us"] = {**split, "(Lua, outside the commands)": round(median(lua), 2)}
    inner = {v: by[(repeats[-1], v)]["inner_calls_per_decision"] for v in VARIANTS}
    names = sorted({n for v in inner.values() for n in v}, key=lambda n: (-max(v.get(n, 0) for v in inner.values()), n))
    return {"variants": cells, "inner_commands": inner, "inner_order": names[:SHOWN_COMMANDS]}


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    one_repeat(client, min(p["agents"], 20), BLOCK, -1)  # untimed warm-up: scripts loaded
    runs: list[dict[str, Any]] = []
    for repeat in range(p["repeats"]):
        mine = one_repeat(client, p["agents"], p["decisions"], repeat)
        runs += mine
        base = next(r for r in mine if r["variant"] == BASELINE)
        print("  policies: repeat " + str(repeat) + ": " + ", ".join(
            f"{r['variant']} {r['redis_us']:.1f} µs ({ratio(r['redis_us'], base['redis_us']):.2f})" for r in mine
        ), flush=True)  # fmt: skip
    client.flushdb()
    client.close()
    summary = summarize(runs)
    everything = summary["variants"]["all"]
    return {
        "params": p,
        "summary": summary,
        "runs": runs,
        "verdict": {
            "all / none Redis µs per decision": everything["redis_ratio"]["median"],
            "all / none Redis CPU": everything["redis_cpu_ratio"]["median"],
            "≤ 1.3×": everything["redis_ratio"]["median"] <= 1.3,
        },
    }


def _paired(r: dict[str, Any]) -> str:
    return f"{r['median']:.2f} ({r['min_max'][0]:.2f}–{r['min_max'][1]:.2f})"


def render(result: dict[str, Any]) -> str:
    summary = result["summary"]
    rows = []
    for variant in VARIANTS:
        c = summary["variants"][variant]
        bold = "**" if variant == "all" else ""
        rows.append([
            f"{bold}{variant}{bold}", f"{c['redis_us']:.1f}", f"{bold}{_paired(c['redis_ratio'])}{bold}",
            f"{c['redis_cpu_us']:.1f}", _paired(c["redis_cpu_ratio"]), f"{c['client_us']:.0f}",
            _paired(c["client_ratio"]), f"{c['inner_commands']:.2f}", c["outcome"],
        ])  # fmt: skip
    table = markdown_table(
        ["account", "Redis µs / decision", "/ none (paired)", "Redis CPU µs", "/ none", "client µs", "/ none",
         "inner commands / decision", "checked outcome (agents × channel set: counts)"],
        rows,
    )  # fmt: skip
    inner = summary["inner_commands"]
    inner_rows = [[f"`{n}`", *(f"{inner[v].get(n, 0):.2f}" for v in VARIANTS)] for n in summary["inner_order"]]
    inner_table = markdown_table(["inner command / decision", *VARIANTS], inner_rows)
    p = result["params"]
    return (
        f"{table}\n\n{p['agents']} agents per account, {p['decisions']:,} decisions per account and repeat, "
        f"{p['repeats']} repeat(s); medians with (min–max) over the repeats.\n\n"
        f"Inner commands per decision (last repeat; the script's own commands, `INFO commandstats`):\n\n{inner_table}"
        f"\n\n{_split_table(summary)}"
    ) + (f"\n\n{FINDINGS.read_text().strip()}" if FINDINGS.is_file() else "")


def _split_table(summary: dict[str, Any]) -> str:
    """Where the Redis time goes: µs per decision in each inner command (``INFO commandstats``), none vs all."""
    none, every = summary["variants"][BASELINE]["inner_us"], summary["variants"]["all"]["inner_us"]
    names = sorted(set(none) | set(every), key=lambda n: -abs(every.get(n, 0.0) - none.get(n, 0.0)))
    rows = [[f"`{n}`" if not n.startswith("(") else n, f"{none.get(n, 0.0):.1f}", f"{every.get(n, 0.0):.1f}",
             f"{every.get(n, 0.0) - none.get(n, 0.0):+.1f}"] for n in names]  # fmt: skip
    rows.append(["total (EVALSHA)", f"{sum(none.values()):.1f}", f"{sum(every.values()):.1f}",
                 f"{sum(every.values()) - sum(none.values()):+.1f}"])  # fmt: skip
    header = ["Redis µs per decision in", "none", "all", "all − none"]
    return "Where the Redis time goes (medians over the repeats; `INFO commandstats` µs):\n\n" + markdown_table(
        header, rows
    )
