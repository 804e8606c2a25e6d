"""Producers: channel adapters map webhook payloads to TicketCreated; bad input is refused before Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from pydantic import ValidationError
from rq import Queue
from rq.job import Job

from producers.adapter import RAW_TEXT_MAX_LENGTH
from producers.channels import ADAPTERS
from producers.queue import (
    MAX_BATCH,
    PROCESS_TICKET,
    QUEUE_NAME,
    SERIALIZER,
    build_ticket,
    enqueue,
    enqueue_many,
    ticket_job_id,
    ticket_queue,
)
from schemas.common import Channel, utc_iso
from schemas.inbound import SUBJECT_MAX_LENGTH, TicketCreated

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
ARRIVED = "2026-11-24T15:58:30+01:00"
"""14:58:30 UTC written with an offset: the adapters must normalise it."""
ARRIVED_UTC = datetime(2026, 11, 24, 14, 58, 30, tzinfo=UTC)

TIME_FIELD = {
    Channel.EMAIL: "received_at",
    Channel.WEBCHAT: "started_at",
    Channel.SMS: "received_at",
    Channel.SOCIAL: "created_time",
}
TEXT_FIELD = {Channel.WEBCHAT: "first_message", Channel.SMS: "body", Channel.SOCIAL: "text"}
"""Channels whose subject is the first non-empty line of a free-text field."""


def payload(channel: Channel, **overrides: Any) -> dict[str, Any]:
    """A raw webhook payload in the documented shape of each channel."""
    base: dict[Channel, dict[str, Any]] = {
        Channel.EMAIL: {
            "ticket_id": "em-100",
            "message_id": "<CAF=1234@mail.example.com>",
            "from_address": "jane.doe@example.com",
            "to_address": "support@acme.example",
            "subject": "Printer on fire",
            "received_at": ARRIVED,
        },
        Channel.WEBCHAT: {
            "ticket_id": "wc-100",
            "conversation_id": "conv_8f2a",
            "visitor_id": "visitor_77",
            "visitor_name": "Jane",
            "first_message": "\n   \n  Hi, my order is late  \nOrder #42",
            "started_at": ARRIVED,
        },
        Channel.SMS: {
            "ticket_id": "sms-100",
            "message_sid": "SM0123456789abcdef",
            "from_number": "+15551234567",
            "to_number": "+4930123456",
            "body": "Where is my parcel?\nSent from my phone",
            "received_at": ARRIVED,
        },
        Channel.SOCIAL: {
            "ticket_id": "so-100",
            "network": "instagram",
            "message_id": "17890000000000001",
            "author_handle": "@jane",
            "text": "\nLove the app but it crashes\n#help",
            "created_time": ARRIVED,
        },
    }
    data = base[channel]
    data.update(overrides)
    return data


def assert_nothing_enqueued(client: redis.Redis) -> None:
    assert ticket_queue(client).count == 0
    assert client.dbsize() == 0


@dataclass
class RedisTraffic:
    """What reached Redis: commands sent one by one, and the size of each pipeline executed."""

    direct: list[str] = field(default_factory=list)
    pipelines: list[int] = field(default_factory=list)


@pytest.fixture
def traffic(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisTraffic]:
    """Counts round trips on ``client`` by wrapping its own methods (Redis itself is real/fakeredis)."""
    seen = RedisTraffic()
    execute_command = client.execute_command
    make_pipeline = client.pipeline

    def counting_execute_command(*args: Any, **kwargs: Any) -> Any:
        seen.direct.append(str(args[0]).upper())
        return execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        execute = pipe.execute

        def counting_execute(*e_args: Any, **e_kwargs: Any) -> Any:
            seen.pipelines.append(len(pipe.command_stack))
            return execute(*e_args, **e_kwargs)

        monkeypatch.setattr(pipe, "execute", counting_execute)
        return pipe

    monkeypatch.setattr(client, "execute_command", counting_execute_command)
    monkeypatch.setattr(client, "pipeline", counting_pipeline)
    yield seen


def make_events(count: int, account_id: str = "acme") -> list[TicketCreated]:
    return [
        TicketCreated(
            account_id=account_id,
            ticket_id=f"t{i}",
            channel=Channel.SMS,
            created_at=NOW - timedelta(seconds=count - i),
        )
        for i in range(count)
    ]


# --- adapters: mapping -------------------------------------------------------------------------


def test_every_channel_has_an_adapter() -> None:
    assert set(ADAPTERS) == set(Channel)
    assert all(ADAPTERS[channel].channel is channel for channel in Channel)


def test_email_payload_maps_to_ticket_created() -> None:
    ticket = ADAPTERS[Channel.EMAIL].to_ticket("acme", payload(Channel.EMAIL, subject="  Printer on fire "), now=NOW)
    assert ticket == TicketCreated(
        account_id="acme", ticket_id="em-100", channel=Channel.EMAIL, created_at=ARRIVED_UTC, subject="Printer on fire"
    )


def test_email_without_subject_maps_to_no_subject() -> None:
    data = payload(Channel.EMAIL)
    del data["subject"]
    assert ADAPTERS[Channel.EMAIL].to_ticket("acme", data, now=NOW).subject is None


def test_webchat_payload_maps_to_ticket_created_with_first_message_line_as_subject() -> None:
    ticket = ADAPTERS[Channel.WEBCHAT].to_ticket("acme", payload(Channel.WEBCHAT), now=NOW)
    assert ticket == TicketCreated(
        account_id="acme",
        ticket_id="wc-100",
        channel=Channel.WEBCHAT,
        created_at=ARRIVED_UTC,
        subject="Hi, my order is late",
    )


def test_sms_payload_maps_to_ticket_created_with_first_body_line_as_subject() -> None:
    ticket = ADAPTERS[Channel.SMS].to_ticket("acme", payload(Channel.SMS), now=NOW)
    assert ticket == TicketCreated(
        account_id="acme",
        ticket_id="sms-100",
        channel=Channel.SMS,
        created_at=ARRIVED_UTC,
        subject="Where is my parcel?",
    )


def test_social_payload_maps_to_ticket_created_with_first_text_line_as_subject() -> None:
    ticket = ADAPTERS[Channel.SOCIAL].to_ticket("acme", payload(Channel.SOCIAL), now=NOW)
    assert ticket == TicketCreated(
        account_id="acme",
        ticket_id="so-100",
        channel=Channel.SOCIAL,
        created_at=ARRIVED_UTC,
        subject="Love the app but it crashes",
    )


@pytest.mark.parametrize("channel", list(Channel))
def test_created_at_comes_from_the_channel_time_field_in_utc(channel: Channel) -> None:
    data = payload(channel, **{TIME_FIELD[channel]: "2026-11-24T09:30:00-05:00"})
    ticket = ADAPTERS[channel].to_ticket("acme", data, now=NOW)
    assert ticket.created_at == datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    assert ticket.created_at.tzinfo is UTC


@pytest.mark.parametrize("channel", list(TEXT_FIELD))
def test_long_first_line_is_cut_to_the_subject_limit(channel: Channel) -> None:
    data = payload(channel, **{TEXT_FIELD[channel]: "y" * (SUBJECT_MAX_LENGTH + 100) + "\nsecond line"})
    assert ADAPTERS[channel].to_ticket("acme", data, now=NOW).subject == "y" * SUBJECT_MAX_LENGTH


@pytest.mark.parametrize("channel", list(TEXT_FIELD))
def test_blank_text_maps_to_no_subject(channel: Channel) -> None:
    data = payload(channel, **{TEXT_FIELD[channel]: " \n\t\n  "})
    assert ADAPTERS[channel].to_ticket("acme", data, now=NOW).subject is None


def test_webchat_without_first_message_maps_to_no_subject() -> None:
    data = payload(Channel.WEBCHAT)
    del data["first_message"]
    assert ADAPTERS[Channel.WEBCHAT].to_ticket("acme", data, now=NOW).subject is None


def test_adapter_enqueue_puts_the_mapped_ticket_on_the_queue(client: redis.Redis) -> None:
    job = ADAPTERS[Channel.SMS].enqueue("acme", payload(Channel.SMS), client, now=NOW)
    expected = ADAPTERS[Channel.SMS].to_ticket("acme", payload(Channel.SMS), now=NOW)
    assert ticket_queue(client).job_ids == [job.id]
    assert Job.fetch(job.id, connection=client, serializer=SERIALIZER).args[0] == expected.model_dump(mode="json")


# --- adapters: refusals (and nothing enqueued) -------------------------------------------------


def required_fields(channel: Channel) -> list[str]:
    model = ADAPTERS[channel].payload_model
    return [name for name, info in model.model_fields.items() if info.is_required()]


def assert_refused_naming(
    client: redis.Redis, channel: Channel, data: dict[str, Any], field_name: str, account_id: str = "acme"
) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        ADAPTERS[channel].enqueue(account_id, data, client, now=NOW)
    error = excinfo.value
    assert error.errors()[0]["loc"][0] == field_name
    assert field_name in str(error)
    assert_nothing_enqueued(client)
    return error


@pytest.mark.parametrize("channel", list(Channel))
def test_adapter_refuses_an_unknown_field_and_enqueues_nothing(client: redis.Redis, channel: Channel) -> None:
    assert_refused_naming(client, channel, payload(channel, priority="urgent"), "priority")


@pytest.mark.parametrize(
    ("channel", "missing"), [(channel, name) for channel in Channel for name in required_fields(channel)]
)
def test_adapter_refuses_a_missing_required_field_and_enqueues_nothing(
    client: redis.Redis, channel: Channel, missing: str
) -> None:
    data = payload(channel)
    del data[missing]
    assert_refused_naming(client, channel, data, missing)


@pytest.mark.parametrize("field_name", ["from_number", "to_number"])
@pytest.mark.parametrize(
    "bad_number", ["15551234567", "+0551234567", "+1 555 123 4567", "+1-555-123-4567", "+12345", "+1" + "2" * 15, ""]
)
def test_sms_adapter_refuses_a_bad_phone_number_and_enqueues_nothing(
    client: redis.Redis, field_name: str, bad_number: str
) -> None:
    assert_refused_naming(client, Channel.SMS, payload(Channel.SMS, **{field_name: bad_number}), field_name)


@pytest.mark.parametrize("field_name", ["from_address", "to_address"])
@pytest.mark.parametrize("bad_address", ["jane.example.com", "jane@@example.com", "a@b@c", "jane doe@x.com", "@", ""])
def test_email_adapter_refuses_a_bad_email_address_and_enqueues_nothing(
    client: redis.Redis, field_name: str, bad_address: str
) -> None:
    assert_refused_naming(client, Channel.EMAIL, payload(Channel.EMAIL, **{field_name: bad_address}), field_name)


@pytest.mark.parametrize("channel", list(Channel))
def test_adapter_refuses_a_future_time_and_enqueues_nothing(client: redis.Redis, channel: Channel) -> None:
    future = (NOW + timedelta(minutes=10)).isoformat()
    data = payload(channel, **{TIME_FIELD[channel]: future})
    error = assert_refused_naming(client, channel, data, TIME_FIELD[channel])
    assert "future" in str(error)


@pytest.mark.parametrize("channel", list(Channel))
def test_adapter_refuses_a_naive_time_and_enqueues_nothing(client: redis.Redis, channel: Channel) -> None:
    data = payload(channel, **{TIME_FIELD[channel]: "2026-11-24T14:58:30"})
    error = assert_refused_naming(client, channel, data, TIME_FIELD[channel])
    assert "timezone-aware" in str(error)


@pytest.mark.parametrize("channel", list(Channel))
def test_adapter_refuses_a_bad_ticket_id_and_enqueues_nothing(client: redis.Redis, channel: Channel) -> None:
    assert_refused_naming(client, channel, payload(channel, ticket_id="acme:{t1}"), "ticket_id")


@pytest.mark.parametrize("channel", list(Channel))
def test_adapter_refuses_a_bad_account_id_and_enqueues_nothing(client: redis.Redis, channel: Channel) -> None:
    assert_refused_naming(client, channel, payload(channel), "account_id", account_id="ac me")


def test_email_adapter_cuts_a_long_subject_to_the_subject_limit() -> None:
    data = payload(Channel.EMAIL, subject="s" * (SUBJECT_MAX_LENGTH + 1))
    assert ADAPTERS[Channel.EMAIL].to_ticket("acme", data, now=NOW).subject == "s" * SUBJECT_MAX_LENGTH


def test_email_adapter_refuses_a_subject_beyond_the_raw_text_limit_and_enqueues_nothing(client: redis.Redis) -> None:
    data = payload(Channel.EMAIL, subject="s" * (RAW_TEXT_MAX_LENGTH + 1))
    assert_refused_naming(client, Channel.EMAIL, data, "subject")


def test_social_adapter_refuses_an_unknown_network_and_enqueues_nothing(client: redis.Redis) -> None:
    assert_refused_naming(client, Channel.SOCIAL, payload(Channel.SOCIAL, network="myspace"), "network")


def test_adapter_future_check_without_now_uses_the_wall_clock() -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with pytest.raises(ValidationError, match="received_at"):
        ADAPTERS[Channel.SMS].to_ticket("acme", payload(Channel.SMS, received_at=future))


# --- enqueue -----------------------------------------------------------------------------------


def test_enqueue_puts_one_job_on_the_helpdesk_queue(client: redis.Redis) -> None:
    event = make_events(1)[0]
    job = enqueue(event, client)
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    assert QUEUE_NAME == "helpdesk-rr"
    assert queue.count == 1
    assert queue.job_ids == [job.id]


def test_enqueued_job_carries_the_event_json_and_the_worker_function(client: redis.Redis) -> None:
    event = make_events(1)[0]
    job = Job.fetch(enqueue(event, client).id, connection=client, serializer=SERIALIZER)
    assert job.func_name == PROCESS_TICKET == "worker.jobs.process_ticket"
    assert job.args[0] == event.model_dump(mode="json")
    assert job.args[0]["created_at"] == utc_iso(event.created_at)
    assert job.origin == QUEUE_NAME


def test_enqueued_event_validates_back_into_the_same_ticket(client: redis.Redis) -> None:
    event = make_events(1)[0]
    job = Job.fetch(enqueue(event, client).id, connection=client, serializer=SERIALIZER)
    assert TicketCreated.model_validate(job.args[0], context={"now": NOW}) == event


def test_enqueue_refuses_a_raw_dict_and_sends_nothing(client: redis.Redis, traffic: RedisTraffic) -> None:
    raw = make_events(1)[0].model_dump(mode="json")
    with pytest.raises(TypeError, match="TicketCreated"):
        enqueue(raw, client)  # type: ignore[arg-type]
    assert traffic.direct == [] and traffic.pipelines == []
    assert_nothing_enqueued(client)


# --- enqueue_many ------------------------------------------------------------------------------


def test_enqueue_many_of_500_events_enqueues_500_jobs(client: redis.Redis) -> None:
    events = make_events(500)
    jobs = enqueue_many(events, client)
    assert len(jobs) == 500
    assert ticket_queue(client).count == 500
    assert ticket_queue(client).job_ids == [job.id for job in jobs]


def test_enqueue_many_jobs_carry_each_event_in_order(client: redis.Redis) -> None:
    events = make_events(500)
    jobs = enqueue_many(events, client)
    fetched = Job.fetch_many([job.id for job in jobs], connection=client, serializer=SERIALIZER)
    assert [job.args[0] for job in fetched if job is not None] == [e.model_dump(mode="json") for e in events]
    assert {job.func_name for job in fetched if job is not None} == {PROCESS_TICKET}


def test_enqueue_many_of_500_events_writes_in_a_single_pipeline(client: redis.Redis, traffic: RedisTraffic) -> None:
    enqueue_many(make_events(500), client)
    assert len(traffic.pipelines) == 1
    assert traffic.pipelines[0] >= 500  # every job's writes travel in that one pipeline
    # rq reads the server version (INFO) once per Queue; no write goes outside the pipeline.
    assert set(traffic.direct) <= {"INFO"}
    assert len(traffic.direct) <= 1


def test_enqueue_many_on_real_redis_runs_one_transaction(real_redis: redis.Redis) -> None:
    def exec_calls() -> int:
        stats = real_redis.info("commandstats")
        return int(stats.get("cmdstat_exec", {}).get("calls", 0))

    before = exec_calls()
    enqueue_many(make_events(500), real_redis)
    assert exec_calls() - before == 1
    assert ticket_queue(real_redis).count == 500


def test_enqueued_once_a_ticket_whose_job_exists_gets_that_job_and_nothing_more(client: redis.Redis) -> None:
    first, second, third = make_events(3)
    job = enqueue(first, client, once=True)
    assert job.id == ticket_job_id(first) and job.id.startswith("ticket-")
    assert enqueue(first, client, once=True).id == job.id
    jobs = enqueue_many([second, first, third, second], client, once=True)
    assert [j.id for j in jobs] == [ticket_job_id(e) for e in (second, first, third, second)]
    assert ticket_queue(client).job_ids == [ticket_job_id(e) for e in (first, second, third)]
    client.delete(Job.key_for(job.id))  # its result expired: enqueued again, with the same id
    assert enqueue(first, client, once=True).id == job.id
    assert ticket_queue(client).count == 4


def test_once_ids_differ_by_account_and_ticket_and_are_valid_rq_ids() -> None:
    ids = {ticket_job_id(e) for e in make_events(50) + make_events(50, account_id="globex")}
    assert len(ids) == 100
    assert all(len(i) == 47 and i.replace("-", "").isalnum() for i in ids)


def test_enqueue_many_refuses_a_non_ticket_item_before_sending_anything(
    client: redis.Redis, traffic: RedisTraffic
) -> None:
    events: list[Any] = make_events(3)
    events.insert(2, events[0].model_dump(mode="json"))
    with pytest.raises(TypeError, match=r"events\[2\]"):
        enqueue_many(events, client)
    assert traffic.direct == [] and traffic.pipelines == []
    assert_nothing_enqueued(client)


def test_enqueue_many_refuses_more_than_max_batch_before_sending_anything(
    client: redis.Redis, traffic: RedisTraffic
) -> None:
    event = make_events(1)[0]
    with pytest.raises(ValueError, match=str(MAX_BATCH)):
        enqueue_many([event] * (MAX_BATCH + 1), client)
    assert traffic.direct == [] and traffic.pipelines == []
    assert_nothing_enqueued(client)


def test_enqueue_many_accepts_a_generator(client: redis.Redis) -> None:
    jobs = enqueue_many((event for event in make_events(3)), client)
    assert len(jobs) == 3
    assert ticket_queue(client).count == 3


def test_enqueue_many_of_nothing_sends_nothing(client: redis.Redis, traffic: RedisTraffic) -> None:
    assert enqueue_many([], client) == []
    assert traffic.direct == [] and traffic.pipelines == []
    assert_nothing_enqueued(client)


# --- build_ticket ------------------------------------------------------------------------------


def raw_ticket(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "account_id": "acme",
        "ticket_id": "t-1",
        "channel": "webchat",
        "created_at": "2026-11-24T14:59:00Z",
    }
    data.update(overrides)
    return data


def test_build_ticket_validates_a_good_dict() -> None:
    ticket = build_ticket(raw_ticket(), now=NOW)
    assert ticket == TicketCreated(
        account_id="acme", ticket_id="t-1", channel=Channel.WEBCHAT, created_at=NOW - timedelta(minutes=1)
    )


def test_build_ticket_returns_a_ticket_unchanged() -> None:
    ticket = make_events(1)[0]
    assert build_ticket(ticket) is ticket


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"account_id": ""}, "account_id"),
        ({"ticket_id": "a:b"}, "ticket_id"),
        ({"channel": "fax"}, "channel"),
        ({"created_at": "2026-11-24T14:59:00"}, "created_at"),
        ({"created_at": "2026-11-24T15:06:00Z"}, "created_at"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"subject": "s" * (SUBJECT_MAX_LENGTH + 1)}, "subject"),
        ({"schema_version": "2"}, "schema_version"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_build_ticket_refuses_a_bad_dict_naming_the_field(overrides: dict[str, Any], field_name: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        build_ticket(raw_ticket(**overrides), now=NOW)
    assert excinfo.value.errors()[0]["loc"][0] == field_name


@pytest.mark.parametrize("missing", ["account_id", "ticket_id", "channel", "created_at"])
def test_build_ticket_refuses_a_dict_missing_a_required_field(missing: str) -> None:
    data = raw_ticket()
    del data[missing]
    with pytest.raises(ValidationError, match=missing):
        build_ticket(data, now=NOW)
