"""The HTTP control API (issue 17, part 2): every route works, and refuses as the CLI does.

Over a real socket (uvicorn in a thread) against the session's real Redis: each route's example succeeds;
a refused call answers the status of its refusal with the very line the CLI prints for the same call (the
``X-Actor`` header is checked exactly as ``--actor``), and changes nothing; a bad body names its fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from schemas.report import Report
from schemas.views import BulkJobView, SettingsView, UserView
from tests.support.cli import refused
from tests.support.control import ACCOUNT, EXAMPLES, Control, Route, control_server
from tests.support.snapshots import snapshot

STATUS = {"GET": 200, "PUT": 200, "DELETE": 200}
"""What a route answers on success; the ones that enqueue for a worker answer 202 (below)."""
ACCEPTED = {"/bulk-assignments", "/tickets", "/tickets/{ticket}/first-reply", "/tickets/{ticket}/close"} | {
    "/tickets/{ticket}/reopen",
    "/tickets/{ticket}/customer-replies",
}


@pytest.fixture
def control(real_redis: redis.Redis, redis_url: str) -> Iterator[Control]:
    with control_server(redis_url) as ready:
        yield ready


@pytest.mark.parametrize(("method", "path"), sorted(EXAMPLES), ids=lambda value: str(value))
def test_every_route_does_what_its_example_asks(control: Control, method: str, path: str) -> None:
    route = Route(method, path)
    with control.client() as http:
        answer = control.send(http, route)
    expected = 202 if method == "POST" and path in ACCEPTED else 200
    assert answer.status_code == expected, answer.text
    assert answer.headers["content-type"] == "application/json"


def test_settings_are_set_idempotently_and_read_back(control: Control) -> None:
    with control.client() as http:

        def put(path: str, body: dict[str, Any]) -> Any:
            return http.put(f"/v1/accounts/acme{path}", json=body, headers=control.headers(control.key)).json()

        assert put("/settings/round-robin", {"enabled": False}) == {"changed": True}
        assert put("/settings/round-robin", {"enabled": False}) == {"changed": False}
        assert put("/settings/capacity", {"capacity": 4}) == {"changed": True}
        assert put("/settings/auto-assign", {"enabled": True}) == {"changed": True}
        assert put("/settings/presence-timeout", {"seconds": 600}) == {"changed": True}
        assert put("/settings/reassign-unanswered", {"after_seconds": 900, "max": 2}) == {"changed": True}
        hours = {"timezone": "Europe/Berlin", "weekly": {"mon": ["09:00-17:00"]}, "closed_dates": ["2026-12-25"]}
        assert put("/settings/office-hours", hours) == {"changed": True}
        view = SettingsView.model_validate(
            http.get("/v1/accounts/acme/settings", headers=control.headers(control.key)).json()
        )
        assert put("/settings/office-hours", view.model_dump(mode="json")["office_hours"]) == {"changed": False}
    assert (view.round_robin, view.capacity, view.auto_assign) == (False, 4, True)
    assert (view.presence_timeout_seconds, view.reassign_unanswered_after_seconds) == (600, 900)
    assert view.office_hours is not None and view.office_hours.to_specs() == ["mon 09:00-17:00"]


def test_a_user_is_provisioned_without_an_actor_and_set_online_by_themself(control: Control) -> None:
    with control.client() as http:
        made = http.put(
            "/v1/accounts/acme/users/zoe", json={"role": "agent"}, headers=control.headers(control.key, None)
        )
        again = http.put(
            "/v1/accounts/acme/users/zoe", json={"role": "agent"}, headers=control.headers(control.key, None)
        )
        online = http.put(
            "/v1/accounts/acme/users/zoe/status", json={"status": "online"}, headers=control.headers(control.key, None)
        )
        beat = http.post("/v1/accounts/acme/users/zoe/heartbeat", headers=control.headers(control.key, None))
        users = [
            UserView.model_validate(row)
            for row in http.get("/v1/accounts/acme/users", headers=control.headers(control.key)).json()
        ]
    assert made.json() == {
        "user_id": "zoe",
        "role": "agent",
        "previous_role": None,
        "went_offline": False,
        "changed": True,
    }
    assert again.json()["changed"] is False and again.json()["previous_role"] == "agent"
    assert online.json() == {"changed": True}
    assert beat.json() == {"online": True}
    zoe = next(user for user in users if user.user_id == "zoe")
    assert zoe.status.value == "online" and zoe.last_heartbeat is not None
    status_events = [e for _id, e in control.helpdesk.events(ACCOUNT) if e.type == "agent.status_changed"]
    assert status_events[-1].actor_id == "zoe"


def test_a_ticket_posted_is_decided_by_a_worker_and_read_back_as_events(control: Control) -> None:
    ticket = {"account_id": "acme", "ticket_id": "T7", "channel": "sms", "created_at": "2026-11-24T15:00:00Z"}
    with control.client() as http:
        accepted = http.post("/v1/accounts/acme/tickets", json=ticket, headers=control.headers(control.key, None))
        assert accepted.status_code == 202 and accepted.json()["job_id"]
        control.helpdesk.drain()
        pages: list[dict[str, Any]] = []
        after = "-"
        while True:
            page = http.get(
                "/v1/accounts/acme/events", params={"after": after, "limit": 2}, headers=control.headers(control.key)
            ).json()
            pages.append(page)
            if not page["events"]:
                break
            after = page["next_after"]
    events = [entry["event"] for page in pages for entry in page["events"]]
    assert all(len(page["events"]) == 2 for page in pages[:-2])
    assert pages[-1] == {"events": [], "next_after": None}
    assigned = [event for event in events if event["type"] == "ticket.assigned" and event["ticket_id"] == "T7"]
    assert assigned and assigned[0]["agent_id"] == "ana"
    assert len(events) == len(control.helpdesk.events(ACCOUNT))


def test_a_bulk_job_is_started_then_followed_to_its_result(control: Control) -> None:
    with control.client() as http:
        started = http.post(
            "/v1/accounts/acme/bulk-assignments",
            json={"team": "billing", "unassigned": False, "tickets": ["T1"]},
            headers=control.headers(control.key),
        )
        assert started.status_code == 202
        body = started.json()
        assert body["progress"] == f"/v1/accounts/acme/bulk-assignments/{body['job_id']}"
        queued = BulkJobView.model_validate(http.get(body["progress"], headers=control.headers(control.key)).json())
        control.helpdesk.drain()
        done = BulkJobView.model_validate(http.get(body["progress"], headers=control.headers(control.key)).json())
    assert queued.status == "queued" and queued.result is None and queued.team_id == "billing"
    assert done.status == "finished" and done.result is not None
    assert done.result.tickets == 1 and done.done == done.total == 1


def test_bulk_assignment_with_nothing_waiting_enqueues_nothing(control: Control, real_redis: redis.Redis) -> None:
    before = snapshot(real_redis)
    with control.client() as http:
        answer = http.post(
            "/v1/accounts/acme/bulk-assignments",
            json={"team": "billing", "unassigned": True},
            headers=control.headers(control.key),
        )
    assert answer.status_code == 200
    assert answer.json() == {
        "job_id": None,
        "progress": None,
        "message": "no unassigned tickets in acme; nothing to assign",
    }
    assert snapshot(real_redis) == before


def test_another_accounts_bulk_job_is_unknown(control: Control) -> None:
    with control.client() as http:
        mine = http.get(
            f"/v1/accounts/acme/bulk-assignments/{control.params['job']}", headers=control.headers(control.key)
        )
        theirs = http.get(
            f"/v1/accounts/globex/bulk-assignments/{control.params['job']}", headers=control.headers(control.other_key)
        )
    assert mine.status_code == 200
    assert theirs.status_code == 404
    assert theirs.json() == {
        "error": f"no bulk job {control.params['job']} in account globex (never made, or finished over a day ago)"
    }


def test_the_report_is_the_report_document(control: Control) -> None:
    with control.client() as http:
        day = {"from": "2026-11-24", "to": "2026-11-24"}
        answer = http.get("/v1/accounts/acme/report", params=day, headers=control.headers(control.key))
        bad = http.get("/v1/accounts/acme/report", params={"from": "yesterday"}, headers=control.headers(control.key))
    report = Report.model_validate(answer.json())
    assert (report.account_id, str(report.day_from), str(report.day_to)) == ("acme", "2026-11-24", "2026-11-24")
    assert bad.status_code == 422 and "yesterday" in bad.json()["error"]


# ------------------------------------------------------------------------------------------------------------
# Refusals: the CLI's status and words
# ------------------------------------------------------------------------------------------------------------

PARITY: list[tuple[str, str, dict[str, Any] | None, str | None, int, list[str]]] = [
    ("PUT", "/settings/round-robin", {"enabled": False}, "ana", 403, ["round-robin", "acme", "off", "--actor", "ana"]),
    (
        "PUT",
        "/users/ben/status",
        {"status": "online"},
        "ana",
        403,
        ["status", "acme", "ben", "online", "--actor", "ana"],
    ),
    (
        "POST",
        "/bulk-assignments",
        {"team": "billing", "tickets": ["T1"]},
        "vic",
        403,
        ["bulk-assign", "acme", "T1", "--team", "billing", "--actor", "vic"],
    ),
    ("PUT", "/settings/capacity", {"capacity": 3}, "ben", 403, ["capacity", "acme", "3", "--actor", "ben"]),
    (
        "PUT",
        "/users/vic/capacity",
        {"capacity": 3},
        "mia",
        403,
        ["capacity", "acme", "3", "--agent", "vic", "--actor", "mia"],
    ),
    ("PUT", "/teams/billing", {"members": ["ana"]}, "ana", 403, ["team", "acme", "billing", "ana", "--actor", "ana"]),
    (
        "PUT",
        "/settings/presence-timeout",
        {"seconds": 900},
        "ana",
        403,
        ["presence", "acme", "--timeout", "15m", "--actor", "ana"],
    ),
    (
        "PUT",
        "/settings/reassign-away",
        {"enabled": True},
        "vic",
        403,
        ["reassign-away", "acme", "on", "--actor", "vic"],
    ),
    (
        "PUT",
        "/settings/reassign-unanswered",
        {"after_seconds": 900},
        "ana",
        403,
        ["reassign-unanswered", "acme", "--after", "15m", "--actor", "ana"],
    ),
    ("DELETE", "/settings/office-hours", None, "ana", 403, ["office-hours", "acme", "--clear", "--actor", "ana"]),
    (
        "PUT",
        "/users/ben/channels",
        {"channels": ["email"]},
        "ana",
        403,
        ["agent-channels", "acme", "ben", "email", "--actor", "ana"],
    ),
    ("PUT", "/settings/auto-assign", {"enabled": True}, "mia", 409, ["auto-assign", "acme", "on", "--actor", "mia"]),
    (
        "PUT",
        "/users/zed/status",
        {"status": "online"},
        "mia",
        404,
        ["status", "acme", "zed", "online", "--actor", "mia"],
    ),
    ("PUT", "/settings/round-robin", {"enabled": True}, "zed", 404, ["round-robin", "acme", "on", "--actor", "zed"]),
    ("POST", "/users/zed/heartbeat", None, None, 404, ["heartbeat", "acme", "zed"]),
    (
        "POST",
        "/tickets/T404/first-reply",
        {"agent": "ana"},
        None,
        404,
        ["first-reply", "acme", "T404", "--agent", "ana"],
    ),
    ("POST", "/tickets/T1/first-reply", {"agent": "zed"}, None, 404, ["first-reply", "acme", "T1", "--agent", "zed"]),
    ("POST", "/tickets/T404/customer-replies", None, None, 404, ["customer-reply", "acme", "T404"]),
    (
        "POST",
        "/bulk-assignments",
        {"team": "nope", "tickets": ["T1"]},
        "mia",
        404,
        ["bulk-assign", "acme", "T1", "--team", "nope", "--actor", "mia"],
    ),
    (
        "PUT",
        "/users/a b/status",
        {"status": "online"},
        "mia",
        422,
        ["status", "acme", "a b", "online", "--actor", "mia"],
    ),
    (
        "PUT",
        "/settings/round-robin",
        {"enabled": True},
        "no actor!",
        422,
        ["round-robin", "acme", "on", "--actor", "no actor!"],
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "actor", "status", "cli"), PARITY, ids=lambda v: str(v)[:40])
def test_a_refusal_has_the_clis_status_and_words_and_changes_nothing(
    control: Control,
    real_redis: redis.Redis,
    redis_url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    actor: str | None,
    status: int,
    cli: list[str],
) -> None:
    before = snapshot(real_redis)
    with control.client() as http:
        answer = http.request(
            method, f"/v1/accounts/acme{path}", json=body, headers=control.headers(control.key, actor)
        )
    assert answer.status_code == status, answer.text
    assert snapshot(real_redis) == before
    assert answer.json() == {"error": refused(redis_url, *cli).removeprefix("error: ")}


BAD_BODIES: list[tuple[str, str, Any, dict[str, str], list[str]]] = [
    ("PUT", "/settings/round-robin", {"enabled": "off"}, {}, ["enabled"]),
    ("PUT", "/settings/round-robin", {"enabled": True, "enabeld": False}, {}, ["enabeld"]),
    ("PUT", "/settings/capacity", {"capacity": 0}, {}, ["capacity"]),
    ("PUT", "/settings/capacity", {}, {}, ["capacity"]),
    ("PUT", "/settings/presence-timeout", {"seconds": "15m"}, {}, ["seconds"]),
    ("PUT", "/users/ana/channels", {"channels": ["email", "fax"]}, {}, ["channels.1"]),
    ("PUT", "/users/ana", {"role": "boss"}, {}, ["role"]),
    (
        "PUT",
        "/settings/office-hours",
        {"timezone": "Mars/Olympus", "weekly": {"mon": ["09:00-17:00"]}},
        {},
        ["timezone"],
    ),
    ("PUT", "/settings/office-hours", {"timezone": "UTC", "weekly": {"mon": ["9-5"]}}, {}, ["weekly.mon.0"]),
    ("PUT", "/teams/billing", {"members": ["ana", "b c"]}, {}, ["members.1"]),
    (
        "POST",
        "/tickets",
        {"account_id": "acme", "ticket_id": "T9", "channel": "fax", "created_at": "2026-11-24T15:00:00Z"},
        {},
        ["channel"],
    ),
    (
        "POST",
        "/tickets",
        {"account_id": "globex", "ticket_id": "T9", "channel": "sms", "created_at": "2026-11-24T15:00:00Z"},
        {},
        ["account_id"],
    ),
    ("POST", "/tickets", {"ticket_id": "T9"}, {}, ["account_id", "channel", "created_at"]),
    ("POST", "/tickets/T1/close", {"at": "yesterday"}, {}, ["at"]),
    ("POST", "/tickets/T1/close", {"at": "2026-11-24T15:00:00"}, {}, ["at"]),
    ("POST", "/bulk-assignments", {"team": "billing", "tickets": []}, {"X-Actor": "mia"}, ["tickets"]),
    ("PUT", "/settings/round-robin", {"enabled": True}, {"X-Actor": ""}, ["X-Actor"]),
    ("PUT", "/users/ana/status", {"status": "offline"}, {"X-Actor": ""}, ["X-Actor"]),
    ("PUT", "/settings/round-robin", [True], {}, ["body"]),
    ("GET", "/events", None, {}, ["limit"]),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "fields"), BAD_BODIES, ids=lambda v: str(v)[:40])
def test_a_bad_body_is_422_naming_each_bad_field_and_changes_nothing(
    control: Control,
    real_redis: redis.Redis,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    fields: list[str],
) -> None:
    before = snapshot(real_redis)
    params = {"limit": "ten"} if path == "/events" else None
    with control.client() as http:
        answer = http.request(
            method,
            f"/v1/accounts/acme{path}",
            json=body,
            params=params,
            headers={**control.headers(control.key), **headers},
        )
    assert answer.status_code == 422, answer.text
    assert snapshot(real_redis) == before
    problem = answer.json()
    assert "\n" not in problem["error"]
    assert [item["field"] for item in problem.get("fields", [])] == fields
    for name in fields:
        assert name in problem["error"]


def test_a_body_that_is_not_json_is_422_for_the_body(control: Control, real_redis: redis.Redis) -> None:
    before = snapshot(real_redis)
    with control.client() as http:
        answer = http.put(
            "/v1/accounts/acme/settings/round-robin",
            content=b'{"enabled": tru',
            headers={**control.headers(control.key), "Content-Type": "application/json"},
        )
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "body: is not valid JSON",
        "fields": [{"field": "body", "problem": "is not valid JSON"}],
    }
    assert snapshot(real_redis) == before


def test_a_body_that_is_not_utf8_is_400_in_plain_words(control: Control, real_redis: redis.Redis) -> None:
    before = snapshot(real_redis)
    with control.client() as http:
        answer = http.put(
            "/v1/accounts/acme/settings/round-robin",
            content=b'{"enabled": "\xff"}',
            headers={**control.headers(control.key), "Content-Type": "application/json"},
        )
    assert answer.status_code == 400
    assert answer.json() == {"error": "the body could not be read: send JSON text in UTF-8"}
    assert snapshot(real_redis) == before
