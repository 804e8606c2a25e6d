"""The agent page in a real browser: headless Chromium driven over the DevTools Protocol (tests/support/cdp.py).

Open the link ``helpdesk-rr agent-link`` printed, click Online, create a ticket with the CLI while a
``helpdesk-rr worker`` runs, and see its toast on the page within 2 s of the ticket's creation; expired and
forged links show the clear page and no account data. Under CI a missing chromium fails (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import redis

from schemas.common import AgentStatus, Role
from tests.support.browser import require_chromium
from tests.support.cdp import browser_page
from tests.support.cli import ok
from tests.support.http import live_server
from tests.support.workers import start_worker, stop_worker, wait_for
from worker.api import Helpdesk
from worker.core.engine import utc_now

TOAST_WITHIN_SECONDS = 2.0
SHOTS = os.environ.get("HELPDESK_RR_SCREENSHOTS")
"""A folder to keep the page's screenshots in (for a person to look at); by default they go to tmp_path."""


def text_of(selector: str) -> str:
    return f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''"


def test_click_online_then_a_new_tickets_toast_shows_within_2_s(
    real_redis: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    binary = require_chromium()
    helpdesk = Helpdesk.from_url(redis_url)
    helpdesk.save_user("acme", "mia", Role.MANAGER)
    helpdesk.save_user("acme", "ana", Role.AGENT)
    helpdesk.set_round_robin("acme", True, "mia")
    shots = Path(SHOTS) if SHOTS else tmp_path
    worker = start_worker(redis_url)
    try:
        with live_server(Helpdesk.from_url(redis_url)) as live, browser_page(binary, tmp_path / "profile") as page:
            url = ok(redis_url, "agent-link", "acme", "ana", "--base-url", live.base_url, separate_process=True)
            page.navigate(url.strip())
            page.wait_for("document.body.getAttribute('data-status') === 'offline'", 10, "the page shows Offline")
            page.wait_for(f"{text_of('#live')} === 'Live'", 10, "the toasts stream is open")
            page.click("#go-online")
            page.wait_for("document.body.getAttribute('data-status') === 'online'", 5, "the page shows Online")
            assert page.evaluate(text_of("#status")) == "Online"
            assert page.evaluate("document.getElementById('go-online').getAttribute('aria-pressed')") == "true"
            assert [v.status for v in helpdesk.users("acme") if v.user_id == "ana"] == [AgentStatus.ONLINE]
            wait_for(lambda: helpdesk.workers_alive("acme") > 0, 30, "the worker is up")

            ok(redis_url, "ticket", "acme", "T-100", "--channel", "email", separate_process=True)
            page.wait_for("document.querySelectorAll('#toasts .toast').length > 0", 10, "a toast on the page")
            shown_at = utc_now()
            record = helpdesk.queries.ticket("acme", "T-100")
            assert record is not None and record["agent_id"] == "ana"
            took = (shown_at - datetime.fromisoformat(record["created_at"])).total_seconds()
            assert took < TOAST_WITHIN_SECONDS, f"the toast showed {took:.2f} s after the ticket was created"
            assert "New email ticket T-100 assigned to you" in page.evaluate(text_of("#toasts"))
            page.wait_for(f"{text_of('#tickets')}.indexOf('T-100') >= 0", 5, "the ticket in the open tickets")
            page.screenshot(shots / "agent-page.png")
    finally:
        stop_worker(worker)


def test_expired_and_forged_links_show_the_clear_page_without_data(
    real_redis: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    binary = require_chromium()
    helpdesk = Helpdesk.from_url(redis_url)
    helpdesk.save_user("acme", "ana", Role.AGENT)
    expired = helpdesk.agent_link("acme", "ana", hours=1, now=utc_now() - timedelta(hours=2)).token
    forged = helpdesk.agent_link("acme", "ana").token[:-4] + "AAAA"
    shots = Path(SHOTS) if SHOTS else tmp_path
    with live_server(Helpdesk.from_url(redis_url)) as live, browser_page(binary, tmp_path / "profile") as page:
        for name, token, title in (
            ("expired", expired, "This agent link has expired"),
            ("forged", forged, "This agent link is not valid"),
        ):
            page.navigate(f"{live.base_url}/agent?token={token}")
            assert page.evaluate(text_of("h1")) == title
            body = page.evaluate("document.body.innerText")
            assert "acme" not in body and "ana" not in body and "Open tickets" not in body
            assert page.evaluate("document.getElementById('go-online') === null")
            page.screenshot(shots / f"agent-page-{name}.png")
