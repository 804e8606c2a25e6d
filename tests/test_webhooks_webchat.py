"""Our webchat widget's webhook (producers/webhooks/webchat.py): hex HMAC-SHA256(secret, timestamp + "." +
body), replays older than 5 minutes refused, the conversation mapped by the webchat adapter."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from producers.webhooks import BadSignature, InvalidPayload, derived_ticket_id, webchat_signature, webchat_ticket
from schemas.common import Channel

SECRET = "wc_5f0c8e2a9b7d4c1e"
NOW = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()) - 10)
CHAT = {"conversation_id": "conv-8812", "visitor_id": "v-4410", "visitor_name": "Sam", "first_message": "Hi\nhelp"}


def body(**changes: Any) -> bytes:
    return json.dumps({**CHAT, **changes}).encode()


def ticket(raw: bytes, stamp: str = STAMP) -> Any:
    return webchat_ticket("acme", SECRET, raw, stamp, webchat_signature(SECRET, stamp, raw), NOW)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    raw = body()
    expected = hmac.new(SECRET.encode(), STAMP.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert webchat_signature(SECRET, STAMP, raw) == expected


def test_a_verified_conversation_becomes_its_ticket_started_when_signed() -> None:
    made = ticket(body())
    assert made.channel is Channel.WEBCHAT
    assert made.ticket_id == derived_ticket_id("webchat", "conv-8812")
    assert made.created_at == NOW - timedelta(seconds=10)
    assert made.subject == "Hi"


def test_a_started_at_in_the_body_is_the_arrival_time() -> None:
    assert ticket(body(started_at="2026-11-24T10:58:00Z")).created_at == datetime(2026, 11, 24, 10, 58, tzinfo=UTC)


def test_the_widgets_retry_is_the_same_ticket() -> None:
    later = str(int(STAMP) + 5)
    assert ticket(body()).ticket_id == ticket(body(), later).ticket_id


@pytest.mark.parametrize(("stamp", "signature"), [(None, "ab"), (STAMP, None), ("", "ab"), (STAMP, "")])
def test_a_missing_header_is_refused_with_401(stamp: str | None, signature: str | None) -> None:
    with pytest.raises(BadSignature, match="missing X-Helpdesk-") as refused:
        webchat_ticket("acme", SECRET, body(), stamp, signature, NOW)
    assert refused.value.status == 401


def test_a_tampered_body_is_refused() -> None:
    raw = body()
    with pytest.raises(BadSignature, match="does not match"):
        webchat_ticket("acme", SECRET, body(visitor_name="Eve"), STAMP, webchat_signature(SECRET, STAMP, raw), NOW)


def test_a_moved_timestamp_is_refused() -> None:
    raw = body()
    with pytest.raises(BadSignature, match="does not match"):
        webchat_ticket("acme", SECRET, raw, str(int(STAMP) + 1), webchat_signature(SECRET, STAMP, raw), NOW)


def test_another_accounts_secret_is_refused() -> None:
    raw = body()
    with pytest.raises(BadSignature):
        webchat_ticket("acme", SECRET, raw, STAMP, webchat_signature("wc_other", STAMP, raw), NOW)


@pytest.mark.parametrize("age", [timedelta(minutes=5, seconds=1), timedelta(hours=1), -timedelta(minutes=6)])
def test_a_replay_older_than_five_minutes_is_refused(age: timedelta) -> None:
    with pytest.raises(BadSignature, match="refused as a replay"):
        ticket(body(), str(int((NOW - age).timestamp())))


def test_five_minutes_old_is_still_accepted() -> None:
    assert ticket(body(), str(int((NOW - timedelta(minutes=5)).timestamp()))).created_at == NOW - timedelta(minutes=5)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b"\xff\xfe", "body"),
        (body(ticket_id="W1"), "ticket_id"),
        (body(conversation_id=""), "conversation_id"),
        (body(visitr_id="typo"), "visitr_id"),
        (json.dumps({"conversation_id": "c1"}).encode(), "visitor_id"),
        (body(started_at="2026-11-24T10:58:00"), "started_at"),
        (body(started_at="2026-11-24T12:00:00Z"), "started_at"),
    ],
    ids=[
        "not json",
        "not an object",
        "not utf-8",
        "ticket id",
        "empty conversation",
        "unknown",
        "missing",
        "naive time",
        "future time",
    ],
)
def test_a_bad_field_is_named_and_makes_no_ticket(raw: bytes, field: str) -> None:
    with pytest.raises(InvalidPayload) as refused:
        ticket(raw)
    assert refused.value.status == 422
    assert field in refused.value.fields
