"""Bounded Redis calls at scale: the longest single call of each operation that used to grow with a
team's or a stream's size, by Redis's own clock, against the one call it used to be.

    python -m bench --only bounded [--quick]
    BENCH_BOUNDED_TEAM=10000 BENCH_BOUNDED_STREAM=100000 BENCH_BOUNDED_ONLINE=100000 python -m bench --only bounded

Sizes: ``--quick`` (the default for a smoke run) a team of 1,000, a stream of 10,000 entries and an
Online set of 10,000; a full run (or the environment variables above) 10,000 / 100,000 / 100,000, the
sizes of issue 13. One account on the throwaway server; the team's members are all Online. Every
operation runs after a ``SLOWLOG RESET`` with ``slowlog-log-slower-than`` = 500 µs (the baselines,
single commands, with 0): every call that long is logged with its duration by Redis. Not 0 for ours:
Redis 7 also logs the commands run inside scripts, and logging hundreds of thousands of them slowed
the scripts themselves several-fold. An operation's **longest call** is the largest SLOWLOG entry it
left ("< 0.5" when none was that long), **calls > 5 ms** how many entries were longer than 5 ms,
**commands** the calls ``INFO commandstats`` counted meanwhile:

- **set_team**: ``Engine.set_team`` with every member (500 per call, staged and swapped in).
- **bulk job**: a 10,000-ticket ``--unassigned`` job to that team through an in-process RQ worker
  (``start_bulk_assign`` + ``make_worker(...).work(burst=True)``, RQ's own commands included).
- **events**: ``Queries.iter_events`` over the whole account stream (XRANGE pages of 500).
- **report**: ``load_report`` of a day whose busiest hour had the whole Online set.

The **baseline** of each, measured in the same run on the same data, is the single call the old code
made: ``ZINTERSTORE`` of the Online zset and the team (what every bulk batch did), ``XRANGE - +`` of
the whole stream, ``SMEMBERS`` of the Online set. The target (issue 13): no call over 5 ms.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from bench.common import command_calls, markdown_table, ratio
from schemas.common import AgentStatus, Role
from schemas.events import AgentStatusChanged
from schemas.inbound import BulkAssignRequest
from worker.core.bulk import start_bulk_assign
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.reports import load_report
from worker.runtime.runner import make_worker

TITLE = "Bounded Redis calls at scale"
ACCOUNT = "big"
TEAM = "everyone"
TICKETS = 10_000
SLOWLOG_LEN = 100_000
THRESHOLD_US = 500
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def params(quick: bool) -> dict[str, int]:
    small = {"team": 1_000, "stream": 10_000, "online": 10_000}
    full = {"team": 10_000, "stream": 100_000, "online": 100_000}
    sizes = small if quick else full
    return {name: int(os.environ.get(f"BENCH_BOUNDED_{name.upper()}", size)) for name, size in sizes.items()}


def longest(client: redis.Redis, work: Callable[[], Any], threshold_us: int = THRESHOLD_US) -> dict[str, Any]:
    """Run ``work`` with calls of ``threshold_us`` or more logged; its longest command by Redis's clock,
    how many commands ran, and how many logged calls took over 5 ms."""
    client.config_set("slowlog-log-slower-than", threshold_us)
    client.slowlog_reset()
    calls_before = sum(command_calls(client).values())
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    commands = sum(command_calls(client).values()) - calls_before
    entries = client.slowlog_get(SLOWLOG_LEN)
    top: dict[str, Any] = {"us": 0, "command": ""}
    over = 0
    for entry in entries:
        command = entry["command"]
        shown = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
        if shown.lower().startswith("slowlog"):
            continue
        over += int(entry["duration"]) > 5_000
        if int(entry["duration"]) > top["us"]:
            top = {"us": int(entry["duration"]), "command": shown[:60]}
    return {
        "longest_us": top["us"],
        "command": top["command"],
        "commands": commands,
        "over_5ms": over,
        "seconds": round(seconds, 2),
    }


def setup(client: redis.Redis, engine: Engine, team: int) -> list[str]:
    """``team`` agents, all Online (written directly, pipelined: setting up is not measured)."""
    keys = engine.keys(ACCOUNT)
    engine.upsert_user(ACCOUNT, "boss", Role.OWNER, NOW)
    members = [f"a{i:06d}" for i in range(team)]
    pipe = client.pipeline(transaction=False)
    for start in range(0, team, 1_000):
        chunk = members[start : start + 1_000]
        pipe.hset(keys.users, mapping=dict.fromkeys(chunk, Role.AGENT.value))
        pipe.zadd(keys.online, {m: start + i + 1 for i, m in enumerate(chunk)})
        pipe.hset(keys.places, mapping={m: start + i + 1 for i, m in enumerate(chunk)})
    pipe.set(keys.seq, team)
    pipe.execute()
    return members


def waiting_tickets(client: redis.Redis, engine: Engine) -> None:
    """``TICKETS`` tickets decided with round robin off: they wait in the unassigned set."""
    from producers.queue import build_ticket

    engine.set_round_robin(ACCOUNT, False, "boss", NOW)
    for i in range(TICKETS):
        ticket = build_ticket(
            {"account_id": ACCOUNT, "ticket_id": f"t{i}", "channel": "email", "created_at": NOW.isoformat()}, now=NOW
        )
        engine.decide(ticket, NOW)
    engine.set_round_robin(ACCOUNT, True, "boss", NOW)


def fill_stream(client: redis.Redis, keys: AccountKeys, entries: int) -> None:
    data = AgentStatusChanged(
        account_id=ACCOUNT, occurred_at=NOW, user_id="a000001", status=AgentStatus.ONLINE, actor_id=None
    ).model_dump_json()
    missing = entries - int(client.xlen(keys.events))
    for start in range(0, max(missing, 0), 1_000):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(1_000, missing - start)):
            pipe.xadd(keys.events, {"type": "agent.status_changed", "data": data})
        pipe.execute()


def fill_online(client: redis.Redis, keys: AccountKeys, online: int) -> None:
    key = keys.stats_online(NOW.strftime("%Y-%m-%d"), NOW.strftime("%H"))
    for start in range(0, online, 1_000):
        client.sadd(key, *(f"o{i:06d}" for i in range(start, min(online, start + 1_000))))
    client.hset(keys.stats(NOW.strftime("%Y-%m-%d")), f"arrived:{NOW:%H}:email", 5)


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    saved = client.config_get("slowlog-*")
    client.config_set("slowlog-max-len", SLOWLOG_LEN)
    client.config_set("slowlog-log-slower-than", THRESHOLD_US)
    try:
        return _measure(client, p)
    finally:
        client.config_set("slowlog-log-slower-than", str(saved["slowlog-log-slower-than"]))
        client.config_set("slowlog-max-len", str(saved["slowlog-max-len"]))
        client.close()


def _measure(client: redis.Redis, p: dict[str, int]) -> dict[str, Any]:
    engine = Engine(client)
    keys = engine.keys(ACCOUNT)
    members = setup(client, engine, p["team"])
    ours: dict[str, dict[str, Any]] = {}
    ours["set_team"] = longest(client, lambda: engine.set_team(ACCOUNT, TEAM, members, "boss", NOW))
    waiting_tickets(client, engine)
    baseline = {"bulk job": longest(client, lambda: client.zinterstore("scratch", [keys.online, keys.team(TEAM)]), 0)}
    client.delete("scratch")
    request = BulkAssignRequest(account_id=ACCOUNT, team_id=TEAM, actor_id="boss", unassigned=True)

    def bulk_job() -> None:
        start_bulk_assign(client, request)
        make_worker(client).work(burst=True)

    ours["bulk job"] = longest(client, bulk_job)
    assert client.zcard(keys.unassigned) == 0, "the bulk job left tickets unassigned"
    fill_stream(client, keys, p["stream"])
    read: list[int] = []
    ours["events"] = longest(client, lambda: read.append(sum(1 for _ in Queries(client).iter_events(ACCOUNT))))
    assert read == [int(client.xlen(keys.events))], "events: not every entry was read"
    baseline["events"] = longest(client, lambda: client.xrange(keys.events, "-", "+"), 0)
    fill_online(client, keys, p["online"])
    day = NOW.date()
    ours["report"] = longest(client, lambda: load_report(client, ACCOUNT, day, day, now=NOW))
    online_key = keys.stats_online(NOW.strftime("%Y-%m-%d"), NOW.strftime("%H"))
    baseline["report"] = longest(client, lambda: client.smembers(online_key), 0)
    baseline["set_team"] = {"longest_us": 0, "command": "(the old set_team-5.lua: one call; not re-run)"}
    worst = max(row["longest_us"] for row in ours.values())
    return {
        "params": p,
        "ours": ours,
        "baseline": baseline,
        "verdict": {"longest call ms": round(worst / 1000, 3), "≤ 5 ms": worst <= 5_000},
    }


def render(result: dict[str, Any]) -> str:
    p = result["params"]
    rows = []
    for name, row in result["ours"].items():
        base = result["baseline"].get(name, {})
        base_us = base.get("longest_us", 0)
        shown = f"{row['longest_us'] / 1000:.2f}" if row["longest_us"] else f"< {THRESHOLD_US / 1000}"
        rows.append(
            [
                name,
                shown,
                f"`{row['command']}`" if row["command"] else "–",
                f"{row['commands']:,}",
                f"{row['over_5ms']:,}",
                f"{base_us / 1000:.2f} (`{base.get('command', '')}`)" if base_us else "–",
                f"{ratio(max(row['longest_us'], 1), base_us):.3f}" if base_us and row["longest_us"] else "–",
            ]
        )
    header = ["operation", "longest call ms", "that call", "commands", "calls > 5 ms", "old single call ms"]
    header.append("longest / old")
    sizes = (
        f"Team of {p['team']:,} (all Online), {TICKETS:,} tickets, stream of {p['stream']:,} entries, "
        f"Online set of {p['online']:,}."
    )
    return sizes + "\n\n" + markdown_table(header, rows)
