"""Memory: Redis bytes per decided ticket while its records are kept, and after retention.

    python -m bench --only memory [--quick]

One account (5 Online agents, round robin on, no office hours: every ticket assigned). Warm-up
decisions first (so the account's rotation, counts, stats and uq-depth keys exist), then both event
streams are emptied (``XTRIM MAXLEN 0``) and ``INFO memory used_memory`` is read (M0). Then:

1. ``tickets`` decisions through ``Engine.decide`` → M1. **retained** = (M1 − M0) / tickets: the
   ticket record plus the four stream entries (``ticket.assigned`` and the toast, each in the
   account stream and the partition stream) and the per-ticket share of everything else.
2. the ticket records deleted — what ``HELPDESK_RR_RECORD_TTL_SECONDS`` expiry does — → M2.
   **records expired** = (M2 − M0) / tickets: the events still in the streams.
3. the streams trimmed (``XTRIM MAXLEN 0``; in production: the account stream's ``MAXLEN ~``
   and the maintenance trim of the partition stream) → M3. **after retention** = (M3 − M0) / tickets.

The **floor** (same run, same count, same throwaway Redis): a trivial script writing per ticket a
3-field hash and one small ``XADD`` — the least a "record + one event" design keeps. ``MEMORY
USAGE`` of one ticket record and of each stream (bytes per entry) break the retained figure down.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench.common import markdown_table, ratio
from bench.inprocess import ACCOUNT, CHANNELS, setup_account
from schemas.inbound import TicketCreated
from worker.core.engine import Engine

NAME = "memory"
TITLE = "Memory per decided ticket"

FLOOR_SCRIPT = """
for i = 1, #ARGV do
  redis.call('HSET', KEYS[2] .. ARGV[i], 'status', 'assigned', 'agent_id', 'agent-1',
             'decided_at', '2026-11-24T12:00:00.000Z')
  redis.call('XADD', KEYS[1], '*', 'type', 'ticket.assigned', 'data', ARGV[i])
