"""The report's reassignment figures, from data the real engine wrote (issue 16): counts by reason, the time a
ticket sat with its previous assignee, reassignment to first reply, and TTFR split by whether the ticket was
reassigned. Real Redis and fakeredis."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import redis

from schemas.common import AgentStatus
from schemas.inbound import AgentFirstReply
from schemas.report import ReassignmentReport, Report
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.reassign import sweep
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.text import text
from worker.reports import format_text, load_report, render_html
from worker.reports.capacity import duration_stats
from worker.reports.reassign import time_rows

KEYS = AccountKeys.for_account("acme")
DAY = NOW.date()


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def reassigning_afternoon(engine: Engine, make_ticket: TicketFactory) -> Report:
    """t1 ana, t2 ben, t3 cara at 15:00. ana goes Offline at +60; t1's customer writes at +120: t1 → ben
    (held 120 s). t2 has no reply by +300: → cara (held 300 s). ben replies to t1 at +180 (TTFR 181 s, 60 s after
    the reassignment); cara to t3 at +30 (TTFR 31 s, never reassigned)."""
    setup_account(engine, online=("ana", "ben", "cara"))
    engine.set_reassign_away("acme", True, 0, "max", NOW)
    engine.set_reassign_unanswered("acme", 300, 1, "max", NOW)
    for ticket_id in ("t1", "t2", "t3"):
        engine.decide(make_ticket(ticket_id=ticket_id, created_at=at(-1)), NOW)
    engine.record_first_reply(AgentFirstReply(account_id="acme", ticket_id="t3", agent_id="cara", replied_at=at(30)),
                              at(30))  # fmt: skip
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", at(60))
    assert engine.customer_reply("acme", "t1", at(120), at(120)).agent_id == "ben"
    engine.record_first_reply(AgentFirstReply(account_id="acme", ticket_id="t1", agent_id="ben", replied_at=at(180)),
                              at(180))  # fmt: skip
    assert sweep(engine, 300) == [("acme", "t2", "cara")]
    return load_report(engine.client, "acme", DAY, DAY, now=at(3600))


def test_the_writers_file_what_the_report_reads(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    reassigning_afternoon(engine, make_ticket)
    raw = {text(k): text(v) for k, v in client.hgetall(KEYS.stats(DAY.isoformat())).items()}
    wanted = ("reassign", "after_reassign", "ttfr:reassigned", "ttfr_count:reassigned")
    assert {k: v for k, v in raw.items() if k.startswith(wanted)} == {
        "reassigned:assignee_away": "1",
        "reassigned:no_first_reply": "1",
        "reassign_held:120": "1",
        "reassign_held:300": "1",
        "reassign_held_sum": "420",
        "reassign_held_count": "2",
        "reassign_held_max": "300",
        "after_reassign:60": "1",
        "after_reassign_sum": "60",
        "after_reassign_count": "1",
        "after_reassign_max": "60",
        "ttfr:reassigned:yes:300": "1",
        "ttfr:reassigned:no:60": "1",
        "ttfr_count:reassigned:yes": "1",
        "ttfr_count:reassigned:no": "1",
    }


def test_the_report_has_a_reassignment_section(engine: Engine, make_ticket: TicketFactory) -> None:
    report = reassigning_afternoon(engine, make_ticket)
    section = report.reassignments
    assert section.by_reason == {"assignee_away": 1, "no_first_reply": 1}
    assert section.to_waiting_queue == {}
    assert section.held is not None and (section.held.count, section.held.mean_seconds) == (2, 210)
    assert section.reply_after is not None and section.reply_after.mean_seconds == 60
    assert section.reply_after.max_seconds == 60 and section.held.max_seconds == 300
    assert section.held.p90_seconds is not None and section.held.p90_seconds <= 300
    assert section.ttfr_reassigned is not None and section.ttfr_reassigned.mean_seconds == 181
    assert section.ttfr_not_reassigned is not None and section.ttfr_not_reassigned.mean_seconds == 31
    assert report.warnings == []
    lines = format_text(report).split("\n")
    start = lines.index("Reassignments (in the period)")
    assert lines[start + 2].split() == ["assignee", "away", "(customer", "wrote", "or", "reopened)", "1", "0"]
    assert lines[start + 5].split()[:5] == ["with", "the", "previous", "assignee", "2"]
    page = render_html(report)
    assert "Reassignments" in [h.text for h in ET.fromstring(page).iter("h2")]


def test_a_period_without_reassignments_has_no_section(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="t1"), NOW)
    report = load_report(engine.client, "acme", DAY, DAY, now=at(3600))
    assert report.reassignments.by_reason == {}
    assert "Reassignments (in the period)" not in format_text(report)
    assert "<h2>Reassignments</h2>" not in render_html(report)


def test_an_estimate_is_never_above_the_largest_value_filed() -> None:
    """One ticket held 1,017 s falls in the (900, 1800] bucket, whose middle (1,350 s) would be shown as its median:
    the largest value filed caps it, and the renderings mark it (docs/REPORTS.md)."""
    figures = duration_stats({1800.0: 1}, 1017, 1, 1017)
    assert (figures.median_seconds, figures.median_capped, figures.p90_seconds, figures.p90_capped) == (
        1017,
        True,
        1017,
        True,
    )
    assert duration_stats({1800.0: 1}, 1017, 1, None).median_seconds == 1350  # no max filed (older data): as before
    section = ReassignmentReport(by_reason={"no_first_reply": 1}, to_waiting_queue={}, held=figures, reply_after=None,
                                 ttfr_reassigned=None, ttfr_not_reassigned=None)  # fmt: skip
    assert time_rows(section, "<=")[0][2:4] == ["<= 16m57s", "<= 16m57s"]
