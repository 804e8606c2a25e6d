"""``helpdesk-rr report``: figures computed from hand-written stats hashes (docs/STATS.md layout).

Every fixture writes the hashes directly, the way the Lua writers file them, and runs on a real
Redis and on fakeredis (the ``client`` fixture). Expected values are worked out by hand in comments.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from freezegun import freeze_time

from schemas.report import Report
from worker import cli as cli_module
from worker.core.keys import AccountKeys, partition_tag
from worker.reports import format_text, load_report, render_html, resolve_period
from worker.reports.display import duration
from worker.reports.figures import TTFR_BUCKETS, build_report, estimate_percentile, online_key, stats_key, uq_depth_key

ACCOUNT = "acme"
D23 = date(2026, 11, 23)
D24 = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 5, 30, tzinfo=UTC)


def documented_stats_key(account: str, day: str) -> str:
    """The key exactly as docs/STATS.md spells it: ``{rr:pNN}:a:<acct>:stats:<DAY>``."""
    return f"{partition_tag(AccountKeys.for_account(account).partition)}:a:{account}:stats:{day}"


def write_day(client: redis.Redis, day: date, fields: dict[Any, Any], account: str = ACCOUNT) -> None:
    client.hset(documented_stats_key(account, day.isoformat()), mapping=fields)


def write_online(client: redis.Redis, day: date, hour: int, *agents: str) -> None:
    client.sadd(f"{documented_stats_key(ACCOUNT, day.isoformat())}:online:{hour:02d}", *agents)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# --- key names -------------------------------------------------------------------------------------


def test_key_names_follow_the_storage_contract() -> None:
    keys = AccountKeys.for_account(ACCOUNT)
    tag = partition_tag(keys.partition)
    assert stats_key(keys, D24) == f"{tag}:a:acme:stats:2026-11-24"
    assert online_key(keys, D24, 7) == f"{tag}:a:acme:stats:2026-11-24:online:07"
    assert uq_depth_key(keys) == f"{tag}:a:acme:uq_depth"


# --- assignments -----------------------------------------------------------------------------------


def test_assignments_per_agent_and_spread(client: redis.Redis) -> None:
    # ana 5 + 3 = 8, ben 6, cara 4; dan's field is 0 so he is not counted.
    # total 18 over 3 agents: mean 6, min 4, max 8, spread 8 - 4 = 4, max/mean 8/6 = 1.3333
    write_day(client, D23, {"assigned:ana": 5, "assigned:ben": 6})
    write_day(client, D24, {"assigned:ana": 3, "assigned:cara": 4, "assigned:dan": 0})
    report = load_report(client, ACCOUNT, D23, D24, now=NOW)
    spread = report.assignments
    assert [(a.agent_id, a.assigned) for a in spread.agents] == [("ana", 8), ("ben", 6), ("cara", 4)]
    assert (spread.total, spread.counted_agents, spread.min, spread.max) == (18, 3, 4, 8)
    assert spread.mean == 6
    assert spread.spread == 4
    assert spread.max_over_mean == pytest.approx(1.3333)
    text = format_text(report)
    assert "total 18 over 3 agent(s) with >= 1 assignment" in text
    assert "spread (max - min) 4, max/mean 1.33" in text


def test_no_assignments_gives_nulls(client: redis.Redis) -> None:
    report = load_report(client, ACCOUNT, D23, D24, now=NOW)
    spread = report.assignments
    assert spread.agents == [] and spread.total == 0
    assert spread.spread is None and spread.max_over_mean is None and spread.mean is None
    assert "no tickets assigned in the period" in format_text(report)


# --- TTFR ------------------------------------------------------------------------------------------


def test_percentile_estimate_by_hand() -> None:
    # buckets 60:2, 120:4, 300:4 -> n = 10, cumulative 2, 6, 10
    # median: rank 0.5 * 10 = 5, in (60, 120] after 2: 60 + (5 - 2) / 4 * 60 = 105
    # p90:    rank 9, in (120, 300] after 6: 120 + (9 - 6) / 4 * 180 = 255
    buckets = [(60.0, 2), (120.0, 4), (300.0, 4), (600.0, 0), (math.inf, 0)]
    assert estimate_percentile(buckets, 0.5) == pytest.approx(105)
    assert estimate_percentile(buckets, 0.9) == pytest.approx(255)
    # Only the inf bucket: it reports its lower bound (the previous bound).
    assert estimate_percentile([(172800.0, 0), (math.inf, 3)], 0.5) == 172800
    assert estimate_percentile([(60.0, 0)], 0.5) is None


def test_ttfr_overall_per_dim_and_round_robin_on_versus_off(client: redis.Redis) -> None:
    # all: day 1 {60: 2, 120: 1}, day 2 {120: 3, 300: 4} -> {60: 2, 120: 4, 300: 4}: median 105, p90 255
    #      mean = (600 + 900) / (3 + 7) = 150
    # rr:on {60: 3}: median rank 1.5 -> 0 + 1.5/3 * 60 = 30; p90 rank 2.7 -> 2.7/3 * 60 = 54
    # rr:off {3600: 1, inf: 1}: median rank 1 -> 1800 + 1/1 * 1800 = 3600; p90 rank 1.8 -> inf -> 172800
    write_day(
        client,
        D23,
        {
            "ttfr:all:60": 2,
            "ttfr:all:120": 1,
            "ttfr_sum:all": 600,
            "ttfr_count:all": 3,
            "ttfr:rr:on:60": 3,
            "ttfr_sum:rr:on": 90,
            "ttfr_count:rr:on": 3,
            "ttfr:agent:ana:120": 1,
            "ttfr_sum:agent:ana": 100,
            "ttfr_count:agent:ana": 1,
        },
    )
    write_day(
        client,
        D24,
        {
            "ttfr:all:120": 3,
            "ttfr:all:300": 4,
            "ttfr_sum:all": "900.0",
            "ttfr_count:all": 7,
            "ttfr:rr:off:3600": 1,
            "ttfr:rr:off:inf": 1,
            "ttfr_sum:rr:off": 200000,
            "ttfr_count:rr:off": 2,
            "ttfr:channel:email:300": 4,
            "ttfr_sum:channel:email": 1000,
            "ttfr_count:channel:email": 4,
        },
    )
    report = load_report(client, ACCOUNT, D23, D24, now=NOW)
    ttfr = report.ttfr
    assert (ttfr.overall.count, ttfr.overall.median_seconds, ttfr.overall.p90_seconds) == (10, 105, 255)
    assert ttfr.overall.mean_seconds == 150
    assert [b.upper_seconds for b in ttfr.overall.buckets] == [None if math.isinf(b) else int(b) for b in TTFR_BUCKETS]
    assert ttfr.overall.buckets[-1].upper_seconds is None
    assert (ttfr.rr_on.median_seconds, ttfr.rr_on.p90_seconds, ttfr.rr_on.mean_seconds) == (30, 54, 30)
    assert (ttfr.rr_off.median_seconds, ttfr.rr_off.p90_seconds, ttfr.rr_off.mean_seconds) == (3600, 172800, 100000)
    assert [s.dim for s in ttfr.per_agent] == ["agent:ana"]
    assert ttfr.per_agent[0].median_seconds == 60 + 0.5 * 60  # rank 0.5 of 1 in (60, 120]
    assert [s.dim for s in ttfr.per_channel] == ["channel:email"]
    # channel:email {300: 4}: median rank 2 -> 120 + 2/4 * 180 = 210; p90 rank 3.6 -> 120 + 3.6/4 * 180 = 282
    assert (ttfr.per_channel[0].median_seconds, ttfr.per_channel[0].p90_seconds) == (210, 282)
    text = format_text(report)
    assert "round robin on" in text and "round robin off" in text
    assert duration(105) == "1m45s" and duration(3600) == "1h00m" and duration(172800) == "2d00h"


# --- unassigned queue ------------------------------------------------------------------------------


def queue_fixture(client: redis.Redis) -> None:
    write_day(
        client,
        D23,
        {"uq_depth:22:webchat:after_hours": 3, "uq_depth:23:webchat:after_hours": 7},
    )
    write_day(
        client,
        D24,
        {
            "uq_depth:01:email:no_agent_online": 2,
            "uq_depth:02:webchat:after_hours": 1,
            "uq_peak:02:email:no_agent_online": 14,
            "uq_depth:07:email:no_agent_online": 50,  # after NOW (05:30): not reported
        },
    )


def test_depth_carries_forward_across_hours_and_the_day_boundary(client: redis.Redis) -> None:
    # 23rd 00-21: 0 (before the first known value), 22: 3, 23: 7
    # 24th 00: 7 (carried over midnight), 01: 7 + 2 = 9, 02: 1 + 2 = 3, 03-05: 3; nothing after 05 (now)
    queue_fixture(client)
    client.hset(uq_depth_key(AccountKeys.for_account(ACCOUNT)), mapping={"email:no_agent_online": 2, "x:y": 0})
    queue = load_report(client, ACCOUNT, D23, D24, now=NOW).unassigned
    assert queue.series == ["email:no_agent_online", "webchat:after_hours"]
    totals = [row.total for row in queue.hours]
    assert totals == [0] * 22 + [3, 7] + [7, 9, 3, 3, 3, 3]
    assert queue.hours[0].hour == at(D23, 0) and queue.hours[-1].hour == at(D24, 5)
    by_hour = {row.hour: row for row in queue.hours}
    assert by_hour[at(D24, 0)].depth == {"webchat:after_hours": 7}
    assert by_hour[at(D24, 1)].depth == {"email:no_agent_online": 2, "webchat:after_hours": 7}
    assert by_hour[at(D24, 4)].depth == {"email:no_agent_online": 2, "webchat:after_hours": 1}
    # 02:00's peaks: email rose to 14 (uq_peak); webchat fell from 7 to 1 (the 7 is judged in 01:00).
    # Without a recorded uq_peak_total, the total peak is what the hour surely held: max(end 3, 14, 1)
    assert by_hour[at(D24, 2)].peak == {"email:no_agent_online": 14, "webchat:after_hours": 1}
    assert by_hour[at(D24, 2)].peak_total == 14
    assert by_hour[at(D24, 3)].peak == {"email:no_agent_online": 2, "webchat:after_hours": 1}  # a flat hour
    assert by_hour[at(D24, 3)].peak_total == 3
    assert queue.current == {"email:no_agent_online": 2}


def test_spikes_level_and_surge(client: redis.Redis) -> None:
    # 30 hourly peaks, 22 of them 0: median 0, so the level threshold is max(5, 2 * 0) = 5:
    # 23rd 23:00 (7), 24th 00:00 (7) and 01:00 (9) are level spikes.
    # 24th 02:00: email:no_agent_online went from 2 (end of 01:00) to a peak of 14: +12 >= 10, a surge, and
    # the hour's peak (14) is a level spike although it ended at 3.
    queue_fixture(client)
    queue = load_report(client, ACCOUNT, D23, D24, now=NOW).unassigned
    assert queue.median_total == 0 and queue.level_threshold == 5
    assert [(s.hour, s.rules) for s in queue.spikes] == [
        (at(D23, 23), ["level"]),
        (at(D24, 0), ["level"]),
        (at(D24, 1), ["level"]),
        (at(D24, 2), ["level", "surge"]),
    ]
    assert (queue.spikes[-1].total, queue.spikes[-1].peak_total) == (3, 14)
    assert "peak 14 >= 5 (end of hour 3)" in queue.spikes[-1].detail
    assert "email:no_agent_online grew 2 -> 14" in queue.spikes[-1].detail


def test_a_steady_backlog_is_not_a_spike(client: redis.Redis) -> None:
    # 00-09: 20 20 20 39 20 45 20 20 20 20 -> median 20, level threshold 2 * 20 = 40.
    # 03:00 (39) is below it but grew 20 -> 39 (+19 >= 10): a surge; 05:00 (45) is a level spike and a
    # surge (+25). Falling back to 20 is neither.
    write_day(client, D24, {"uq_depth:00:sms:no_agent_online": 20, "uq_depth:03:sms:no_agent_online": 39})
    write_day(client, D24, {"uq_depth:04:sms:no_agent_online": 20, "uq_depth:05:sms:no_agent_online": 45})
    write_day(client, D24, {"uq_depth:06:sms:no_agent_online": 20})
    queue = load_report(client, ACCOUNT, D24, D24, now=at(D24, 9)).unassigned
    assert queue.median_total == 20 and queue.level_threshold == 40
    assert [(s.hour, s.rules) for s in queue.spikes] == [(at(D24, 3), ["surge"]), (at(D24, 5), ["level", "surge"])]


def test_depth_is_seeded_from_the_day_before_the_period(client: redis.Redis) -> None:
    write_day(client, D23, {"uq_depth:20:sms:no_agent_online": 4, "uq_depth:21:sms:no_agent_online": 6})
    queue = load_report(client, ACCOUNT, D24, D24, now=at(D24, 2)).unassigned
    assert [row.total for row in queue.hours] == [6, 6, 6]


def test_a_future_period_has_no_hours(client: redis.Redis) -> None:
    queue = load_report(client, ACCOUNT, date(2026, 12, 1), date(2026, 12, 1), now=NOW).unassigned
    assert queue.hours == [] and queue.spikes == []


# --- busiest hours and decisions -------------------------------------------------------------------


def test_busiest_hours_list_who_was_online(client: redis.Redis) -> None:
    # 24th: 10:00 has 12 arrivals; 08:00 and 09:00 have 10 each (tie: earlier first); 14:00 has 3 (4th).
    write_day(
        client,
        D24,
        {
            "arrived:08:email": 10,
            "arrived:09:email": 4,
            "arrived:09:webchat": 6,
            "arrived:10:email": 12,
            "arrived:14:sms": 3,
        },
    )
    write_online(client, D24, 10, "ben", "ana")
    write_online(client, D24, 8, "cara")
    write_online(client, D24, 14, "dan")
    report = load_report(client, ACCOUNT, D23, D24, now=at(D24, 20))
    assert [(b.hour, b.arrivals, b.online) for b in report.busiest_hours] == [
        (at(D24, 10), 12, ["ana", "ben"]),
        (at(D24, 8), 10, ["cara"]),
        (at(D24, 9), 10, []),
    ]
    assert report.busiest_hours[2].by_channel == {"email": 4, "webchat": 6}
    text = format_text(report)
    busiest = text.split("Busiest hours")[1]
    assert "online: ana, ben" in busiest and "online: nobody" in busiest and "dan" not in busiest
    # Online in the period with no ticket: listed with 0 among the agents
    assert report.assignments.online_without_tickets == ["ana", "ben", "cara", "dan"]


def test_decisions_by_outcome_and_reason(client: redis.Redis) -> None:
    write_day(client, D23, {"decided:assigned:round_robin": 10, "decided:unassigned:after_hours": 3})
    write_day(client, D24, {"decided:assigned:round_robin": 5, "decided:assigned:bulk_team": 4})
    report = load_report(client, ACCOUNT, D23, D24, now=NOW)
    assert [(d.outcome, d.reason, d.count) for d in report.decisions] == [
        ("assigned", "round_robin", 15),
        ("assigned", "bulk_team", 4),
        ("unassigned", "after_hours", 3),
    ]


def test_days_outside_the_period_are_not_counted(client: redis.Redis) -> None:
    write_day(client, date(2026, 11, 22), {"assigned:ana": 100, "decided:assigned:round_robin": 100})
    write_day(client, D24, {"assigned:ana": 1})
    report = load_report(client, ACCOUNT, D23, D24, now=NOW)
    assert report.assignments.total == 1 and report.decisions == []


def test_unrecognised_fields_are_reported_not_fatal(client: redis.Redis) -> None:
    write_day(client, D24, {"assigned:ana": 2, "bogus": 1, "ttfr:all:soon": 1, "arrived:25:email": 1})
    report = load_report(client, ACCOUNT, D24, D24, now=NOW)
    assert report.assignments.total == 2
    assert len(report.warnings) == 1 and "ignored 3 unrecognised stats field(s)" in report.warnings[0]


# --- periods ---------------------------------------------------------------------------------------


def test_period_defaults_and_validation() -> None:
    today = D24
    assert resolve_period(today, None, None) == (date(2026, 11, 18), D24)
    assert resolve_period(today, "2026-11-20", None) == (date(2026, 11, 20), D24)
    assert resolve_period(today, None, "2026-11-10") == (date(2026, 11, 4), date(2026, 11, 10))
    assert resolve_period(today, "2026-11-24", "2026-11-24") == (D24, D24)
    assert resolve_period(today, "2025-10-21", "2026-11-24")[0] == date(2025, 10, 21)  # exactly 400 days
    errors = {
        ("2026-13-01", None): "--from '2026-13-01': not a real date (there is no month 13; months are 01-12)",
        (None, "2026-1-5"): "--to '2026-1-5': not a date: use YYYY-MM-DD, e.g. 2026-12-25",
        ("yesterday", None): "--from 'yesterday': not a date: use YYYY-MM-DD, e.g. 2026-12-25",
        ("2026-W48-2", None): "--from '2026-W48-2': not a date: use YYYY-MM-DD, e.g. 2026-12-25",
        ("2026-11-24", "2026-11-23"): "--from 2026-11-24 is after --to 2026-11-23",
        ("2025-10-20", "2026-11-24"): "the period is 401 days; at most 400",
    }
    for (start, end), message in errors.items():
        with pytest.raises(ValueError) as caught:
            resolve_period(today, start, end)
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)


# --- CLI -------------------------------------------------------------------------------------------


Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def invoke(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    import worker.runtime.topology

    monkeypatch.setattr(worker.runtime.topology, "connect_state", lambda url, retries=0: client)
    client.hset(AccountKeys.for_account("acme").users, "max", "manager")  # the CLI refuses an account with no users
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli_module.cli, ["--redis-url", "redis://unused", "--log-json", "report", *args])
        return result.exit_code, result.stdout, result.stderr

    return run


def full_fixture(client: redis.Redis) -> None:
    queue_fixture(client)
    write_day(client, D23, {"assigned:ana": 5, "assigned:ben": 6, "decided:assigned:round_robin": 11})
    write_day(
        client,
        D24,
        {
            "assigned:ana": 3,
            "assigned:cara": 4,
            "decided:assigned:round_robin": 7,
            "arrived:10:email": 7,
            "ttfr:all:120": 3,
            "ttfr:rr:on:60": 2,
            "ttfr:rr:off:1800": 1,
            "ttfr:agent:ana:120": 3,
            "ttfr_sum:all": 250,
            "ttfr_count:all": 3,
        },
    )
    write_online(client, D24, 10, "ana", "cara")


def test_cli_json_round_trips_through_the_model_with_today_from_the_clock(client: redis.Redis, invoke: Invoke) -> None:
    full_fixture(client)
    with freeze_time("2026-11-24 15:30:00"):
        code, out, err = invoke("acme", "--json")
    assert code == 0, err
    report = Report.model_validate_json(out)
    assert (report.day_from, report.day_to) == (date(2026, 11, 18), D24)  # the last 7 days up to today
    assert report.generated_at == datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
    assert report.unassigned.hours[-1].hour == at(D24, 15)
    assert report == load_report(client, ACCOUNT, date(2026, 11, 18), D24, now=report.generated_at)
    assert json.loads(out) == json.loads(report.model_dump_json())
    assert report.assignments.total == 18 and report.busiest_hours[0].online == ["ana", "cara"]


def test_cli_terminal_table(client: redis.Redis, invoke: Invoke) -> None:
    full_fixture(client)
    with freeze_time("2026-11-24 15:30:00"):
        code, out, err = invoke("acme", "--from", "2026-11-23")
    assert code == 0, err
    assert out.startswith("Report for acme: 2026-11-23 .. 2026-11-24")
    for section in ("Tickets assigned per agent", "Time to first reply", "Unassigned queue", "Busiest hours"):
        assert section in out
    assert "2026-11-24 01:00  2026-11-24 01:00      9      9  email:no_agent_online=2 webchat:after_hours=7" in out
    # 02:00 ended at 3 but email:no_agent_online rose to 14 within it: its own row, PEAK 14
    assert "2026-11-24 02:00  2026-11-24 02:00      3     14  email:no_agent_online=2 webchat:after_hours=1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-30"], "error: --from '2026-02-30': not a real date (February 2026 has 28 days)"),
        (["--from", "2026-11-24", "--to", "2026-11-01"], "error: --from 2026-11-24 is after --to 2026-11-01"),
        (["--from", "2024-01-01"], "error: the period is"),
    ],
)
def test_cli_refuses_bad_dates_with_one_line(invoke: Invoke, args: list[str], message: str) -> None:
    with freeze_time("2026-11-24 15:30:00"):
        code, out, err = invoke("acme", *args)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_cli_refuses_a_bad_account(invoke: Invoke) -> None:
    code, _out, err = invoke("a:b")
    assert code == 1 and err.startswith("error: account:")


# --- HTML ------------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_page_is_self_contained_and_well_formed(client: redis.Redis, invoke: Invoke, tmp_path: Path) -> None:
    full_fixture(client)
    write_day(client, D24, {"assigned:<b>&mallory": 1})  # ids are validated upstream; escaping still holds
    target = tmp_path / "report.html"
    with freeze_time("2026-11-24 15:30:00"):
        code, out, err = invoke("acme", "--from", "2026-11-23", "--html", str(target), "--json")
    assert code == 0, err
    Report.model_validate_json(out)  # stdout stays pure JSON; the "wrote" line goes to stderr
    assert f"wrote {target}" in err
    page = target.read_text(encoding="utf-8")

    root = ET.fromstring(page)  # well-formed XML too
    assert root.tag == "html"
    assert len(root.findall(".//svg")) >= 4  # agents, depth, TTFR on/off, TTFR all
    parser = _Collector()
    parser.feed(page)
    parser.close()
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not [name for name, _ in parser.attrs if name in ("src", "href")]
    assert "http://" not in page and "https://" not in page and "url(" not in page
    for name in ("ana", "ben", "cara", "&lt;b&gt;&amp;mallory"):
        assert name in page
    assert "<b>&mallory" not in page
    assert "email:no_agent_online" in page and "spike" in page


def test_html_of_an_empty_period_renders() -> None:
    report = build_report(ACCOUNT, D24, D24, {}, {}, now=NOW)
    page = render_html(report)
    ET.fromstring(page)
    assert "No tickets assigned in the period." in page and "<svg" not in page
