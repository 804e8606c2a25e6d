"""The report's capacity and waiting-queue figures, from data the real engine wrote (issue 15).

The morning in tests/support/release_day.py runs capacity, auto-assign, decisions, closes and releases
through ``Engine`` and ``run_release`` at fixed times; every expected number is worked out there and in
the comments here. Runs on a real Redis and on fakeredis.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from schemas.common import AgentStatus, Role
from schemas.report import CapacityReport, Report
from tests.support import replies
from tests.support.release_day import ACCOUNT, DAY, START, at, decide, run_release_day
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.reports import format_text, load_report, render_html
from worker.reports.buckets import estimate_percentile

REPORTED = START + timedelta(hours=1)
"""11:00: the report's clock (hours 00..11 of the day are shown)."""
KEYS = AccountKeys.for_account(ACCOUNT)


@pytest.fixture
def report(engine: Engine, client: redis.Redis) -> Report:
    run_release_day(engine)
    return load_report(client, ACCOUNT, DAY, DAY, now=REPORTED)


def section(text: str, title: str) -> list[str]:
    """The lines of one section of the terminal report (from its title to the blank line after it)."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def h2s(page: str) -> list[str]:
    return [h.text or "" for h in ET.fromstring(page).iter("h2")]


# --- the waiting time and the counts -----------------------------------------------------------------


def test_the_writers_file_what_the_report_reads(report: Report, client: redis.Redis) -> None:
    """The day's stats hash as docs/STATS.md describes it, straight from the Lua calls."""
    raw = {k.decode(): v.decode() for k, v in replies.hgetall(client, KEYS.stats(DAY.isoformat())).items()}
    assert {k: v for k, v in raw.items() if k.startswith("waited")} == {
        "waited:60": "10",
        "waited:300": "2",
        "waited_sum": "730",  # 10 x 30 + 210 + 220
        "waited_count": "12",
        "waited_max": "220",
    }
    assert raw["decided:assigned:waiting_queue"] == "12"
    assert raw["decided:unassigned:all_agents_at_capacity"] == "13"
    assert raw["decided:unassigned:older_tickets_waiting"] == "1"
    assert report.warnings == []  # every new field is read, none set aside


def test_waiting_time_of_released_tickets_is_estimated_like_ttfr(report: Report) -> None:
    # buckets 60: 10, 300: 2 (n = 12)
    # median: rank 6, in (0, 60] (ranks 1-10): 0 + 6/10 x 60 = 36 s
    # p90: rank 10.8, past the 10 of (0, 60] and the empty (60, 120]: in (120, 300] (ranks 11-12):
    #      120 + (10.8 - 10)/2 x 180 = 192 s
    # mean: 730 / 12 = 60.833 s (exact)
    waited = report.capacity.waited
    assert (waited.count, waited.median_seconds, waited.p90_seconds, waited.mean_seconds) == (12, 36, 192, 60.833)
    assert {b.upper_seconds: b.count for b in waited.buckets if b.count} == {60: 10, 300: 2}
    assert [b.upper_seconds for b in waited.buckets] == [b.upper_seconds for b in report.ttfr.overall.buckets]
    # the one estimator of the report, on the same histogram
    pairs = [(math.inf if b.upper_seconds is None else b.upper_seconds, b.count) for b in waited.buckets]
    assert estimate_percentile(pairs, 0.5) == 36
    assert estimate_percentile(pairs, 0.9) == pytest.approx(192)


def test_released_and_at_capacity_counts_over_the_period(report: Report) -> None:
    capacity = report.capacity
    assert (capacity.released, capacity.all_agents_at_capacity, capacity.older_tickets_waiting) == (12, 13, 1)
    # released tickets count as the agents' assignments (assigned:<agent>): 1 by round robin + 5 + 1 each
    assert [(a.agent_id, a.assigned) for a in report.assignments.agents] == [("ana", 7), ("ben", 7)]


