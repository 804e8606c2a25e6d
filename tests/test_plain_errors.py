"""Plain errors (issue 14): a refusal names the field, shows the rejected value and gives a good example.

Each case the issue names is pinned here word for word, on the surface a person meets it (the CLI's
``error:`` line, the control API's exception, a failed job's reason). That no generated input gets a
regex, a Python type name or pydantic's wording is checked in tests/test_fuzz.py (``assert_plain``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from pydantic import BaseModel, ValidationError
from rq import Queue

from producers import ADAPTERS, PROCESS_TICKET, QUEUE_NAME
from producers.queue import SERIALIZER
from schemas.common import AgentStatus, Channel, Role
from schemas.hours_spec import SpecError, parse_hours_spec
from schemas.inbound import AgentFirstReply, BulkAssignRequest, TicketCreated
from schemas.office_hours import OfficeHours
from schemas.plain import date_problem, shown
from schemas.timezones import closest_zones
from tests.support.accounts import NOW
from tests.support.cli import ok, refused
from tests.support.plain import assert_plain
from worker.api import Forbidden, Helpdesk, InvalidInput
from worker.core.engine import Engine
from worker.core.script_sources import lua_prelude
from worker.errors import validation_summary
from worker.runtime.failures import list_failed
from worker.runtime.runner import make_worker

ROOT = Path(__file__).resolve().parent.parent
ID_RULE = "use 1–128 letters, digits or . _ @ + - (starting with a letter or digit), e.g. acme-support"
X40 = "'" + "x" * 40 + "…'"
"""How a long text is shown: its first 40 characters (then its length)."""
ISO_HINT = "use ISO 8601 with an offset, e.g. 2026-11-24T09:15:00+01:00"
TICKET = {"account_id": "acme", "ticket_id": "t-1", "channel": "email", "created_at": "2026-11-24T14:59:00Z"}


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, text
    return lines[-1]


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    """An account with an owner, an agent and a viewer."""
    ok(redis_url, "user", "acme", "olivia", "--role", "owner")
    ok(redis_url, "user", "acme", "ana", "--role", "agent")
    ok(redis_url, "user", "acme", "vic", "--role", "viewer")
    return redis_url


def summary(model: type[BaseModel], payload: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(payload, context={"now": NOW})
    return validation_summary(raised.value)


# --- ids ----------------------------------------------------------------------------------------------


def test_cli_refuses_an_id_with_a_space_in_plain_words(url: str) -> None:
    line = last_line(refused(url, "user", "ac me", "olivia", "--role", "owner"))
    assert line == f"error: account: 'ac me' is not a valid id: {ID_RULE}"


def test_cli_refuses_an_id_with_a_non_ascii_letter_in_plain_words(url: str) -> None:
    line = last_line(refused(url, "user", "acme", "zoë", "--role", "agent"))
    assert line == f"error: user: 'zoë' is not a valid id: {ID_RULE}"


def test_a_ticket_with_a_bad_id_is_refused_by_the_api_in_the_same_words() -> None:
    helpdesk = Helpdesk.for_client(fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    with pytest.raises(InvalidInput) as raised:
        helpdesk.submit_ticket({**TICKET, "ticket_id": "t 1"}, now=NOW)
    assert str(raised.value) == f"ticket_id: 't 1' is not a valid id: {ID_RULE}"


def test_an_id_too_long_shows_its_start_and_length() -> None:
    line = summary(TicketCreated, {**TICKET, "ticket_id": "x" * 300})
    assert line == f"ticket_id: {X40} (300 characters) is too long (at most 128 characters)"


# --- timestamps --------------------------------------------------------------------------------------------


def test_cli_refuses_a_garbage_created_at_with_an_iso_example(url: str) -> None:
    line = last_line(refused(url, "ticket", "acme", "t1", "--channel", "email", "--created-at", "garbage"))
    assert line == f"error: created_at: 'garbage' is not a date and time: {ISO_HINT}"


def test_cli_refuses_a_garbage_first_reply_time_with_an_iso_example(url: str) -> None:
    line = last_line(refused(url, "first-reply", "acme", "t1", "--agent", "ana", "--at", "garbage"))
    assert line == f"error: replied_at: 'garbage' is not a date and time: {ISO_HINT}"


def test_a_time_without_an_offset_is_refused_with_an_iso_example() -> None:
    line = summary(TicketCreated, {**TICKET, "created_at": "2026-11-24T10:00"})
    assert line == f"created_at: '2026-11-24T10:00' has no UTC offset (is not timezone-aware): {ISO_HINT}"


def test_an_impossible_day_in_a_timestamp_is_called_not_a_real_date() -> None:
    reply = {"account_id": "acme", "ticket_id": "t-1", "agent_id": "ana", "replied_at": "2026-02-30T10:00:00Z"}
    line = summary(AgentFirstReply, reply)
    assert line == f"replied_at: '2026-02-30T10:00:00Z' is not a real date (February 2026 has 28 days): {ISO_HINT}"


# --- office hours --------------------------------------------------------------------------------------------


def test_cli_says_the_days_are_missing_from_an_hours_spec(url: str) -> None:
    args = ["office-hours", "acme", "--timezone", "UTC", "--hours", "09:00-17:00", "--actor", "olivia"]
    assert (
        last_line(refused(url, *args))
        == 'error: --hours "09:00-17:00": name the days first, e.g. "mon-fri 09:00-17:00"'
    )


def test_cli_says_a_closed_date_is_not_a_real_date(url: str) -> None:
    args = ["office-hours", "acme", "--timezone", "UTC", "--hours", "mon-fri 09:00-17:00"]
    line = last_line(refused(url, *args, "--closed", "2026-02-30", "--actor", "olivia"))
    assert line == "error: --closed 2026-02-30: not a real date (February 2026 has 28 days)"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2028-02-30", "not a real date (February 2028 has 29 days)"),
        ("2026-04-31", "not a real date (April 2026 has 30 days)"),
        ("2026-13-01", "not a real date (there is no month 13; months are 01-12)"),
        ("25.12.2026", "not a date: use YYYY-MM-DD, e.g. 2026-12-25"),
    ],
)
def test_a_bad_date_says_why(text: str, reason: str) -> None:
    assert date_problem(text) == reason
    with pytest.raises(SpecError, match=r"^closed ") as raised:
        OfficeHours.from_specs("UTC", ["mon 09:00-17:00"], [text])
    assert raised.value.reason == reason


def test_a_closed_date_in_json_is_called_not_a_real_date_too() -> None:
    line = summary(OfficeHours, {"timezone": "UTC", "closed_dates": ["2026-02-30"]})
    assert line == "closed_dates.0: '2026-02-30' is not a real date (February 2026 has 28 days)"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("09:00-17:00", 'name the days first, e.g. "mon-fri 09:00-17:00"'),
        ("09:00-17:00 mon-fri", 'name the days first, e.g. "mon-fri 09:00-17:00"'),
        ("mon-fri", 'add the times after the days, e.g. "mon-fri 09:00-17:00"'),
        ("", 'empty: write the days, then the times, e.g. "mon-fri 09:00-17:00"'),
        (
            "funday 09:00-17:00",
            "unknown day 'funday' (use mon, tue, wed, thu, fri, sat, sun, a range like mon-fri, or daily)",
        ),
        ("mon 9:00-17:00", "'9:00-17:00' is not a time range: use HH:MM-HH:MM, e.g. 09:00-17:00"),
        ("mon 24:00-02:00", "start '24:00' is not a start time: use HH:MM, 00:00-23:59, e.g. 09:00"),
        ("mon 09:00-24:30", "end '24:30' is not an end time: use HH:MM, 00:00-24:00, e.g. 17:00"),
    ],
)
def test_an_hours_spec_mistake_is_said_plainly(spec: str, reason: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_hours_spec(spec)
    assert raised.value.reason == reason
    assert str(raised.value) == f'hours "{spec}": {reason}'


def test_an_interval_that_is_not_text_or_an_object_is_said_plainly() -> None:
    line = summary(OfficeHours, {"timezone": "UTC", "weekly": {"mon": [5]}})
    assert line == 'weekly.mon.0: 5 is not a time range: use "09:00-17:00" or {"start": "09:00", "end": "17:00"}'


# --- time zones ---------------------------------------------------------------------------------------------------


def test_a_time_zone_typo_suggests_the_closest_iana_name(url: str) -> None:
    args = ["office-hours", "acme", "--timezone", "Europe/Berln", "--hours", "mon-fri 09:00-17:00", "--actor", "olivia"]
    line = last_line(refused(url, *args))
    assert line == "error: timezone: 'Europe/Berln' is not an IANA time zone name: did you mean Europe/Berlin?"


@pytest.mark.parametrize(
    ("typo", "suggested"),
    [
        ("europe/berlin", ["Europe/Berlin"]),  # case-insensitive
        ("Berlin", ["Europe/Berlin"]),  # the city alone
        ("America/New York", ["America/New_York"]),
        ("Asia/Calcuta", ["Asia/Calcutta"]),
        ("Europe/Londn", ["Europe/London"]),
        ("Xyzzy/Plugh", []),
        ("a" * 5_000, []),
    ],
)
def test_closest_zones(typo: str, suggested: list[str]) -> None:
    assert closest_zones(typo) == suggested


def test_a_time_zone_with_nothing_close_gets_an_example() -> None:
    line = summary(OfficeHours, {"timezone": "Xyzzy/Plugh"})
    assert line == "timezone: 'Xyzzy/Plugh' is not an IANA time zone name: use a tz database name, e.g. Europe/Berlin"


# --- roles ---------------------------------------------------------------------------------------------------------


def test_cli_says_vic_is_a_viewer(url: str) -> None:
    line = last_line(refused(url, "status", "acme", "ana", "online", "--actor", "vic"))
    assert line == "error: vic is a viewer; only owner, admin or manager may set another user's status"


def test_cli_says_ana_is_an_agent(url: str) -> None:
    line = last_line(refused(url, "round-robin", "acme", "on", "--actor", "ana"))
    assert line == "error: ana is an agent; only owner, admin or manager may turn round robin on or off"


def test_every_role_gets_its_article(real_redis: redis.Redis) -> None:
    common = (ROOT / "worker" / "core" / "lua" / "_common.lua").read_text(encoding="utf-8")
    roles = ", ".join(f"a_role('{role.value}')" for role in Role)
    script = f"{lua_prelude()}{common}\nreturn {{{roles}}}"
    said = [item.decode() for item in real_redis.eval(script, 0)]
    assert said == ["an owner", "an admin", "a manager", "an agent", "a viewer"]


def test_the_api_says_a_viewer_cannot_manage(real_redis: redis.Redis) -> None:
    engine = Engine(real_redis)
    engine.upsert_user("acme", "vic", Role.VIEWER, NOW)
    engine.upsert_user("acme", "ana", Role.AGENT, NOW)
    with pytest.raises(
        Forbidden, match="^vic is a viewer; only owner, admin or manager may set another user's status$"
    ):
        engine.set_status("acme", "ana", AgentStatus.ONLINE, "vic", NOW)


def test_a_bad_role_or_status_is_not_called_by_its_class_name() -> None:
    helpdesk = Helpdesk.for_client(fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    with pytest.raises(InvalidInput) as raised:
        helpdesk.save_user("acme", "ana", "god", now=NOW)
    assert str(raised.value) == "'god' is not a role: use owner, admin, manager, agent or viewer"
    helpdesk.save_user("acme", "ana", "agent", now=NOW)
    with pytest.raises(InvalidInput) as raised:
        helpdesk.set_status("acme", "ana", "away", now=NOW)
    assert str(raised.value) == "'away' is not a status: use online or offline"


# --- pydantic's wording, reworded ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "payload", "expected"),
    [
        (
            TicketCreated,
            {**TICKET, "channel": "fax"},
            "channel: must be 'email', 'webchat', 'sms' or 'social' (got 'fax')",
        ),
        (TicketCreated, {k: v for k, v in TICKET.items() if k != "channel"}, "channel: is missing (it is required)"),
        (TicketCreated, {**TICKET, "chanel": "x"}, "chanel: is not a field here (remove it, or check its spelling)"),
        (TicketCreated, {**TICKET, "account_id": 7}, "account_id: must be text (got 7)"),
        (TicketCreated, {**TICKET, "account_id": None}, "account_id: must be text (got null)"),
        (TicketCreated, {**TICKET, "account_id": ""}, "account_id: must not be empty"),
        (
            TicketCreated,
            {**TICKET, "subject": "x" * 501},
            f"subject: {X40} (501 characters) is too long (at most 500 characters)",
        ),
        (TicketCreated, {**TICKET, "type": "ticket.closed"}, "type: must be 'ticket.created' (got 'ticket.closed')"),
        (TicketCreated, {**TICKET, "created_at": None}, f"created_at: null is not a date and time: {ISO_HINT}"),
        (TicketCreated, "garbage", "payload: must be an object with named fields (got 'garbage')"),
        (TicketCreated, [1, 2], "payload: must be an object with named fields (got [1, 2])"),
        (
            BulkAssignRequest,
            {"account_id": "a", "team_id": "t", "actor_id": "x", "unassigned": "maybe"},
            "unassigned: must be true or false (got 'maybe')",
        ),
        (
            BulkAssignRequest,
            {"account_id": "a", "team_id": "t", "actor_id": "x", "ticket_ids": []},
            "ticket_ids: has 0 items; at least 1 is needed",
        ),
        (
            BulkAssignRequest,
            {"account_id": "a", "team_id": "t", "actor_id": "x", "ticket_ids": "t1"},
            "ticket_ids: must be a list (got 't1')",
        ),
        (
            OfficeHours,
            {"timezone": "UTC", "weekly": {"funday": ["09:00-17:00"]}},
            "weekly.funday: must be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun' (got 'funday')",
        ),
        (
            OfficeHours,
            {"timezone": "UTC", "weekly": "mon-fri 09:00-17:00"},
            "weekly: must be an object with named fields (got 'mon-fri 09:00-17:00')",
        ),
        (
            OfficeHours,
            {"timezone": "UTC", "closed_dates": ["2026-12-25T10:00:00"]},
            "closed_dates.0: '2026-12-25T10:00:00' has a time of day: use YYYY-MM-DD, e.g. 2026-12-25",
        ),
    ],
)
def test_pydantic_errors_in_plain_words(model: type[BaseModel], payload: Any, expected: str) -> None:
    line = summary(model, payload)
    assert line == expected
    assert_plain(line, [payload])


def test_a_future_time_says_how_far_is_allowed() -> None:
    line = summary(TicketCreated, {**TICKET, "created_at": "2030-01-01T00:00:00Z"})
    assert line == (
        "created_at: '2030-01-01T00:00:00Z' is in the future: more than 5 minutes after now (2026-11-24T15:00:00.000Z)"
    )


def test_a_summary_names_five_problems_then_counts_the_rest() -> None:
    line = summary(OfficeHours, {"timezone": "UTC", "closed_dates": [f"2026-02-{day}" for day in range(30, 38)]})
    assert line.count("not a real date") + line.count("not a date") == 5
    assert line.endswith("; and 3 more problems")


def test_shown_values_stay_on_one_line_and_never_name_a_python_type() -> None:
    assert shown("a\nb\u2028c") == "'a\\nb\\u2028c'"
    assert shown(None) == "null" and shown(True) == "true"
    assert shown(datetime(2026, 11, 24, tzinfo=UTC)) == "2026-11-24T00:00:00+00:00"
    assert (
        shown({"at": datetime(2026, 11, 24, tzinfo=UTC), "x": object()})
        == '{"at": "2026-11-24T00:00:00+00:00", "x": "..."}'
    )
    assert shown("é" * 501) == "'" + "é" * 40 + "…' (501 characters)"


# --- failed reasons ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("garbage", "payload must be a JSON object with named fields (got 'garbage')"),
        (None, "payload must be a JSON object with named fields (got null)"),
        ({**TICKET, "account_id": "ac me"}, f"ticket.created event: account_id: 'ac me' is not a valid id: {ID_RULE}"),
    ],
)
def test_a_failed_jobs_reason_is_plain(payload: Any, expected: str) -> None:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).enqueue(PROCESS_TICKET, payload)
    make_worker(client).work(burst=True)
    [row] = list_failed(client)
    assert row.reason.endswith(expected), row.reason
    assert_plain(row.reason, [payload])


def test_webhook_addresses_and_phone_numbers_are_described_not_matched_against_a_regex() -> None:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    sms = {"ticket_id": "s-1", "message_sid": "SM1", "from_number": "0151 234567", "to_number": "+15559870000"}
    with pytest.raises(ValidationError) as raised:
        ADAPTERS[Channel.SMS].enqueue("acme", {**sms, "body": "Hi", "received_at": "2026-11-24T09:00:00Z"}, client)
    assert validation_summary(raised.value) == (
        "from_number: '0151 234567' is not a phone number in E.164 form (+, then 7-15 digits), e.g. +15551234567"
    )
    mail = {"ticket_id": "e-1", "message_id": "<m1@mail>", "from_address": "jo at example", "to_address": "a@b"}
    with pytest.raises(ValidationError) as raised:
        ADAPTERS[Channel.EMAIL].enqueue("acme", {**mail, "received_at": "2026-11-24T09:00:00Z"}, client, now=NOW)
    assert (
        validation_summary(raised.value) == "from_address: 'jo at example' is not an email address, e.g. jo@example.com"
    )
