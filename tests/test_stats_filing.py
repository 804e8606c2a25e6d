"""Figures are filed under when things happened (docs/STATS.md, "Time filing"), through the real Lua calls.

Arrivals go under the hour the ticket was created and a first reply's TTFR under the day the ticket
arrived, whenever a worker gets to them; decisions, assignments, the queue depth and the Online sets
stay under the moment they happened in helpdesk-rr. Each per-day key is kept for the retention counted
from the end of the day it holds. The unassigned set's total peak per hour, and the largest TTFR per day
and dimension, are written in the same calls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from schemas.common import Channel
from schemas.inbound import AgentFirstReply
from tests.support import replies
from tests.support.accounts import TicketFactory, setup_account
from worker.config import Retention
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.reports import load_report

BACKENDS = ("real", "fake", "cluster")

KEYS = AccountKeys.for_account("acme")
CREATED = datetime(2026, 11, 16, 23, 50, tzinfo=UTC)
"""A ticket created late on the 16th..."""
DECIDED = datetime(2026, 11, 17, 0, 20, tzinfo=UTC)
"""...decided after midnight (a backlog, a replay after an outage)."""


def stats(client: redis.Redis, day: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in replies.hgetall(client, KEYS.stats(day)).items()}


def reply(ticket_id: str, replied_at: datetime) -> AgentFirstReply:
    return AgentFirstReply.model_validate(
        {"account_id": "acme", "ticket_id": ticket_id, "agent_id": "ana", "replied_at": replied_at},
        context={"now": replied_at},
    )


def test_a_ticket_decided_after_midnight_is_an_arrival_of_the_day_it_was_created(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="late", channel=Channel.SMS, created_at=CREATED), DECIDED)
    day16, day17 = stats(client, "2026-11-16"), stats(client, "2026-11-17")
    assert day16 == {"arrived:23:sms": "1"}
    assert "arrived:00:sms" not in day17
    # what helpdesk-rr did, and when: the decision and the assignment are the 17th's
    assert day17["decided:assigned:round_robin"] == "1" and day17["assigned:ana"] == "1"
    # the report for the 16th has the arrival, at its hour
    report = load_report(client, "acme", CREATED.date(), CREATED.date(), now=DECIDED)
    assert [(b.hour, b.arrivals) for b in report.busiest_hours] == [(datetime(2026, 11, 16, 23, tzinfo=UTC), 1)]
    # the 16th's key is kept 400 days from the end of the 16th (DECIDED is 20 minutes past it)
    assert 400 * 86400 - 20 * 60 - 5 <= client.ttl(KEYS.stats("2026-11-16")) <= 400 * 86400 - 20 * 60


def test_a_first_reply_is_filed_under_the_day_the_ticket_arrived(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="late", created_at=CREATED), DECIDED)
    replied = CREATED + timedelta(minutes=40)  # 00:30 on the 17th
    assert engine.record_first_reply(reply("late", replied), replied + timedelta(minutes=5)) == (2400, False)
    day16, day17 = stats(client, "2026-11-16"), stats(client, "2026-11-17")
    for dim in ("all", "agent:ana", "channel:email", "rr:on"):
        assert day16[f"ttfr:{dim}:3600"] == "1" and day16[f"ttfr_max:{dim}"] == "2400"
    assert not [name for name in day17 if name.startswith("ttfr")]


def test_the_largest_ttfr_per_day_and_dimension_is_kept(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    created = DECIDED
    for ticket_id, minutes in (("a", 4), ("b", 9), ("c", 2)):
        engine.decide(make_ticket(ticket_id=ticket_id, created_at=created), created)
        engine.record_first_reply(reply(ticket_id, created + timedelta(minutes=minutes)), created + timedelta(hours=1))
    figures = stats(client, "2026-11-17")
    assert figures["ttfr_max:all"] == figures["ttfr_max:agent:ana"] == "540"
    assert figures["ttfr_count:all"] == "3"


def test_a_ticket_older_than_the_retention_files_no_arrival_and_no_ttfr(
    client: redis.Redis, make_ticket: TicketFactory
) -> None:
    engine = Engine(client, Retention(stats_retention_days=2))
    setup_account(engine, online=("ana",))
    old = DECIDED - timedelta(days=5)
    engine.decide(make_ticket(ticket_id="old", created_at=old), DECIDED)
    assert engine.record_first_reply(reply("old", DECIDED), DECIDED) == (5 * 86400, False)
    assert not client.exists(KEYS.stats(old.strftime("%Y-%m-%d")))
    assert stats(client, "2026-11-17")["decided:assigned:round_robin"] == "1"  # the decision is still counted
    assert client.hget(KEYS.ticket("old"), "ttfr") == b"432000"  # and the reply still recorded


def test_the_script_refuses_to_file_a_ttfr_under_another_day(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    """The wrapper reads created_ms before the call; the script checks it (a record replaced meanwhile)."""
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="late", created_at=CREATED), DECIDED)
    day17 = datetime(2026, 11, 17, tzinfo=UTC)
    reply_ms = int(DECIDED.timestamp() * 1000)
    answer = engine.scripts._call(  # the script itself: its own contract
        "record_first_reply",
        [KEYS.ticket("late"), KEYS.users, KEYS.stats("2026-11-17"), KEYS.metrics, KEYS.unanswered_due],
        ["ana", "2026-11-17T00:20:00Z", reply_ms, 86400, int(day17.timestamp() * 1000), reply_ms + 86400_000]
        + ["acme", "late"],
    )
    assert [int(v) for v in answer] == [-1, int(CREATED.timestamp() * 1000)]
    assert client.hget(KEYS.ticket("late"), "ttfr") is None
    assert not [name for name in stats(client, "2026-11-17") if name.startswith("ttfr")]


def test_a_burst_drained_within_the_hour_leaves_its_peak(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",), round_robin=False)
    engine.set_team("acme", "support", ["ana"], "max", DECIDED)
    burst = [f"b{n}" for n in range(5)]
    for ticket_id in burst:
        engine.decide(make_ticket(ticket_id=ticket_id, created_at=DECIDED), DECIDED)
    reply_ = engine.scripts.bulk_assign(KEYS, "support", "job1", burst, 0, DECIDED + timedelta(minutes=30))
    assert reply_.assigned == 5
    figures = stats(client, "2026-11-17")
    assert figures["uq_depth:00:email:round_robin_off"] == "0"
    assert figures["uq_peak:00:email:round_robin_off"] == "5"
    assert figures["uq_peak_total:00"] == "5"
    queue = load_report(client, "acme", DECIDED.date(), DECIDED.date(), now=DECIDED + timedelta(hours=1)).unassigned
    assert (queue.hours[0].total, queue.hours[0].peak_total) == (0, 5)
    assert [(s.hour, s.rules) for s in queue.spikes] == [(datetime(2026, 11, 17, 0, tzinfo=UTC), ["level"])]
