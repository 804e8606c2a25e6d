"""Poison input (issue 4, item 5): property-based fuzzing of every edge that takes outside input.

Four edges, each fed hypothesis-generated garbage mixed with near-valid values:

1. the inbound schemas (``TicketCreated``, ``AgentFirstReply``, ``OfficeHours``): valid, or a
   ``pydantic.ValidationError`` that blames only fields the example actually broke, and names them;
2. the channel adapters' raw webhook payloads: a refusal raises ``ValidationError`` and leaves the
   (fresh, fakeredis) keyspace empty; an accepted payload enqueues exactly one job;
3. worker jobs put straight on the queue (bypassing producers): every bad job ends in the failed
   registry as ``InvalidJob`` after one attempt, writes nothing outside ``rq:*``, and a valid job
   queued behind the bad ones is still decided;
4. the CLI (in-process, ``CliRunner`` against the session's real Redis): exit 0, 1 or 2 only, no
   traceback, a one-line message last, and a refused call leaves the keyspace byte-for-byte unchanged.

``TRIED`` counts every input executed (hypothesis' generation, replay and shrinking); the last test
prints the total (it is quoted in docs/RELIABILITY.md).

Bugs the fuzzing found are kept at the end of the file as regression tests. The generators above them stay
clear of those bugs (aware datetimes within a day of the datetime range; ASCII-only times; no line
breaks in worker payload keys) so the properties keep guarding everything else.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import fakeredis
import pytest
import redis
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from rq import Queue, Retry, get_current_job
from rq.job import Job
from rq.registry import FailedJobRegistry

import worker.jobs
from producers import ADAPTERS, PROCESS_TICKET, QUEUE_NAME
from producers.queue import SERIALIZER
from schemas.common import Channel, Role
from schemas.inbound import AgentFirstReply, TicketCreated
from schemas.office_hours import OfficeHours, TimeInterval
from tests.support.cli import logging_restored
from tests.support.plain import assert_plain
from worker.cli import cli
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.errors import validation_summary
from worker.runtime.failures import list_failed
from worker.runtime.runner import make_worker

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
CONTEXT = {"now": NOW}

TRIED: Counter[str] = Counter()
"""Inputs executed per property (every call of a property body counts once)."""
ACCEPTED: Counter[str] = Counter()
"""Of those, how many were valid (a fuzzer that only ever produces garbage proves little)."""

# --------------------------------------------------------------------------------------------------
# Value strategies
# --------------------------------------------------------------------------------------------------

_OFFSETS = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=14)),
        timezone(timedelta(hours=-12)),
        timezone(timedelta(hours=5, minutes=30)),
        timezone(timedelta(hours=-3, minutes=-30)),
        ZoneInfo("Europe/Berlin"),
        ZoneInfo("America/St_Johns"),
        ZoneInfo("Pacific/Kiritimati"),
    ]
)
# Aware datetimes within a day of datetime.min/max overflowed when normalised to UTC: see the regression tests.
_SAFE_MIN = datetime(1, 1, 3)
_SAFE_MAX = datetime(9999, 12, 29)

naive_datetimes = st.datetimes()
aware_datetimes = st.datetimes(min_value=_SAFE_MIN, max_value=_SAFE_MAX, timezones=_OFFSETS)
near_now = st.datetimes(
    min_value=(NOW - timedelta(hours=1)).replace(tzinfo=None),
    max_value=(NOW + timedelta(hours=1)).replace(tzinfo=None),
    timezones=_OFFSETS,
)
far_future = st.datetimes(min_value=datetime(2100, 1, 1), max_value=_SAFE_MAX, timezones=_OFFSETS)

timestamp_strings = st.one_of(
    aware_datetimes.map(datetime.isoformat),
    near_now.map(datetime.isoformat),
    naive_datetimes.map(datetime.isoformat),
    far_future.map(datetime.isoformat),
    st.sampled_from(
        [
            "",
            "now",
            "2026-11-24",
            "2026-11-24T14:00",
            "2026-11-24T14:00Z",
            "2026-11-24 14:00:00+00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T14:00:00+25:00",
            "2026-11-24T14:00:00.123456789Z",
            " 2026-11-24T14:00:00Z ",
            "2999-01-01T10:00Z",
            "9999-12-31T23:59:59Z",
            "1e10",
            "-1",
            "٢٠٢٦-١١-٢٤T14:00:00Z",
        ]
    ),
)
datetime_values = st.one_of(aware_datetimes, near_now, far_future, naive_datetimes, timestamp_strings)

huge_strings = st.sampled_from(
    ["x" * 10_001, "a" * 129, "é" * 501, "\u202e" * 300, "\x00" * 50, "💥" * 2_000, " " * 600 + "x", "a\n" * 400]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.binary(max_size=20),
    huge_strings,
    naive_datetimes,
    aware_datetimes,
    far_future,
    st.dates(),
)
any_value = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)

ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,20}", fullmatch=True),
    st.text(max_size=20),
    st.sampled_from(["", "a" * 128, "a" * 129, "bad:id", "ac{me}", "a b", "-lead", "ünï", "a\n", "acme\n", "_x"]),
)
external_ids = st.one_of(st.text(max_size=20), st.sampled_from(["", "m" * 256, "m" * 257]), scalars)
free_text = st.one_of(st.text(max_size=40), huge_strings, st.none())
channels = st.one_of(st.sampled_from([c.value for c in Channel] + ["fax", "EMAIL", "e-mail", ""]), any_value)

ASCII_TIME = st.from_regex(r"[0-9]{2}:[0-9]{2}", fullmatch=True)
"""Times in the HH:MM shape with ASCII digits only (non-ASCII digits were once accepted: see the regression tests)."""
interval_strings = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", ASCII_TIME, ASCII_TIME),
    st.sampled_from(["09:00-17:00", "22:00-02:00", "00:00-24:00", "24:00-01:00", "09:00-09:00", "9:00-17:00", "-"]),
    st.text(max_size=12, alphabet=st.characters(codec="ascii")),
)
interval_values = st.one_of(
    interval_strings,
    st.fixed_dictionaries({"start": ASCII_TIME | scalars, "end": ASCII_TIME | scalars}),
    st.dictionaries(st.sampled_from(["start", "end", "x"]), ASCII_TIME | scalars, max_size=3),
    scalars,
)
weekday_keys = st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun", "Mon", "daily", "funday", ""])
weekly_values = st.one_of(
    st.dictionaries(weekday_keys | st.text(max_size=5), st.lists(interval_values, max_size=4) | scalars, max_size=4),
    weekday_keys.map(lambda day: {day: [f"{h:02d}:00-{h:02d}:30" for h in range(24)] * 2 + ["23:00-01:00"]}),
    any_value,
)
timezones = st.one_of(
    st.sampled_from(
        [
            "UTC",
            "Europe/Berlin",
            "America/St_Johns",
            "",
            "America",
            "Europe/Atlantis",
            "../etc/passwd",
            "/etc/localtime",
            "Europe/../UTC",
            "__init__",
            "tzdata",
            "Etc/",
            "UTC\n",
            "\x00",
            "a" * 5_000,
        ]
    ),
    st.text(max_size=20),
    scalars,
)
closed_date_values = st.one_of(
    st.lists(st.one_of(st.dates(), st.dates().map(date.isoformat), scalars), max_size=4),
    st.just([date(2026, 1, 1) + timedelta(days=n) for n in range(1_001)]),  # one over the limit
    st.sampled_from([["2026-02-30"], ["2026-12-25T00:00:00"], ["25.12.2026"], "2026-12-25"]),
    any_value,
)

# --------------------------------------------------------------------------------------------------
# Payloads: a valid base, then some fields removed, some replaced, some unknown keys added
# --------------------------------------------------------------------------------------------------

Mutation = tuple[dict[str, Any], frozenset[str]]


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]) -> Mutation:
    """``(payload, changed)``: ``base`` with a few fields dropped/replaced/added; ``changed`` names them."""
    payload = dict(base)
    changed: set[str] = set()
    for key in draw(st.lists(st.sampled_from(sorted(base)), unique=True, max_size=2)):
        del payload[key]
        changed.add(key)
    for key in draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=3)):
        payload[key] = draw(st.one_of(fields[key], fields[key], any_value))  # mostly near-valid values
        changed.add(key)
    extras = draw(st.dictionaries(st.text(max_size=12).filter(lambda k: k not in fields), any_value, max_size=2))
    payload.update(extras)
    changed |= set(extras)
    return payload, frozenset(changed)


TICKET_BASE: dict[str, Any] = {
    "account_id": "acme",
    "ticket_id": "t-1",
    "channel": "email",
    "created_at": "2026-11-24T14:59:00Z",
    "subject": "Printer on fire",
}
TICKET_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(["ticket.created", "agent.first_reply", "", "TICKET.CREATED"]),
    "schema_version": st.sampled_from(["1", "2", 1, 1.0, ""]),
    "account_id": ids,
    "ticket_id": ids,
    "channel": channels,
    "created_at": datetime_values,
    "subject": free_text,
}
REPLY_BASE: dict[str, Any] = {
    "account_id": "acme",
    "ticket_id": "t-1",
    "agent_id": "ana",
    "replied_at": "2026-11-24T14:59:00Z",
}
REPLY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(["agent.first_reply", "ticket.created", ""]),
    "schema_version": st.sampled_from(["1", "2", 1]),
    "account_id": ids,
    "ticket_id": ids,
    "agent_id": ids,
    "replied_at": datetime_values,
}
HOURS_BASE: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "weekly": {"mon": ["09:00-17:00"], "fri": [{"start": "22:00", "end": "02:00"}]},
    "closed_dates": ["2026-12-25"],
}
HOURS_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "timezone": timezones,
    "weekly": weekly_values,
    "closed_dates": closed_date_values,
}

emails = st.one_of(st.emails(), st.text(max_size=20), st.sampled_from(["a@b", "@b", "a@", "a b@c", "a@b@c", "x" * 321]))
phones = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
    st.text(max_size=16),
    st.sampled_from(["+0123456789", "+1555", "15551234567", "+1555123456789012", "+1555123456\n"]),
)
arrival = st.one_of(datetime_values, near_now)
WEBHOOKS: dict[Channel, tuple[dict[str, Any], dict[str, st.SearchStrategy[Any]]]] = {
    Channel.EMAIL: (
        {
            "ticket_id": "e-1",
            "message_id": "<m1@mail>",
            "from_address": "jo@example.com",
            "to_address": "help@acme.test",
            "subject": "Hello\nsecond line",
            "received_at": "2026-11-24T14:59:00Z",
        },
        {
            "ticket_id": ids,
            "message_id": external_ids,
            "from_address": emails,
            "to_address": emails,
            "subject": free_text,
            "received_at": arrival,
        },
    ),
    Channel.WEBCHAT: (
        {
            "ticket_id": "w-1",
            "conversation_id": "c1",
            "visitor_id": "v1",
            "visitor_name": "Jo",
            "first_message": "Hi",
            "started_at": "2026-11-24T14:59:00Z",
        },
        {
            "ticket_id": ids,
            "conversation_id": external_ids,
            "visitor_id": external_ids,
            "visitor_name": free_text,
            "first_message": free_text,
            "started_at": arrival,
        },
    ),
    Channel.SMS: (
        {
            "ticket_id": "s-1",
            "message_sid": "SM1",
            "from_number": "+15551234567",
            "to_number": "+4930123456",
            "body": "Help",
            "received_at": "2026-11-24T14:59:00Z",
        },
        {
            "ticket_id": ids,
            "message_sid": external_ids,
            "from_number": phones,
            "to_number": phones,
            "body": free_text,
            "received_at": arrival,
        },
    ),
    Channel.SOCIAL: (
        {
            "ticket_id": "so-1",
            "network": "x",
            "message_id": "p1",
            "author_handle": "@jo",
            "text": "Hi",
            "created_time": "2026-11-24T14:59:00Z",
        },
        {
            "ticket_id": ids,
            "network": st.sampled_from(
                ["facebook", "instagram", "x", "whatsapp", "linkedin", "tiktok", "X", "myspace"]
            ),
            "message_id": external_ids,
            "author_handle": st.one_of(st.text(max_size=10), st.sampled_from(["", "h" * 201])),
            "text": free_text,
            "created_time": arrival,
        },
    ),
}


def assert_blames_only(error: ValidationError, changed: frozenset[str], also: frozenset[str] = frozenset()) -> None:
    """Every error points at a field the example broke, and the message names it."""
    details = error.errors()
    assert details, error
    blamed = set()
    for item in details:
        assert item["loc"], f"an error without a field: {error}"
        blamed.add(str(item["loc"][0]))
    assert blamed <= changed | also, (blamed, changed, str(error))
    text = str(error)
    for name in blamed:
        assert name in text
    summary = validation_summary(error)  # what a person reads (CLI, API, failed reasons): plain words
    assert_plain(summary, [item.get("input") for item in details] + [part for item in details for part in item["loc"]])


def validate_or_refuse(model: type[BaseModel], payload: Any, changed: frozenset[str]) -> None:
    try:
        model.model_validate(payload, context=CONTEXT)
    except ValidationError as error:
        assert_blames_only(error, changed)
    else:
        ACCEPTED[f"schema {model.__name__}"] += 1


# --------------------------------------------------------------------------------------------------
# 1. Schemas
# --------------------------------------------------------------------------------------------------

SCHEMA_SETTINGS = settings(max_examples=300, deadline=None)


@SCHEMA_SETTINGS
@given(case=mutated(TICKET_BASE, TICKET_FIELDS))
def test_ticket_created_is_valid_or_refused_naming_the_field(case: Mutation) -> None:
    TRIED["schema TicketCreated"] += 1
    validate_or_refuse(TicketCreated, *case)


@SCHEMA_SETTINGS
@given(case=mutated(REPLY_BASE, REPLY_FIELDS))
def test_agent_first_reply_is_valid_or_refused_naming_the_field(case: Mutation) -> None:
    TRIED["schema AgentFirstReply"] += 1
    validate_or_refuse(AgentFirstReply, *case)


@SCHEMA_SETTINGS
@given(case=mutated(HOURS_BASE, HOURS_FIELDS))
def test_office_hours_are_valid_or_refused_naming_the_field(case: Mutation) -> None:
    TRIED["schema OfficeHours"] += 1
    validate_or_refuse(OfficeHours, *case)


@SCHEMA_SETTINGS
@given(payload=any_value)
def test_schemas_take_any_value_without_crashing(payload: Any) -> None:
    TRIED["schema any value"] += 1
    for model in (TicketCreated, AgentFirstReply, OfficeHours):
        with suppress(ValidationError):  # anything else escapes and fails the test
            model.model_validate(payload, context=CONTEXT)


# --------------------------------------------------------------------------------------------------
# 2. Channel adapters
# --------------------------------------------------------------------------------------------------


@st.composite
def webhook_cases(draw: st.DrawFn) -> tuple[Channel, str, Mutation]:
    channel = draw(st.sampled_from(list(Channel)))
    base, fields = WEBHOOKS[channel]
    account = draw(st.one_of(st.just("acme"), ids))
    return channel, account, draw(mutated(base, fields))


@settings(max_examples=300, deadline=None)
@given(case=webhook_cases())
def test_adapters_refuse_without_touching_redis_or_enqueue_exactly_one_job(
    case: tuple[Channel, str, Mutation],
) -> None:
    TRIED["adapter payload"] += 1
    channel, account, (payload, changed) = case
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        job = ADAPTERS[channel].enqueue(account, payload, client, now=NOW)
    except ValidationError as error:
        assert_blames_only(error, changed, frozenset({"account_id"}) if account != "acme" else frozenset())
        assert client.dbsize() == 0, sorted(client.keys())
    else:
        ACCEPTED["adapter payload"] += 1
        queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
        assert queue.job_ids == [job.id]
        assert only_queue_keys(client), sorted(client.keys())
    finally:
        client.close()


# --------------------------------------------------------------------------------------------------
# 3. Worker jobs that bypass the producers
# --------------------------------------------------------------------------------------------------


def _is_invalid_ticket(payload: Any) -> bool:
    if not isinstance(payload, dict):
        return True
    try:
        TicketCreated.model_validate(payload, context={"now": utc_now()})
    except ValidationError:
        return True
    return False


LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
"""What ``str.splitlines`` splits on: a payload key holding one once hid ``InvalidJob`` (see the regression tests)."""


def _no_line_break_in_keys(payload: Any) -> bool:
    return not isinstance(payload, dict) or not any(c in str(key) for key in payload for c in LINE_BREAKS)


def as_json(value: Any) -> Any:
    """What a job can carry: jobs are JSON (a datetime or bytes arrives as its text)."""
    return json.loads(json.dumps(value, default=str))


bad_job_payloads = (
    st.one_of(mutated(TICKET_BASE, TICKET_FIELDS).map(lambda case: case[0]), any_value)
    .map(as_json)
    .filter(_no_line_break_in_keys)
    .filter(_is_invalid_ticket)
)


@contextmanager
def counting_attempts() -> Iterator[Counter[str]]:
    """Attempts per job id, counted by wrapping the job function (SimpleWorker runs jobs in-process).

    ``len(job.results())`` alone cannot show a retry on RQ 3: a failed attempt that is retried
    (``Retry`` given at enqueue) leaves no result record, only the last attempt does.
    """
    attempts: Counter[str] = Counter()
    original = worker.jobs.process_ticket

    def counted(payload: Any) -> dict[str, Any]:
        job = get_current_job()
        assert job is not None
        attempts[job.id] += 1
        return original(payload)

    with patch.object(worker.jobs, "process_ticket", counted):
        yield attempts


def only_queue_keys(client: redis.Redis) -> bool:
    """Nothing but RQ's keys and the worker's maintenance lock: no ticket, decision or event key."""
    return all(key.startswith((b"rq:", b"rr:maintenance:")) for key in client.scan_iter())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(payloads=st.lists(bad_job_payloads, min_size=1, max_size=3))
def test_bad_jobs_fail_once_as_invalid_write_nothing_and_the_worker_goes_on(payloads: list[Any]) -> None:
    TRIED["worker job"] += len(payloads) + 1
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
        # with retries, as the producers enqueue: an invalid job must not use them
        bad = [queue.enqueue(PROCESS_TICKET, payload, retry=Retry(max=3)) for payload in payloads]
        with counting_attempts() as attempts:
            make_worker(client).work(burst=True)

        failed = FailedJobRegistry(QUEUE_NAME, connection=client, serializer=SERIALIZER).get_job_ids()
        reasons = {row.job_id: row.reason for row in list_failed(client)}
        for job in bad:
            job = Job.fetch(job.id, connection=client, serializer=SERIALIZER)
            assert job.get_status() == "failed"
            assert job.id in failed
            assert "InvalidJob" in reasons[job.id], reasons[job.id]
            assert_plain(reasons[job.id], [job.args])
            assert len(list(job.results())) == 1
            assert attempts[job.id] == 1, attempts
        assert only_queue_keys(client), sorted(client.keys())

        valid = {**TICKET_BASE, "account_id": "zz-valid", "created_at": (utc_now() - timedelta(hours=1)).isoformat()}
        Engine(client).upsert_user("zz-valid", "max", Role.MANAGER, utc_now())  # set up: not refused as unknown
        good = queue.enqueue(PROCESS_TICKET, valid)
        make_worker(client).work(burst=True)
        assert Job.fetch(good.id, connection=client, serializer=SERIALIZER).get_status() == "finished"
        assert Queries(client).ticket("zz-valid", "t-1") is not None
    finally:
        client.close()


def test_one_worker_run_decides_the_valid_job_queued_behind_bad_ones() -> None:
    TRIED["worker job"] += 4
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    for payload in ("garbage", None, {**TICKET_BASE, "channel": "fax"}):
        queue.enqueue(PROCESS_TICKET, payload)
    Engine(client).upsert_user(TICKET_BASE["account_id"], "max", Role.MANAGER, utc_now())  # a set-up account
    good = queue.enqueue(PROCESS_TICKET, {**TICKET_BASE, "created_at": (utc_now() - timedelta(hours=1)).isoformat()})
    make_worker(client).work(burst=True)
    assert Job.fetch(good.id, connection=client, serializer=SERIALIZER).get_status() == "finished"
    assert len(FailedJobRegistry(QUEUE_NAME, connection=client, serializer=SERIALIZER)) == 3
    client.close()


# --------------------------------------------------------------------------------------------------
# 4. The CLI, in-process, against the session's real Redis
# --------------------------------------------------------------------------------------------------

cli_text = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=24)
"""Anything argv can carry (no NUL; no lone surrogates)."""
cli_huge = st.sampled_from(["x" * 600, "a" * 129, "é" * 501])
cli_ids = st.one_of(
    st.just("acme"),
    st.sampled_from(["acme", "olivia", "ana", "vic", "ghost", "bad:id", "ac{me}", "", "a" * 129, "-x", "--help"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,10}", fullmatch=True),
    cli_text,
)
cli_users = st.one_of(st.sampled_from(["olivia", "ana", "ben", "vic", "ghost"]), st.just("olivia"), cli_ids)
cli_timestamps = st.one_of(
    timestamp_strings.map(lambda s: s.replace("\x00", "")),
    cli_text,
)
cli_specs = st.one_of(
    st.sampled_from(["mon-fri 09:00-17:00", "fri-mon 22:00-02:00", "sat 10:00-14:00"]),
    st.sampled_from(
        [
            "mon-fri 09:00-17:00",
            "mon,wed,fri 09:00-12:00 13:00-17:30",
            "fri-mon 22:00-02:00",
            "daily 00:00-24:00",
            "DAILY 00:00-24:00",
            "",
            "mon",
            "funday 09:00-17:00",
            "mon 09:00-09:00",
            "mon 24:00-01:00",
            "- 09:00-17:00",
            "mon- 09:00-17:00",
            ",, 09:00-17:00",
            "mon 9:00-17:00",
            "mon 09:00-17:00 junk",
        ]
    ),
    st.builds(
        lambda days, times: f"{days} {times}",
        st.sampled_from(["mon", "sun-mon", "mon,tue", "daily", "x", "mon-"]) | cli_text,
        interval_strings.map(lambda s: s.replace("\x00", "")),
    ),
    cli_text,
)
cli_zones = st.one_of(
    st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]),
    st.sampled_from(["UTC", "Europe/Berlin", "Nowhere/Atlantis", "America", "../etc", "/etc/passwd", "", "Etc/"]),
    cli_text,
)
cli_dates = st.one_of(
    st.dates().map(date.isoformat),
    st.sampled_from(["2026-02-30", "2026-12-25T00:00", "25.12.2026", "", " 2026-12-25 "]),
    cli_text,
)

cli_durations = st.one_of(
    st.sampled_from(["15m", "90s", "1h30m", "2h", "1d"]),
    st.sampled_from(["0s", "-5m", "+5m", "1.5h", "10", "5x", "", "15M", "30m1h", "15 m", "400d", "h", "--off"]),
    st.text(alphabet="0123456789.smhdx+- ", max_size=8),
    cli_text,
)


def maybe(option: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), values.map(lambda v: [option, v]))


def required(option: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """Usually given (a missing required option is only one kind of usage error)."""
    return st.one_of(values.map(lambda v: [option, v]), values.map(lambda v: [option, v]), st.just([]))


def valid_or(valid: list[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Two times in three a valid choice, else anything: enough valid calls to reach the engine."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), other)


def repeated(option: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(values, max_size=3).map(lambda vs: [part for v in vs for part in (option, v)])


def concat(*parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*parts).map(lambda lists: [item for part in lists for item in part])


def one(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return values.map(lambda v: [v])


stray: st.SearchStrategy[list[str]] = st.one_of(
    st.just([]), st.just([]), st.just([]), one(cli_text), st.just(["--bogus"])
)
"""Now and then an extra argument or an unknown option (usage errors)."""

CLI_COMMANDS: dict[str, st.SearchStrategy[list[str]]] = {
    "ticket": concat(
        st.just(["ticket"]),
        one(cli_ids),
        one(cli_ids),
        required("--channel", valid_or(["email", "webchat", "sms", "social"], st.sampled_from(["fax", ""]) | cli_text)),
        maybe("--created-at", cli_timestamps),
        maybe("--subject", st.one_of(cli_text, cli_huge)),
        stray,
    ),
    "first-reply": concat(
        st.just(["first-reply"]),
        one(cli_ids),
        one(cli_ids),
        required("--agent", cli_users),
        maybe("--at", cli_timestamps),
        stray,
    ),
    "status": concat(
        st.just(["status"]),
        one(cli_ids),
        one(cli_users),
        one(valid_or(["online", "offline"], st.sampled_from(["Online", "away"]) | cli_text)),
        maybe("--actor", cli_users),
        stray,
    ),
    "user": concat(
        st.just(["user"]),
        one(cli_ids),
        one(cli_users),
        required("--role", valid_or([r.value for r in Role], st.sampled_from(["god", "OWNER"]) | cli_text)),
        stray,
    ),
    "round-robin": concat(
        st.just(["round-robin"]),
        one(cli_ids),
        one(valid_or(["on", "off"], st.sampled_from(["ON", "yes"]) | cli_text)),
        required("--actor", cli_users),
        stray,
    ),
    "presence": concat(
        st.just(["presence"]),
        one(cli_ids),
        maybe("--timeout", cli_durations),
        st.sampled_from([[], [], ["--off"]]),
        required("--actor", cli_users),
        stray,
    ),
    "heartbeat": concat(st.just(["heartbeat"]), one(cli_ids), one(cli_users), stray),
    "office-hours": concat(
        st.just(["office-hours"]),
        one(cli_ids),
        required("--timezone", cli_zones),
        repeated("--hours", cli_specs),
        repeated("--closed", cli_dates),
        st.sampled_from([[], [], [], ["--clear"]]),
        required("--actor", cli_users),
        stray,
    ),
}


def seed(url: str) -> redis.Redis:
    """Flush, then an account with an owner, two agents (one online), a viewer and round robin on."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    engine = Engine(client)
    engine.upsert_user("acme", "olivia", Role.OWNER, NOW)
    engine.upsert_user("acme", "ana", Role.AGENT, NOW)
    engine.upsert_user("acme", "ben", Role.AGENT, NOW)
    engine.upsert_user("acme", "vic", Role.VIEWER, NOW)
    engine.set_round_robin("acme", True, "olivia", NOW)
    return client


