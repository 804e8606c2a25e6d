"""Schemas: inbound models refuse bad input with a message naming the field; emitted events round-trip."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.common import ID_MAX_LENGTH, AgentStatus, AssignedReason, Channel, UnassignedReason, check_id
from schemas.events import (
    EVENT_MODELS,
    AgentStatusChanged,
    BaseEvent,
    SettingsChanged,
    TicketAssigned,
    TicketClosed,
    TicketReopened,
    TicketUnassigned,
    Toast,
    parse_event,
)
from schemas.export import export_json_schemas
from schemas.inbound import SUBJECT_MAX_LENGTH, AgentFirstReply, TicketCreated
from schemas.plain import shown

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
CONTEXT = {"now": NOW}
REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_SCHEMAS = REPO_ROOT / "docs" / "schemas"
EVENT_TYPES = (
    "ticket.created",
    "agent.first_reply",
    "ticket.assigned",
    "ticket.unassigned",
    "toast",
    "agent.status_changed",
    "settings.changed",
    "ticket.close",
    "ticket.reopen",
    "ticket.closed",
    "ticket.reopened",
    "ticket.customer_reply",
)
STRICT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
"""The id rule, written independently of ``schemas.common`` (``fullmatch``: no trailing-newline loophole)."""


def ticket_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "account_id": "acme",
        "ticket_id": "t-1",
        "channel": "email",
        "created_at": "2026-11-24T14:59:00.000Z",
        "subject": "Printer on fire",
    }
    data.update(overrides)
    return data


def reply_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "account_id": "acme",
        "ticket_id": "t-1",
        "agent_id": "ana",
        "replied_at": "2026-11-24T14:59:00.000Z",
    }
    data.update(overrides)
    return data


def refusal(model: type[BaseModel], data: dict[str, Any], context: dict[str, Any] | None = CONTEXT) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        model.model_validate(data, context=context)
    return excinfo.value


def assert_names_field(error: ValidationError, field: str) -> None:
    """The first error is located at ``field`` and the message a human reads names it."""
    assert error.errors()[0]["loc"][0] == field
    assert field in str(error)


# --- TicketCreated -----------------------------------------------------------------------------


def test_valid_ticket_is_accepted() -> None:
    ticket = TicketCreated.model_validate(ticket_data(), context=CONTEXT)
    assert ticket.type == "ticket.created"
    assert ticket.schema_version == "1"
    assert ticket.channel is Channel.EMAIL
    assert ticket.subject == "Printer on fire"


def test_ticket_created_at_with_offset_is_normalised_to_utc() -> None:
    ticket = TicketCreated.model_validate(ticket_data(created_at="2026-11-24T20:29:00+05:30"), context=CONTEXT)
    assert ticket.created_at == datetime(2026, 11, 24, 14, 59, tzinfo=UTC)
    assert ticket.created_at.tzinfo is UTC
    assert ticket.model_dump(mode="json")["created_at"] == "2026-11-24T14:59:00.000Z"


def test_ticket_unknown_channel_is_refused_naming_channel() -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(channel="fax")), "channel")


@pytest.mark.parametrize("field", ["account_id", "ticket_id"])
def test_ticket_empty_id_is_refused_naming_the_field(field: str) -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(**{field: ""})), field)


@pytest.mark.parametrize("field", ["account_id", "ticket_id"])
@pytest.mark.parametrize("bad_id", ["a{b", "a}b", "{acct}", "a:b", "a b", " ab", "ab\n", "a\tb", "-ab", "é"])
def test_ticket_id_with_key_breaking_character_is_refused_naming_the_field(field: str, bad_id: str) -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(**{field: bad_id})), field)


@pytest.mark.parametrize("field", ["account_id", "ticket_id"])
def test_ticket_too_long_id_is_refused_naming_the_field(field: str) -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(**{field: "a" * (ID_MAX_LENGTH + 1)})), field)


def test_ticket_id_of_maximum_length_is_accepted() -> None:
    ticket = TicketCreated.model_validate(ticket_data(ticket_id="a" * ID_MAX_LENGTH), context=CONTEXT)
    assert len(ticket.ticket_id) == ID_MAX_LENGTH


def test_ticket_naive_created_at_is_refused_naming_created_at() -> None:
    error = refusal(TicketCreated, ticket_data(created_at="2026-11-24T14:59:00"))
    assert_names_field(error, "created_at")
    assert "timezone-aware" in str(error)


def test_ticket_naive_datetime_object_is_refused_naming_created_at() -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(created_at=datetime(2026, 11, 24, 14, 59))), "created_at")


def test_ticket_created_at_more_than_five_minutes_ahead_of_context_now_is_refused() -> None:
    error = refusal(TicketCreated, ticket_data(created_at=NOW + timedelta(minutes=5, seconds=1)))
    assert_names_field(error, "created_at")
    assert "future" in str(error)


def test_ticket_created_at_exactly_five_minutes_ahead_is_accepted_as_clock_skew() -> None:
    ticket = TicketCreated.model_validate(ticket_data(created_at=NOW + timedelta(minutes=5)), context=CONTEXT)
    assert ticket.created_at == NOW + timedelta(minutes=5)


def test_ticket_future_check_is_judged_against_context_now_not_the_wall_clock() -> None:
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    data = ticket_data(created_at=long_ago + timedelta(minutes=10))
    assert_names_field(refusal(TicketCreated, data, context={"now": long_ago}), "created_at")


def test_ticket_future_check_without_context_uses_the_wall_clock() -> None:
    with freeze_time("2030-06-01T12:00:00Z"):
        error = refusal(TicketCreated, ticket_data(created_at="2030-06-01T12:05:01Z"), context=None)
        assert_names_field(error, "created_at")
        accepted = TicketCreated.model_validate(ticket_data(created_at="2030-06-01T12:04:59Z"))
    assert accepted.created_at == datetime(2030, 6, 1, 12, 4, 59, tzinfo=UTC)


def test_ticket_future_check_compares_instants_across_offsets() -> None:
    # 15:04 UTC written as 16:04+01:00 is within the skew even though its wall time is an hour ahead.
    ticket = TicketCreated.model_validate(ticket_data(created_at="2026-11-24T16:04:00+01:00"), context=CONTEXT)
    assert ticket.created_at == NOW + timedelta(minutes=4)


def test_ticket_oversized_subject_is_refused_naming_subject() -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(subject="x" * (SUBJECT_MAX_LENGTH + 1))), "subject")


def test_ticket_subject_of_maximum_length_is_accepted() -> None:
    ticket = TicketCreated.model_validate(ticket_data(subject="x" * SUBJECT_MAX_LENGTH), context=CONTEXT)
    assert ticket.subject == "x" * SUBJECT_MAX_LENGTH


def test_ticket_subject_surrounding_whitespace_is_stripped() -> None:
    ticket = TicketCreated.model_validate(ticket_data(subject="  Printer on fire \n"), context=CONTEXT)
    assert ticket.subject == "Printer on fire"


def test_ticket_subject_is_optional() -> None:
    data = ticket_data()
    del data["subject"]
    assert TicketCreated.model_validate(data, context=CONTEXT).subject is None


def test_ticket_unknown_field_is_refused_naming_it() -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(priority="high")), "priority")


@pytest.mark.parametrize("version", ["2", "0", 1, ""])
def test_ticket_wrong_schema_version_is_refused_naming_schema_version(version: object) -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(schema_version=version)), "schema_version")


def test_ticket_wrong_type_is_refused_naming_type() -> None:
    assert_names_field(refusal(TicketCreated, ticket_data(type="ticket.assigned")), "type")


@pytest.mark.parametrize("field", ["account_id", "ticket_id", "channel", "created_at"])
def test_ticket_missing_required_field_is_refused_naming_it(field: str) -> None:
    data = ticket_data()
    del data[field]
    assert_names_field(refusal(TicketCreated, data), field)


def test_ticket_is_frozen() -> None:
    ticket = TicketCreated.model_validate(ticket_data(), context=CONTEXT)
    with pytest.raises(ValidationError):
        ticket.subject = "changed"


def test_ticket_round_trips_through_json() -> None:
    ticket = TicketCreated.model_validate(ticket_data(), context=CONTEXT)
    assert TicketCreated.model_validate_json(ticket.model_dump_json(), context=CONTEXT) == ticket


# --- AgentFirstReply ---------------------------------------------------------------------------


def test_valid_first_reply_is_accepted_and_normalised_to_utc() -> None:
    reply = AgentFirstReply.model_validate(reply_data(replied_at="2026-11-24T09:59:00-05:00"), context=CONTEXT)
    assert reply.type == "agent.first_reply"
    assert reply.replied_at == datetime(2026, 11, 24, 14, 59, tzinfo=UTC)
    assert reply.replied_at.tzinfo is UTC


@pytest.mark.parametrize("field", ["account_id", "ticket_id", "agent_id"])
@pytest.mark.parametrize("bad_id", ["", "a{b", "a:b", "a b", "a" * (ID_MAX_LENGTH + 1)])
def test_first_reply_bad_id_is_refused_naming_the_field(field: str, bad_id: str) -> None:
    assert_names_field(refusal(AgentFirstReply, reply_data(**{field: bad_id})), field)


def test_first_reply_naive_replied_at_is_refused_naming_replied_at() -> None:
    assert_names_field(refusal(AgentFirstReply, reply_data(replied_at="2026-11-24T14:59:00")), "replied_at")


def test_first_reply_replied_at_more_than_five_minutes_ahead_is_refused() -> None:
    error = refusal(AgentFirstReply, reply_data(replied_at=NOW + timedelta(minutes=6)))
    assert_names_field(error, "replied_at")
    assert "future" in str(error)


def test_first_reply_future_check_without_context_uses_the_wall_clock() -> None:
    with freeze_time("2030-06-01T12:00:00Z"):
        assert_names_field(refusal(AgentFirstReply, reply_data(replied_at="2030-06-01T12:06:00Z"), None), "replied_at")


def test_first_reply_unknown_field_is_refused_naming_it() -> None:
    assert_names_field(refusal(AgentFirstReply, reply_data(channel="email")), "channel")


def test_first_reply_wrong_schema_version_is_refused_naming_schema_version() -> None:
    assert_names_field(refusal(AgentFirstReply, reply_data(schema_version="2")), "schema_version")


# --- check_id ----------------------------------------------------------------------------------


def test_check_id_returns_a_valid_id_unchanged() -> None:
    assert check_id("account_id", "acme.eu-1@x+y_z") == "acme.eu-1@x+y_z"


@pytest.mark.parametrize("bad_id", ["", "a:b", "{a}", "a b", "a" * (ID_MAX_LENGTH + 1)])
def test_check_id_refuses_with_a_message_naming_the_field_and_value(bad_id: str) -> None:
    with pytest.raises(ValueError, match=r"^team_id: ") as excinfo:
        check_id("team_id", bad_id)
    assert shown(bad_id) in str(excinfo.value)  # the value itself, or its first 40 characters and length
    assert str(excinfo.value).endswith("e.g. acme-support")


@given(st.one_of(st.text(), st.text(alphabet="aZ09._@+-{}: \n\té", max_size=ID_MAX_LENGTH + 4)))
def test_random_text_as_id_either_matches_the_id_rule_or_raises_validation_error(text: str) -> None:
    try:
        TicketCreated.model_validate(ticket_data(ticket_id=text), context=CONTEXT)
    except ValidationError as error:
        assert error.errors()[0]["loc"] == ("ticket_id",)
        assert not (STRICT_ID.fullmatch(text) and len(text) <= ID_MAX_LENGTH)
    else:
        assert STRICT_ID.fullmatch(text)
        assert 1 <= len(text) <= ID_MAX_LENGTH


# --- emitted events ----------------------------------------------------------------------------

OCCURRED = datetime(2026, 11, 24, 15, 0, 0, 123000, tzinfo=UTC)
SAMPLE_EVENTS: dict[str, BaseEvent] = {
    "ticket.assigned": TicketAssigned(
        account_id="acme",
        occurred_at=OCCURRED,
        ticket_id="t-1",
        channel=Channel.EMAIL,
        agent_id="ana",
        previous_agent_id="ben",
        reason=AssignedReason.BULK_TEAM,
        team_id="billing",
    ),
    "ticket.unassigned": TicketUnassigned(
        account_id="acme",
        occurred_at=OCCURRED,
        ticket_id="t-2",
        channel=Channel.WEBCHAT,
        reason=UnassignedReason.AFTER_HOURS,
        available_at=datetime(2026, 11, 25, 8, 0, tzinfo=UTC),
    ),
    "toast": Toast(account_id="acme", occurred_at=OCCURRED, user_id="ana", text="2 new tickets", ticket_ids=["a", "b"]),
    "agent.status_changed": AgentStatusChanged(
        account_id="acme", occurred_at=OCCURRED, user_id="ana", status=AgentStatus.ONLINE, actor_id=None
    ),
    "settings.changed": SettingsChanged(
        account_id="acme", occurred_at=OCCURRED, actor_id="max", changes={"round_robin": "on", "office_hours": None}
    ),
    "ticket.closed": TicketClosed(account_id="acme", occurred_at=OCCURRED, ticket_id="t-3", agent_id="ana"),
    "ticket.reopened": TicketReopened(account_id="acme", occurred_at=OCCURRED, ticket_id="t-3", agent_id=None),
}


def test_every_emitted_event_model_has_a_sample() -> None:
    assert {model.model_fields["type"].default for model in EVENT_MODELS} == set(SAMPLE_EVENTS)


@pytest.mark.parametrize("event_type", sorted(SAMPLE_EVENTS))
def test_emitted_event_round_trips_through_json_and_parse_event(event_type: str) -> None:
    event = SAMPLE_EVENTS[event_type]
    parsed = parse_event(event.model_dump_json())
    assert type(parsed) is type(event)
    assert parsed == event


@pytest.mark.parametrize("event_type", sorted(SAMPLE_EVENTS))
def test_parse_event_accepts_bytes(event_type: str) -> None:
    event = SAMPLE_EVENTS[event_type]
    assert parse_event(event.model_dump_json().encode()) == event


@pytest.mark.parametrize("event_type", sorted(SAMPLE_EVENTS))
def test_parse_event_picks_the_model_by_type(event_type: str) -> None:
    payload = SAMPLE_EVENTS[event_type].model_dump(mode="json")
    parsed = parse_event(json.dumps(payload))
    assert parsed.type == event_type
    assert type(parsed) is type(SAMPLE_EVENTS[event_type])


@pytest.mark.parametrize("event_type", sorted(SAMPLE_EVENTS))
def test_parse_event_ignores_unknown_fields_for_forward_compatibility(event_type: str) -> None:
    event = SAMPLE_EVENTS[event_type]
    payload = event.model_dump(mode="json") | {"added_in_v1_1": {"nested": [1, 2]}, "priority": "high"}
    parsed = parse_event(json.dumps(payload))
    assert parsed == event
    assert "added_in_v1_1" not in parsed.model_dump()


@pytest.mark.parametrize("event_type", sorted(SAMPLE_EVENTS))
def test_emitted_event_json_has_the_common_fields(event_type: str) -> None:
    payload = json.loads(SAMPLE_EVENTS[event_type].model_dump_json())
    assert payload["type"] == event_type
    assert payload["schema_version"] == "1"
    assert payload["account_id"] == "acme"
    assert payload["occurred_at"] == "2026-11-24T15:00:00.123Z"
    assert isinstance(payload["id"], str) and payload["id"]


def test_emitted_events_get_distinct_ids_by_default() -> None:
    first = Toast(account_id="acme", occurred_at=OCCURRED, user_id="ana", text="hi", ticket_ids=[])
    second = Toast(account_id="acme", occurred_at=OCCURRED, user_id="ana", text="hi", ticket_ids=[])
    assert first.id != second.id


def test_parse_event_refuses_an_unknown_type() -> None:
    payload = SAMPLE_EVENTS["toast"].model_dump(mode="json") | {"type": "ticket.exploded"}
    with pytest.raises(ValidationError):
        parse_event(json.dumps(payload))


def test_parse_event_refuses_a_missing_type() -> None:
    payload = SAMPLE_EVENTS["toast"].model_dump(mode="json")
    del payload["type"]
    with pytest.raises(ValidationError):
        parse_event(json.dumps(payload))


def test_parse_event_refuses_a_wrong_schema_version() -> None:
    payload = SAMPLE_EVENTS["toast"].model_dump(mode="json") | {"schema_version": "2"}
    with pytest.raises(ValidationError, match="schema_version"):
        parse_event(json.dumps(payload))


def test_emitted_event_occurred_at_is_normalised_to_utc() -> None:
    event = parse_event(
        SAMPLE_EVENTS["toast"].model_dump_json().replace("2026-11-24T15:00:00.123Z", "2026-11-24T16:00:00.123+01:00")
    )
    assert event.occurred_at == OCCURRED
    assert event.occurred_at.tzinfo is UTC


def test_emitted_event_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValidationError, match="occurred_at"):
        Toast(account_id="acme", occurred_at=datetime(2026, 11, 24, 15, 0), user_id="ana", text="hi", ticket_ids=[])


def test_unassigned_available_at_is_normalised_to_utc() -> None:
    event = TicketUnassigned(
        account_id="acme",
        occurred_at=OCCURRED,
        ticket_id="t-2",
        channel=Channel.WEBCHAT,
        reason=UnassignedReason.AFTER_HOURS,
        available_at=datetime(2026, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=1))),
    )
    assert event.available_at is not None
    assert event.available_at.tzinfo is UTC


def test_naive_context_now_gives_a_validation_error_not_a_type_error() -> None:
    with pytest.raises(ValidationError):
        TicketCreated.model_validate(ticket_data(), context={"now": datetime(2026, 11, 24, 15, 0)})


# --- JSON Schema export ------------------------------------------------------------------------


def test_export_writes_one_schema_file_per_event_type(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path)
    expected = sorted(tmp_path / f"{event_type}.schema.json" for event_type in EVENT_TYPES)
    assert written == expected
    assert sorted(tmp_path.iterdir()) == expected


def test_export_creates_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "schemas"
    export_json_schemas(target)
    assert len(list(target.glob("*.schema.json"))) == len(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_exported_schema_is_json_with_id_and_schema_version(tmp_path: Path, event_type: str) -> None:
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / f"{event_type}.schema.json").read_text(encoding="utf-8"))
    assert schema["$id"].endswith(f"/{event_type}.schema.json")
    assert "schema_version" in schema["properties"]
    assert schema["properties"]["type"]["const"] == event_type


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in export_json_schemas(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in export_json_schemas(tmp_path / "b")}
    assert first == second


def test_committed_docs_schemas_match_a_fresh_export(tmp_path: Path) -> None:
    fresh = {p.name: p.read_bytes() for p in export_json_schemas(tmp_path)}
    committed = {p.name: p.read_bytes() for p in DOCS_SCHEMAS.glob("*.schema.json")}
    assert committed == fresh, "docs/schemas is stale: run `helpdesk-rr schemas export docs/schemas`"
