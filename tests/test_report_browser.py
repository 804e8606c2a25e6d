"""The HTML report as a browser draws it: headless Chromium lays the page out and every chart is measured.

A chart that is in the markup but drawn at no size (a broken viewBox, a zero width, CSS hiding it) passes
every XML check and still shows nothing; so does a burst drawn one pixel high. Here the page is opened
in Debian's ``chromium`` (tests/support/browser.py; under CI a missing browser fails the test).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import fakeredis
import pytest

from schemas.report import Report
from tests.support import release_day
from tests.support.browser import Box, measure, require_chromium, screenshot
from worker.core.engine import Engine
from worker.reports import load_report, render_html
from worker.reports.figures import build_report

DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def burst_report() -> Report:
    """A day with a steady webchat backlog overnight and 3,032 email tickets that waited inside 10:00 and
    were bulk-assigned before 11:00 (every end-of-hour email depth is 0), agents, replies, Berlin time."""
    fields = {
        "uq_depth:01:webchat:after_hours": 12,
        "uq_depth:08:webchat:after_hours": 0,
        "uq_depth:10:email:no_agent_online": 0,
        "uq_peak:10:email:no_agent_online": 3032,
        "uq_peak_total:10": 3032,
        "assigned:ana": 1520,
        "assigned:ben": 1512,
        "arrived:10:email": 3032,
        "ttfr:all:300": 40,
        "ttfr:all:3600": 5,
        "ttfr:rr:on:300": 40,
        "ttfr:rr:on:3600": 5,
        "ttfr_max:all": 2900,
    }
    stats = {DAY: {name: str(value) for name, value in fields.items()}}
    return build_report(
        "acme",
        DAY,
        DAY,
        stats,
        {datetime(2026, 11, 24, 10, tzinfo=UTC): ["ana", "ben"]},
        now=NOW,
        online_period=["ana", "ben", "cara"],
        time_zone="Europe/Berlin",
    )


def release_report() -> Report:
    """The morning of capacity and releases in tests/support/release_day.py, run through the engine (on
    fakeredis): 12 tickets released, 10 of them after 30 s (bucket 1m) and 2 after 210 s and 220 s (5m)."""
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    release_day.run_release_day(Engine(client))
    day = release_day.DAY
    return load_report(client, release_day.ACCOUNT, day, day, now=release_day.START + timedelta(hours=1))


def reassign_report() -> Report:
    """A day with reassignments (issue 16): the page gets its "Reassignments" section (tables only)."""
    fields = {
        "assigned:ana": 3,
        "assigned:ben": 2,
        "reassigned:assignee_away": 2,
        "reassign_waiting:assignee_away": 1,
        "reassigned:no_first_reply": 1,
        "reassign_held:300": 3,
        "reassign_held_sum": 600,
        "reassign_held_count": 3,
        "after_reassign:60": 1,
        "after_reassign_sum": 40,
        "after_reassign_count": 1,
        "ttfr:reassigned:yes:600": 1,
        "ttfr_count:reassigned:yes": 1,
        "ttfr_sum:reassigned:yes": 500,
    }
    stats = {DAY: {name: str(value) for name, value in fields.items()}}
    return build_report("acme", DAY, DAY, stats, {}, now=NOW)


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def boxes(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> list[Box]:
    return measure(chromium, render_html(burst_report()), tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def release_boxes(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> list[Box]:
    return measure(chromium, render_html(release_report()), tmp_path_factory.mktemp("browser-release"))


def test_every_chart_is_drawn_at_a_visible_size(boxes: list[Box]) -> None:
    charts = [box for box in boxes if box.tag == "svg"]
    assert [chart.label for chart in charts] == [
        "Tickets assigned per agent",
        "TTFR distribution: all replies",
        "Unassigned depth per hour, stacked by channel:reason, with the peak within each hour",
    ]
    for chart in charts:
        assert chart.width >= 300 and chart.height >= 60, chart
        assert chart.left >= 0 and chart.top > 0, chart  # on the page, not pushed off it


def test_a_burst_inside_an_hour_shows_on_the_queue_chart(boxes: list[Box]) -> None:
    queue = next(box for box in boxes if box.label.startswith("Unassigned depth"))
    (peak,) = [box for box in boxes if box.cls == "peak"]
    spikes = [box for box in boxes if box.cls == "spike"]
    # the burst's bar is most of the plot's height (220 of the chart's 280 px), at least 2 px wide, inside it
    assert peak.height >= 200 and peak.width >= 2
    assert queue.left <= peak.left and peak.left + peak.width <= queue.left + queue.width
    assert queue.top <= peak.top and peak.top + peak.height <= queue.top + queue.height
    # and it is marked as a spike, right above the bar
    assert any(abs(spike.left + spike.width / 2 - (peak.left + peak.width / 2)) < 2 for spike in spikes)


def test_the_waiting_time_of_released_tickets_is_drawn(release_boxes: list[Box]) -> None:
    """The capacity section's histogram: laid out between the agents and the queue, its bars in proportion
    (the 1m bucket holds 10 of 12 released tickets: the full 180 px plot; the 5m bucket 2: a fifth of it)."""
    charts = [box for box in release_boxes if box.tag == "svg"]
    assert [chart.label for chart in charts] == [
        "Tickets assigned per agent",
        "Waiting time of released tickets, arrival to assignment",
        "Unassigned depth per hour, stacked by channel:reason, with the peak within each hour",
    ]
    for chart in charts:
        assert chart.width >= 300 and chart.height >= 60, chart
    waited = charts[1]
    assert charts[0].top < waited.top < charts[2].top
    bars = [box for box in release_boxes if box.cls == "bar" and box.height > 0]
    assert len(bars) == 2
    for bar in bars:
        assert waited.left <= bar.left and bar.left + bar.width <= waited.left + waited.width
        assert waited.top <= bar.top and bar.top + bar.height <= waited.top + waited.height
    one_minute, five_minutes = sorted(bars, key=lambda bar: bar.left)
    assert one_minute.height == pytest.approx(180, abs=1) and five_minutes.height == pytest.approx(36, abs=1)
    assert one_minute.top + one_minute.height == pytest.approx(five_minutes.top + five_minutes.height, abs=1)


@pytest.mark.parametrize(
    "make_report", [burst_report, release_report, reassign_report], ids=["burst", "release", "reassign"]
)
def test_a_screenshot_can_be_taken(chromium: str, tmp_path: Path, make_report: Callable[[], Report]) -> None:
    """Chromium draws the page to a PNG (the same call a person uses to look at it; docs/REPORTS.md)."""
    page = tmp_path / "report.html"
    page.write_text(render_html(make_report()), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(chromium, page, png, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_the_reassignment_section_is_laid_out(chromium: str, tmp_path: Path) -> None:
    """The section's two tables are in the DOM Chromium built, between capacity and the queue."""
    page = render_html(reassign_report())
    assert page.index("<h2>Reassignments</h2>") < page.index("<h2>Unassigned queue")
    boxes = measure(chromium, page, tmp_path)
    assert [box.tag for box in boxes if box.tag == "svg"]  # the page still lays its charts out


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("HELPDESK_RR_VENV", ".venv")
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        require_chromium()
    for name, value in (("CI", "1"), ("HELPDESK_RR_VENV", ".venv-ci")):
        with monkeypatch.context() as ci:
            ci.setenv(name, value)
            with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
                require_chromium()