def snapshot(client: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialised value (DUMP): equal snapshots mean nothing changed."""
    return {key: client.dump(key) for key in sorted(client.scan_iter(count=1000))}


def run_cli(url: str, args: list[str]) -> Result:
    """Run one CLI command on a seeded account and check the exit contract; returns the result so a
    caller can also assert which of 0, 1 or 2 it was."""
    client = seed(url)
    try:
        before = snapshot(client)
        with logging_restored():
            result = CliRunner().invoke(cli, ["--redis-url", url, *args], catch_exceptions=False)
        assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
        if result.exit_code == 0:
            ACCEPTED[f"cli {args[0]}"] += 1
            return result
        assert "Traceback" not in result.output, (args, result.output)
        lines = [line for line in result.stderr.split("\n") if line.strip()]  # terminal lines: "\n" only
        assert lines, (args, result.output)
        if result.exit_code == 1:  # a refusal: our one line, last, in plain words
            assert lines[-1].startswith("error: "), (args, result.stderr)
            assert sum(line.startswith("error") for line in lines) == 1, (args, result.stderr)
            assert_plain(lines[-1], args)
        else:  # a usage error: exactly one line, "Error: ..." (worker.cli.OneLineErrors)
            assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.stderr)
            assert_plain(lines[0], args)
        assert snapshot(client) == before, (args, result.stderr)
        return result
    finally:
        client.close()


CLI_SETTINGS = settings(max_examples=40, deadline=None)


@pytest.mark.parametrize("command", sorted(CLI_COMMANDS))
def test_cli_exits_0_1_or_2_with_one_line_and_refusals_change_nothing(redis_url: str, command: str) -> None:
    @CLI_SETTINGS
    @given(args=CLI_COMMANDS[command])
    def check(args: list[str]) -> None:
        TRIED[f"cli {command}"] += 1
        run_cli(redis_url, args)

    check()


# --------------------------------------------------------------------------------------------------
# Bugs found by the fuzzing, pinned (strict: each fails loudly once fixed, so the marker is removed)
# --------------------------------------------------------------------------------------------------

EDGE_OF_TIME = ["0001-01-01T01:00:00+05:00", "9999-12-31T23:00:00-05:00"]
"""Valid ISO timestamps whose UTC equivalent is outside ``datetime``'s range."""


@pytest.mark.parametrize("created_at", EDGE_OF_TIME)
def test_aware_datetime_at_the_edge_of_time_is_refused_not_a_crash(created_at: str) -> None:
    TRIED["pinned"] += 1
    with pytest.raises(ValidationError, match="created_at"):
        TicketCreated.model_validate({**TICKET_BASE, "created_at": created_at}, context=CONTEXT)


def test_adapter_refuses_a_webhook_timestamp_at_the_edge_of_time() -> None:
    TRIED["pinned"] += 1
    base, _ = WEBHOOKS[Channel.SMS]
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    with pytest.raises(ValidationError, match="received_at"):
        ADAPTERS[Channel.SMS].enqueue("acme", {**base, "received_at": EDGE_OF_TIME[0]}, client, now=NOW)
    assert client.dbsize() == 0


def test_worker_fails_an_edge_of_time_job_once_as_invalid() -> None:
    TRIED["pinned"] += 1
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    job = queue.enqueue(PROCESS_TICKET, {**TICKET_BASE, "created_at": EDGE_OF_TIME[0]}, retry=Retry(max=3))
    with counting_attempts() as attempts:
        make_worker(client).work(burst=True)
    assert Job.fetch(job.id, connection=client, serializer=SERIALIZER).get_status() == "failed"
    assert "InvalidJob" in list_failed(client)[0].reason  # today: "OverflowError: date value out of range"
    assert attempts[job.id] == 1  # today: 4 (retried 3 times)


@pytest.mark.parametrize("created_at", EDGE_OF_TIME)
def test_cli_refuses_an_edge_of_time_created_at_with_one_line(redis_url: str, created_at: str) -> None:
    TRIED["pinned"] += 1
    result = run_cli(redis_url, ["ticket", "acme", "t1", "--channel", "email", "--created-at", created_at])
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = [line for line in result.stderr.split("\n") if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: created_at: ") and "out of range" in lines[0], result.stderr


@pytest.mark.parametrize(
    "interval",
    [
        "0٩:00-17:00",  # ARABIC-INDIC DIGIT NINE
        {"start": "0٩:00", "end": "1٧:00"},
        {"start": "09:00\n", "end": "17:00"},  # `$` matches before a trailing newline
        {"start": "09:00", "end": "17:00\n"},
    ],
)
def test_interval_times_are_ascii_hh_mm_only(interval: Any) -> None:
    TRIED["pinned"] += 1
    with pytest.raises(ValidationError):
        TimeInterval.model_validate(interval)


def test_cli_refuses_non_ascii_digits_in_hours(redis_url: str) -> None:
    TRIED["pinned"] += 1
    client = seed(redis_url)
    before = snapshot(client)
    args = ["office-hours", "acme", "--timezone", "UTC", "--hours", "mon 0٩:00-17:00", "--actor", "olivia"]
    with logging_restored():
        result = CliRunner().invoke(cli, ["--redis-url", redis_url, *args], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert snapshot(client) == before
    client.close()


@pytest.mark.parametrize("key", ["\r", "x\ny", "\u2028"])
def test_failed_reason_of_a_payload_with_a_line_break_in_a_key_still_says_invalid_job(key: str) -> None:
    TRIED["pinned"] += 1
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    job = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).enqueue(
        PROCESS_TICKET, {**TICKET_BASE, key: None}
    )
    make_worker(client).work(burst=True)
    assert Job.fetch(job.id, connection=client, serializer=SERIALIZER).get_status() == "failed"
    [row] = list_failed(client)
    assert "InvalidJob" in row.reason, row.reason


# --------------------------------------------------------------------------------------------------


def test_zz_report_how_many_inputs_were_tried(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last (file order): the total goes into docs/RELIABILITY.md."""
    fuzzed = {k: v for k, v in TRIED.items() if k != "pinned"}
    total = sum(fuzzed.values())
    with capsys.disabled():
        print(f"\nfuzz: {total} generated inputs tried: " + ", ".join(f"{k}={v}" for k, v in sorted(fuzzed.items())))
        print("fuzz: of which accepted: " + ", ".join(f"{k}={v}" for k, v in sorted(ACCEPTED.items())))
    if len(TRIED) > 1:  # when the whole file ran (not a single test picked with -k)
        assert total > 0