def test_the_counts_are_of_the_period_only(engine: Engine, client: redis.Redis) -> None:
    run_release_day(engine)
    next_day = DAY + timedelta(days=1)
    later = load_report(client, ACCOUNT, next_day, next_day, now=REPORTED + timedelta(days=1))
    capacity = later.capacity
    assert (capacity.released, capacity.all_agents_at_capacity, capacity.older_tickets_waiting) == (0, 0, 0)
    assert capacity.waited.count == 0 and capacity.waited.median_seconds is None
    # the live values are the same whatever the period: they are now
    assert [(a.agent_id, a.load) for a in capacity.agents] == [("ana", 6), ("ben", 6), ("cara", 0)]


# --- load and capacity now ---------------------------------------------------------------------------


def test_load_and_capacity_per_agent_now(report: Report) -> None:
    capacity = report.capacity
    assert capacity.account_capacity == 6 and capacity.in_use is True
    assert [(a.agent_id, a.load, a.capacity, a.override) for a in capacity.agents] == [
        ("ana", 6, 6, False),  # 1 + 5 released - t1 closed + t13 released
        ("ben", 6, 6, False),
        ("cara", 0, 2, True),  # Offline all along: listed for her own capacity
    ]


def test_the_terminal_shows_load_and_capacity_next_to_the_assignments(report: Report) -> None:
    assert section(format_text(report), "Tickets assigned per agent") == [
        "Tickets assigned per agent",
        "  AGENT                ASSIGNED  SHARE  REPLIES    MEDIAN       P90  LOAD NOW  CAP NOW",
        "  ana                         7  50.0%        0         -         -         6        6",
        "  ben                         7  50.0%        0         -         -         6        6",
        "  cara                        0   0.0%                  -         -         0       2*",
        "  1 agent(s) hold open tickets or their own capacity but got no ticket and were not seen Online in the "
        "period (listed with 0)",
        "  (LOAD NOW: open tickets assigned now; CAP NOW: capacity now, * the agent's own; not per period)",
        "  total 14 over 2 agent(s) with >= 1 assignment (agents with none are not counted): min 7, max 7, "
        "spread (max - min) 0, max/mean 1.00",
    ]


def test_the_terminal_section_of_the_waiting_queue(report: Report) -> None:
    assert section(format_text(report), "Capacity and the waiting queue") == [
        "Capacity and the waiting queue (capacity and load are now; the counts are decisions made in the period)",
        "  capacity now: 6 per agent (the account's), 1 agent(s) with their own (*); load now: 12 open ticket(s)",
        "  released from the waiting queue                     12",
        "  left waiting: every Online agent at capacity        13",
        "  left waiting behind older waiting tickets            1",
        "  Waiting time of the released tickets, arrival to assignment (filed when released; median and p90 "
        "estimated from buckets, mean exact)",
        "                               TICKETS    MEDIAN       P90      MEAN",
        "  released                          12       36s     3m12s     1m01s",
    ]


# --- the new reasons in the decisions and the queue ----------------------------------------------------


def test_the_new_reasons_show_in_the_decisions_and_the_unassigned_queue(report: Report) -> None:
    assert [(d.outcome, d.reason, d.count) for d in report.decisions] == [
        ("unassigned", "all_agents_at_capacity", 13),
        ("assigned", "waiting_queue", 12),
        ("assigned", "round_robin", 2),
        ("unassigned", "older_tickets_waiting", 1),
    ]
    queue = report.unassigned
    assert queue.series == ["email:all_agents_at_capacity", "email:older_tickets_waiting"]
    ten = next(row for row in queue.hours if row.hour == datetime(2026, 11, 24, 10, tzinfo=UTC))
    # t3..t12 waited at once (10), drained by the release; t16 and t15 wait at the end of the hour
    assert ten.depth == {"email:all_agents_at_capacity": 1, "email:older_tickets_waiting": 1}
    assert ten.peak["email:all_agents_at_capacity"] == 10 and ten.peak_total == 10
    assert queue.current == {"email:all_agents_at_capacity": 1, "email:older_tickets_waiting": 1}
    assert [(s.hour, s.rules) for s in queue.spikes] == [(ten.hour, ["level"])]
    text = format_text(report)
    assert "2026-11-24 10:00  2026-11-24 10:00      2     10  email:all_agents_at_capacity=1 " in text
    assert "  unassigned   all_agents_at_capacity        13" in text