end
return #ARGV
"""


def params(quick: bool) -> dict[str, Any]:
    return {"tickets": 2000 if quick else 20_000}


def used(client: redis.Redis) -> int:
    time.sleep(0.2)
    return int(client.info("memory")["used_memory"])


def events(account: str, ticket_ids: list[str]) -> list[TicketCreated]:
    now = datetime.now(UTC)
    return [
        TicketCreated(account_id=account, ticket_id=t, channel=CHANNELS[i % 3], created_at=now - timedelta(seconds=1))
        for i, t in enumerate(ticket_ids)
    ]


def ours(client: redis.Redis, n: int) -> dict[str, Any]:
    client.flushdb()
    engine = setup_account(client)
    keys = engine.keys(ACCOUNT)
    now = datetime.now(UTC)
    for event in events(ACCOUNT, [f"warm{i}" for i in range(50)]):
        engine.decide(event, now)
    client.delete(*[keys.ticket(f"warm{i}") for i in range(50)])
    client.xtrim(keys.events, maxlen=0, approximate=False)
    client.xtrim(keys.partition_events, maxlen=0, approximate=False)
    m0 = used(client)
    ids = [f"t{i:07d}" for i in range(n)]
    for event in events(ACCOUNT, ids):
        engine.decide(event, now)
    m1 = used(client)
    record = client.memory_usage(keys.ticket(ids[-1]), samples=0) or 0
    stream_bytes = {
        "account": (client.memory_usage(keys.events, samples=0) or 0, client.xlen(keys.events)),
        "partition": (client.memory_usage(keys.partition_events, samples=0) or 0, client.xlen(keys.partition_events)),
    }
    pipe = client.pipeline(transaction=False)
    for i, ticket in enumerate(ids):
        pipe.delete(keys.ticket(ticket))
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    m2 = used(client)
    client.xtrim(keys.events, maxlen=0, approximate=False)
    client.xtrim(keys.partition_events, maxlen=0, approximate=False)
    m3 = used(client)
    return {
        "tickets": n,
        "retained_bytes_per_ticket": round((m1 - m0) / n, 1),
        "records_expired_bytes_per_ticket": round((m2 - m0) / n, 1),
        "after_retention_bytes_per_ticket": round((m3 - m0) / n, 1),
        "record_memory_usage_bytes": record,
        "stream_bytes_per_entry": {
            name: round(size / max(count, 1), 1) for name, (size, count) in stream_bytes.items()
        },
        "stream_entries_per_ticket": {name: round(count / n, 2) for name, (_, count) in stream_bytes.items()},
        "used_memory": [m0, m1, m2, m3],
    }


def floor(client: redis.Redis, n: int) -> dict[str, Any]:
    client.flushdb()
    engine = Engine(client)
    keys = engine.keys(ACCOUNT)
    script = client.register_script(FLOOR_SCRIPT)
    prefix = keys.ticket("")
    script(keys=[keys.events, prefix], args=["warm"])
    client.delete(keys.ticket("warm"))
    client.xtrim(keys.events, maxlen=0, approximate=False)
    m0 = used(client)
    ids = [f"t{i:07d}" for i in range(n)]
    for start in range(0, n, 500):
        script(keys=[keys.events, prefix], args=ids[start : start + 500])
    m1 = used(client)
    pipe = client.pipeline(transaction=False)
    for ticket in ids:
        pipe.delete(keys.ticket(ticket))
    pipe.execute()
    m2 = used(client)
    client.xtrim(keys.events, maxlen=0, approximate=False)
    m3 = used(client)
    return {
        "tickets": n,
        "retained_bytes_per_ticket": round((m1 - m0) / n, 1),
        "records_expired_bytes_per_ticket": round((m2 - m0) / n, 1),
        "after_retention_bytes_per_ticket": round((m3 - m0) / n, 1),
        "used_memory": [m0, m1, m2, m3],
    }


def run(url: str, quick: bool) -> dict[str, Any]:
    p = params(quick)
    client = redis.Redis.from_url(url)
    floor(client, 100)  # warm-up
    f = floor(client, p["tickets"])
    o = ours(client, p["tickets"])
    client.flushdb()
    client.close()
    summary = {
        "ours": o,
        "floor": f,
        "retained_ours_over_floor": round(ratio(o["retained_bytes_per_ticket"], f["retained_bytes_per_ticket"]), 2),
        "records_expired_ours_over_floor": round(
            ratio(o["records_expired_bytes_per_ticket"], f["records_expired_bytes_per_ticket"]), 2
        ),
    }
    print(f"  {NAME}: ours {o['retained_bytes_per_ticket']} B/ticket retained, floor {f['retained_bytes_per_ticket']}")
    return {"params": p, "floor_script": FLOOR_SCRIPT.strip(), "summary": summary, "verdict": {}}


def render(result: dict[str, Any]) -> str:
    s = result["summary"]
    o, f = s["ours"], s["floor"]
    rows = [
        [
            "retained (record + events + share of the rest)",
            f"{f['retained_bytes_per_ticket']:,.0f}",
            f"{o['retained_bytes_per_ticket']:,.0f}",
            f"**{s['retained_ours_over_floor']:.2f}**",
        ],
        [
            "records expired (events still in the streams)",
            f"{f['records_expired_bytes_per_ticket']:,.0f}",
            f"{o['records_expired_bytes_per_ticket']:,.0f}",
            f"**{s['records_expired_ours_over_floor']:.2f}**",
        ],
        [
            "after retention (records expired, streams trimmed)",
            f"{f['after_retention_bytes_per_ticket']:,.0f}",
            f"{o['after_retention_bytes_per_ticket']:,.0f}",
            "",
        ],
    ]
    table = markdown_table(
        [f"bytes per ticket ({o['tickets']:,} tickets, `used_memory` deltas)", "floor", "ours", "ours / floor"], rows
    )
    table += (
        f"\n\nBreakdown (ours): one assigned ticket record `MEMORY USAGE` {o['record_memory_usage_bytes']} B; "
        f"stream entries per ticket: account {o['stream_entries_per_ticket']['account']}, partition "
        f"{o['stream_entries_per_ticket']['partition']}; bytes per stream entry: account "
        f"{o['stream_bytes_per_entry']['account']}, partition {o['stream_bytes_per_entry']['partition']}."
    )
    return table
