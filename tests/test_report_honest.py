"""The report tells the truth about bursts, idle agents, estimates and clocks (hand-written stats hashes).

Each fixture writes the hashes the way the Lua writers file them (docs/STATS.md); expected values are
worked out by hand in comments. The writers themselves are tested in tests/test_stats_filing.py.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from typing import Any

import redis

from worker.core.keys import AccountKeys
from worker.reports import format_text, load_report, render_html

ACCOUNT = "acme"
KEYS = AccountKeys.for_account(ACCOUNT)
D23 = date(2026, 11, 23)
D24 = date(2026, 11, 24)


def write_day(client: redis.Redis, day: date, fields: dict[Any, Any]) -> None:
    client.hset(KEYS.stats(day.isoformat()), mapping=fields)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def burst_fixture(client: redis.Redis) -> None:
    """3,032 tickets waited inside 10:00 and were bulk-assigned before 11:00: every end-of-hour depth is 0."""
    write_day(
        client,
        D24,
        {
            "uq_depth:10:email:no_agent_online": 0,
            "uq_peak:10:email:no_agent_online": 3032,
            "uq_peak_total:10": 3032,
        },
    )


# --- the unassigned queue's peaks ------------------------------------------------------------------


def test_a_burst_drained_within_the_hour_shows_as_its_peak_and_a_spike(client: redis.Redis) -> None:
    # peaks per hour 00..13: 0 except 10:00 (3032): median 0, level threshold max(5, 0) = 5 -> 10:00 is a level
    # spike; not a surge (email:no_agent_online has no known level before its first value in the period).
    burst_fixture(client)
    report = load_report(client, ACCOUNT, D24, D24, now=at(D24, 13))
    queue = report.unassigned
    ten = queue.hours[10]
    assert (ten.total, ten.peak_total, ten.depth, ten.peak) == (0, 3032, {}, {"email:no_agent_online": 3032})
    assert [(s.hour, s.rules, s.total, s.peak_total) for s in queue.spikes] == [(at(D24, 10), ["level"], 0, 3032)]
    text = format_text(report)
    assert "2026-11-24 10:00  2026-11-24 10:00      0   3032  -" in text
    assert "peak  3032  level: peak 3032 >= 5 (end of hour 0)" in text
    assert "no spikes" not in text and "No spikes" not in render_html(report)


def test_the_recorded_total_peak_wins_over_the_series_peaks(client: redis.Redis) -> None:
    # email peaked at 4 and sms at 6 at different moments; the recorded total peak is 8 (not 4 + 6 = 10)
    write_day(
        client,
        D24,
        {
            "uq_depth:03:email:no_agent_online": 1,
            "uq_peak:03:email:no_agent_online": 4,
            "uq_depth:03:sms:no_agent_online": 2,
            "uq_peak:03:sms:no_agent_online": 6,
            "uq_peak_total:03": 8,
        },
    )
    row = load_report(client, ACCOUNT, D24, D24, now=at(D24, 4)).unassigned.hours[3]
    assert (row.total, row.peak_total) == (3, 8)


def test_a_document_without_peaks_still_renders(client: redis.Redis) -> None:
    """A JSON report saved before peaks existed (no peak_total) is read and rendered on its end totals."""
    burst_fixture(client)
    report = load_report(client, ACCOUNT, D24, D24, now=at(D24, 13))
    old = json.loads(report.model_dump_json())
    for row in old["unassigned"]["hours"]:
        del row["peak_total"]
    for spike in old["unassigned"]["spikes"]:
        del spike["peak_total"]
    del old["assignments"]["online_without_tickets"], old["time_zone"]
    restored = type(report).model_validate(old)
    assert restored.unassigned.hours[10].peak_total is None
    assert "2026-11-24 10:00" in format_text(restored) and "<svg" in render_html(restored)


# --- agents Online with no ticket ------------------------------------------------------------------


def test_agents_online_in_the_period_without_tickets_are_listed_with_zero(client: redis.Redis) -> None:
    # ana and ben got tickets; cara was Online on the 23rd, dan on the 24th: both listed with 0.
    # The spread stays over ana and ben (6 and 4: spread 2).
    write_day(client, D23, {"assigned:ana": 6})
    write_day(client, D24, {"assigned:ben": 4})
    client.sadd(KEYS.stats_online(D23.isoformat(), "09"), "ana", "cara")
    client.sadd(KEYS.stats_online(D24.isoformat(), "17"), "ben", "dan")
    client.sadd(KEYS.stats_online("2026-11-22", "09"), "erin")  # before the period: not listed
    report = load_report(client, ACCOUNT, D23, D24, now=at(D24, 20))
    spread = report.assignments
    assert spread.online_without_tickets == ["cara", "dan"]
    assert (spread.counted_agents, spread.spread) == (2, 2)
    text = format_text(report)
    assert "  cara                        0   0.0%" in text and "erin" not in text
    assert "2 agent(s) were Online in the period and got no ticket (listed with 0)" in text
    page = render_html(report)
    assert ">cara<" in page and ">dan<" in page


def test_idle_agents_are_listed_even_when_nobody_got_a_ticket(client: redis.Redis) -> None:
    client.sadd(KEYS.stats_online(D24.isoformat(), "08"), "ana")
    report = load_report(client, ACCOUNT, D24, D24, now=at(D24, 20))
    assert report.assignments.online_without_tickets == ["ana"]
    assert "  ana                         0" in format_text(report)


# --- TTFR estimates never beyond the largest reply time seen ---------------------------------------


def test_a_bucket_estimate_is_capped_at_the_largest_ttfr_observed(client: redis.Redis) -> None:
    # all: 2 replies in (120, 300]: median rank 1 -> 120 + 1/2 * 180 = 210; p90 rank 1.8 -> 282.
    # The largest reply seen is 200 s (ttfr_max over both days: max(150, 200)): both are shown as <= 200.
    # rr:on {60: 4}: median 30, p90 54, max 58: not capped.
    write_day(client, D23, {"ttfr:all:300": 1, "ttfr_max:all": 150, "ttfr:rr:on:60": 4, "ttfr_max:rr:on": 58})
    write_day(client, D24, {"ttfr:all:300": 1, "ttfr_max:all": 200})
    report = load_report(client, ACCOUNT, D23, D24, now=at(D24, 20))
    overall, on = report.ttfr.overall, report.ttfr.rr_on
    assert (overall.median_seconds, overall.p90_seconds, overall.max_seconds) == (200, 200, 200)
    assert overall.median_capped and overall.p90_capped
    assert (on.median_seconds, on.p90_seconds, on.max_seconds, on.median_capped, on.p90_capped) == (
        30,
        54,
        58,
        False,
        False,
    )
    assert "<= 3m20s" in format_text(report)
    assert "\u2264 3m20s" in render_html(report)


def test_without_a_recorded_max_the_estimate_stands(client: redis.Redis) -> None:
    write_day(client, D24, {"ttfr:all:300": 2})  # data written before ttfr_max existed
    overall = load_report(client, ACCOUNT, D24, D24, now=at(D24, 20)).ttfr.overall
    assert (overall.median_seconds, overall.max_seconds, overall.median_capped) == (210, None, False)


# --- the account's clock next to UTC ---------------------------------------------------------------


def office_hours(client: redis.Redis, zone: str, active: str = "1") -> None:
    client.hset(
        KEYS.settings,
        mapping={"office_hours": json.dumps({"timezone": zone, "weekly": {}, "closed_dates": []}), "oh_active": active},
    )


def test_times_are_shown_in_the_accounts_zone_next_to_utc(client: redis.Redis) -> None:
    # Europe/Berlin is UTC+1 in November: 10:00 UTC is 11:00 there, 23:00 UTC is 00:00 the next day.
    office_hours(client, "Europe/Berlin")
    write_day(client, D24, {"arrived:10:email": 5, "arrived:23:sms": 2})
    report = load_report(client, ACCOUNT, D24, D24, now=datetime(2026, 11, 24, 23, 30, tzinfo=UTC))
    assert report.time_zone == "Europe/Berlin"
    text = format_text(report)
    assert "generated 2026-11-24T23:30:00.000Z (2026-11-25 00:30 Europe/Berlin)" in text
    assert "times are UTC, the account's local time (Europe/Berlin, from its office hours) in brackets" in text
    assert "2026-11-24 10:00 (11:00)      5 (email 5)" in text
    assert "2026-11-24 23:00 (11-25 00:00)      2 (sms 2)" in text
    page = render_html(report)
    assert "2026-11-24 10:00 (11:00)" in page
    assert "Times are UTC, the account&#x27;s local time (Europe/Berlin, from its office hours) in brackets" in page


def test_without_office_hours_times_are_utc_only(client: redis.Redis) -> None:
    office_hours(client, "Europe/Berlin", active="0")  # cleared office hours
    write_day(client, D24, {"arrived:10:email": 5})
    report = load_report(client, ACCOUNT, D24, D24, now=at(D24, 20))
    assert report.time_zone is None
    assert "2026-11-24 10:00      5 (email 5)" in format_text(report)
    client.hset(KEYS.settings, mapping={"office_hours": "{not json", "oh_active": "1"})
    assert load_report(client, ACCOUNT, D24, D24, now=at(D24, 20)).time_zone is None


# --- the HTML charts -------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def charts(page: str) -> list[ET.Element]:
    root = ET.fromstring(page)
    return [el for el in root.iter() if el.tag in ("svg", f"{SVG}svg")]


def queue_chart_of(page: str) -> ET.Element:
    return next(svg for svg in charts(page) if (svg.get("aria-label") or "").startswith("Unassigned depth"))


def texts(svg: ET.Element, cls: str | None = None) -> list[str]:
    return [
        "".join(el.itertext())
        for el in svg.iter()
        if el.tag in ("text", f"{SVG}text") and (cls is None or el.get("class") == cls)
    ]


def chart_fixture(client: redis.Redis) -> None:
    burst_fixture(client)
    write_day(
        client,
        D24,
        {
            "assigned:ana": 3,
            "uq_depth:04:webchat:after_hours": 2,
            "uq_depth:22:sms:no_agent_online": 9,  # after the report's clock (13:00): zero in every shown hour
            "ttfr:all:300": 2,
            "ttfr:rr:on:300": 2,
            "ttfr_max:all": 200,
        },
    )


def test_every_chart_titles_both_axes(client: redis.Redis) -> None:
    chart_fixture(client)
    page = render_html(load_report(client, ACCOUNT, D24, D24, now=at(D24, 13)))
    svgs = charts(page)
    assert len(svgs) == 3  # agents, TTFR (all replies), queue
    for svg in svgs:
        assert len(texts(svg, "axis-title")) == 2, svg.get("aria-label")
    assert texts(queue_chart_of(page), "axis-title") == ["hour (UTC; ticks at midnight)", "unassigned tickets"]


def test_a_legend_lists_no_series_that_is_zero_in_every_shown_hour(client: redis.Redis) -> None:
    chart_fixture(client)
    report = load_report(client, ACCOUNT, D24, D24, now=at(D24, 13))
    assert "sms:no_agent_online" in report.unassigned.series  # known to the figure...
    queue_chart = queue_chart_of(render_html(report))
    legend = texts(queue_chart)
    assert "webchat:after_hours" in legend and "peak within the hour" in legend
    assert "sms:no_agent_online" not in legend and "email:no_agent_online" not in legend  # ...not drawn


def test_one_ttfr_chart_when_round_robin_was_never_off(client: redis.Redis) -> None:
    chart_fixture(client)
    page = render_html(load_report(client, ACCOUNT, D24, D24, now=at(D24, 13)))
    labels = [svg.get("aria-label") for svg in charts(page)]
    assert labels.count("TTFR distribution: all replies") == 1
    assert "TTFR distribution: round robin off versus on" not in labels
    assert "Every reply was to a ticket that arrived with round robin on: nothing to compare." in page
    write_day(client, D23, {"ttfr:rr:off:3600": 1, "ttfr:all:3600": 1})  # now there is something to compare
    page = render_html(load_report(client, ACCOUNT, D23, D24, now=at(D24, 13)))
    assert "TTFR distribution: round robin off versus on" in [svg.get("aria-label") for svg in charts(page)]


def test_a_burst_inside_an_hour_is_drawn_up_to_its_peak(client: redis.Redis) -> None:
    chart_fixture(client)
    queue_chart = queue_chart_of(render_html(load_report(client, ACCOUNT, D24, D24, now=at(D24, 13))))
    peaks = [el for el in queue_chart.iter() if el.get("class") == "peak"]
    assert len(peaks) == 1
    # from the end depth (2: webchat, carried from 04:00) up to 3032, the chart's top: 220 * 3030 / 3032 px
    assert (peaks[0].get("y"), peaks[0].get("height")) == ("16.0", "219.9")
    title = "".join(peaks[0].itertext())
    assert (
        "peak 3032 within the hour (by channel:reason: email:no_agent_online=3032 webchat:after_hours=2), 2 at its end"
        in title
    )