def test_the_page_has_the_section_the_columns_and_the_charts(report: Report) -> None:
    page = render_html(report)
    root = ET.fromstring(page)  # still well-formed XML
    assert h2s(page) == [
        "Tickets assigned per agent",
        "Time to first reply",
        "Capacity and the waiting queue",
        "Unassigned queue over time",
        "Busiest hours and who was Online",
        "Decisions (made in the period)",
    ]
    agents = next(t for t in root.iter("table") if [th.text for th in t.iter("th")][0] == "agent")
    assert [th.text for th in agents.iter("th")][-2:] == ["load now", "capacity now"]
    rows = [[td.text for td in tr.iter("td")] for tr in agents.iter("tr")][1:]
    assert [row[0:2] + row[-2:] for row in rows] == [
        ["ana", "7", "6", "6"],
        ["ben", "7", "6", "6"],
        ["cara", "0", "0", "2*"],
    ]
    charts = {svg.get("aria-label"): svg for svg in root.iter("svg")}
    waited = charts["Waiting time of released tickets, arrival to assignment"]
    bars = [title.text for rect in waited.iter("rect") for title in rect.iter("title")]
    assert "released tickets \u22641m: 10 (83.3%)" in bars and "released tickets \u22645m: 2 (16.7%)" in bars
    queue = next(svg for label, svg in charts.items() if label and label.startswith("Unassigned depth"))
    legend = [t.text for t in queue.iter("text")]
    assert "email:all_agents_at_capacity" in legend and "email:older_tickets_waiting" in legend
    assert "all_agents_at_capacity" in page.split("Decisions (made in the period)")[1]


# --- with none of it in use, the report reads as before --------------------------------------------------


def test_without_capacity_the_report_reads_exactly_as_before(engine: Engine, client: redis.Redis) -> None:
    """No capacity and nothing released: load is tracked (the JSON has it) but the text and the page are
    what they were before capacity existed: the same as a document with no capacity figure at all."""
    engine.upsert_user(ACCOUNT, "max", Role.MANAGER, at(0))
    engine.upsert_user(ACCOUNT, "ana", Role.AGENT, at(0))
    engine.set_status(ACCOUNT, "ana", AgentStatus.ONLINE, "ana", at(0))
    engine.set_round_robin(ACCOUNT, True, "max", at(0))
    assert [decide(engine, f"t{n}", 10 * n) for n in range(3)] == ["round_robin"] * 3
    engine.close_ticket(ACCOUNT, "t0", at(60))
    report = load_report(client, ACCOUNT, DAY, DAY, now=REPORTED)
    assert report.capacity.in_use is False and report.capacity.account_capacity is None
    assert [(a.agent_id, a.load, a.capacity) for a in report.capacity.agents] == [("ana", 2, None)]
    before = report.model_copy(update={"capacity": CapacityReport()})
    assert format_text(report) == format_text(before)
    assert render_html(report) == render_html(before)
    text = format_text(report)
    assert "  AGENT                ASSIGNED  SHARE  REPLIES    MEDIAN       P90\n" in text
    assert "LOAD NOW" not in text and "Capacity and the waiting queue" not in text
    assert "Capacity and the waiting queue" not in h2s(render_html(report))


def test_a_capacity_with_nothing_released_shows_the_section_with_zeros(engine: Engine, client: redis.Redis) -> None:
    engine.upsert_user(ACCOUNT, "max", Role.MANAGER, at(0))
    engine.upsert_user(ACCOUNT, "ana", Role.AGENT, at(0))
    engine.set_status(ACCOUNT, "ana", AgentStatus.ONLINE, "ana", at(0))
    engine.set_round_robin(ACCOUNT, True, "max", at(0))
    engine.set_capacity(ACCOUNT, 3, "max", at(0))
    assert decide(engine, "t1", 5) == "round_robin"
    text = format_text(load_report(client, ACCOUNT, DAY, DAY, now=REPORTED))
    assert section(text, "Capacity and the waiting queue")[1:6] == [
        "  capacity now: 3 per agent (the account's), 0 agent(s) with their own (*); load now: 1 open ticket(s)",
        "  released from the waiting queue                      0",
        "  left waiting: every Online agent at capacity         0",
        "  left waiting behind older waiting tickets            0",
        "  Waiting time of the released tickets, arrival to assignment (filed when released; median and p90 "
        "estimated from buckets, mean exact)",
    ]
    assert "  released                           0         -         -         -" in text
    assert "  ana                         1 100.0%        0         -         -         1        3" in text


def test_releases_are_shown_after_the_capacity_was_cleared(engine: Engine, client: redis.Redis) -> None:
    """The period's releases stay in the report; load and capacity columns go with the capacity."""
    run_release_day(engine)
    engine.set_auto_assign(ACCOUNT, False, "max", REPORTED)
    engine.set_capacity(ACCOUNT, None, "max", REPORTED)
    engine.set_capacity(ACCOUNT, None, "max", REPORTED, agent_id="cara")
    report = load_report(client, ACCOUNT, DAY, DAY, now=REPORTED)
    assert report.capacity.in_use is False and report.capacity.released == 12
    text = format_text(report)
    assert "LOAD NOW" not in text
    assert "  capacity now: not set, 0 agent(s) with their own (*); load now: 12 open ticket(s)" in text
    assert "  released                          12       36s     3m12s     1m01s" in text


# --- reading: bounded, lenient ---------------------------------------------------------------------------


def test_load_and_capacity_are_read_in_pages(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """2,500 agents holding tickets: the hashes are read with HSCAN pages, never one HGETALL; the terminal
    lists 100 of those outside the table by name, the JSON all of them."""
    agents = [f"agent{n:04d}" for n in range(2_500)]
    client.hset(KEYS.load, mapping={agent: 1 for agent in agents})
    client.hset(KEYS.capacity, mapping={"*": 3, "agent0007": 1})
    for kind in {type(client), type(client.pipeline())}:  # fakeredis pipelines are redis-py's
        whole = kind.hgetall

        def hgetall(self: redis.Redis, name: str, *args: Any, _whole: Any = whole, **kwargs: Any) -> Any:
            if name in (KEYS.load, KEYS.capacity):
                pytest.fail(f"read all of {name} at once")
            return _whole(self, name, *args, **kwargs)

        monkeypatch.setattr(kind, "hgetall", hgetall)
    report = load_report(client, ACCOUNT, DAY, DAY, now=REPORTED)
    assert len(report.capacity.agents) == 2_500 and report.capacity.account_capacity == 3
    assert report.capacity.agents[7].model_dump() == {
        "agent_id": "agent0007",
        "load": 1,
        "capacity": 1,
        "override": True,
    }
    text = format_text(report)
    assert "  agent0099                   0   0.0%                  -         -         1        3" in text
    assert "agent0100 " not in text and "  ... and 2,400 more (see --json)" in text
    assert "2500 agent(s) hold open tickets or their own capacity" in text


def test_unreadable_values_are_warnings_not_failures(client: redis.Redis) -> None:
    client.hset(KEYS.load, mapping={"ana": "lots", "ben": 2})
    client.hset(KEYS.capacity, mapping={"*": 3})
    client.hset(KEYS.stats(DAY.isoformat()), mapping={"waited:soon": 1, "waited_sum:x": 3, "waited:60": 2})
    report = load_report(client, ACCOUNT, DAY, DAY, now=REPORTED)
    assert [(a.agent_id, a.load) for a in report.capacity.agents] == [("ben", 2)]
    assert report.capacity.waited.count == 2
    assert report.warnings == [
        "ignored 2 unrecognised stats field(s), e.g. 2026-11-24 waited:soon=1",
        "ignored 1 unreadable load or capacity value(s), e.g. load ana=lots",
    ]
