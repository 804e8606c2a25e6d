"""Mailgun inbound routes (producers/webhooks/mailgun.py): hex HMAC-SHA256(signing key, timestamp + token)
as Mailgun documents it, timestamps outside 5 minutes refused as replays, the verified form mapped by
the email adapter; bad signatures are 401, bad fields 422 named by Mailgun's field names."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from producers.webhooks import BadSignature, InvalidPayload, derived_ticket_id, mailgun_signature, mailgun_ticket
from producers.webhooks.mailgun import verify_mailgun
from schemas.common import Channel

KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()) - 30)
TOKEN = "3fa1e0f7a8a3c5b1b5e2d6a6c1f7e8d94bd0a3c1e5f72d8b6a"


def form(timestamp: str = STAMP, key: str = KEY, **changes: str) -> dict[str, str]:
    fields = {
        "sender": "jane@example.com",
        "recipient": "support@acme.example",
        "subject": "Invoice #42 is wrong\nsecond line",
        "Message-Id": "<CAF1234@mail.example.com>",
        "body-plain": "Hello",
        "timestamp": timestamp,
        "token": TOKEN,
    }
    fields["signature"] = mailgun_signature(key, timestamp, TOKEN)
    fields.update(changes)
    return fields


def test_the_signature_is_mailguns_algorithm() -> None:
    expected = hmac.new(KEY.encode(), (STAMP + TOKEN).encode(), hashlib.sha256).hexdigest()
    assert mailgun_signature(KEY, STAMP, TOKEN) == expected


def test_a_verified_email_becomes_its_ticket() -> None:
    ticket = mailgun_ticket("acme", KEY, form(), NOW)
    assert ticket.channel is Channel.EMAIL
    assert ticket.ticket_id == derived_ticket_id("mailgun", "<CAF1234@mail.example.com>")
    assert ticket.created_at == NOW - timedelta(seconds=30)
    assert ticket.subject == "Invoice #42 is wrong"


def test_mailguns_retry_of_a_delivery_is_the_same_ticket() -> None:
    later = str(int(STAMP) + 60)
    first = mailgun_ticket("acme", KEY, form(), NOW)
    again = mailgun_ticket("acme", KEY, form(timestamp=later, token=TOKEN), NOW)
    assert first.ticket_id == again.ticket_id


@pytest.mark.parametrize("missing", ["timestamp", "token", "signature"])
def test_a_missing_signature_part_is_refused_with_401(missing: str) -> None:
    fields = form()
    del fields[missing]
    with pytest.raises(BadSignature, match=f"missing {missing}") as refused:
        mailgun_ticket("acme", KEY, fields, NOW)
    assert refused.value.status == 401


def test_another_signing_key_is_refused() -> None:
    with pytest.raises(BadSignature, match="does not match"):
        mailgun_ticket("acme", KEY, form(key="key-someone-else"), NOW)


@pytest.mark.parametrize("field", ["token", "timestamp"])
def test_a_tampered_signed_field_is_refused(field: str) -> None:
    fields = form()
    fields[field] = fields[field][:-1] + ("1" if fields[field][-1] != "1" else "2")
    with pytest.raises(BadSignature, match="does not match"):
        mailgun_ticket("acme", KEY, fields, NOW)


@pytest.mark.parametrize("age", [timedelta(minutes=5, seconds=1), timedelta(days=3), -timedelta(minutes=5, seconds=1)])
def test_a_timestamp_outside_five_minutes_is_refused_as_a_replay(age: timedelta) -> None:
    stamp = str(int((NOW - age).timestamp()))
    with pytest.raises(BadSignature, match="more than 5 minutes from now") as refused:
        mailgun_ticket("acme", KEY, form(timestamp=stamp), NOW)
    assert refused.value.status == 401


@pytest.mark.parametrize("age", [timedelta(minutes=5), -timedelta(minutes=5), timedelta(0)])
def test_a_timestamp_within_five_minutes_is_accepted(age: timedelta) -> None:
    stamp = str(int((NOW - age).timestamp()))
    assert verify_mailgun(KEY, stamp, TOKEN, mailgun_signature(KEY, stamp, TOKEN), NOW) == NOW - age


@pytest.mark.parametrize("stamp", ["1.5e9", "-1", "１２３", "9" * 40])
def test_a_timestamp_that_is_not_whole_seconds_is_refused(stamp: str) -> None:
    with pytest.raises(BadSignature, match="not a Unix time"):
        mailgun_ticket("acme", KEY, form(timestamp=stamp), NOW)


def test_a_stale_delivery_with_a_bad_signature_says_signature() -> None:
    stale = str(int(STAMP) - 3600)
    with pytest.raises(BadSignature, match="does not match"):
        mailgun_ticket("acme", KEY, form(timestamp=stale, signature="0" * 64), NOW)


def test_a_missing_message_id_is_named() -> None:
    fields = form()
    del fields["Message-Id"]
    with pytest.raises(InvalidPayload) as refused:
        mailgun_ticket("acme", KEY, fields, NOW)
    assert refused.value.fields == ("Message-Id",)
    assert refused.value.status == 422


def test_bad_addresses_are_named_by_mailguns_fields() -> None:
    with pytest.raises(InvalidPayload) as refused:
        mailgun_ticket("acme", KEY, form(sender="not an address", recipient="nobody"), NOW)
    assert set(refused.value.fields) == {"sender", "recipient"}
    assert "is not an email address" in str(refused.value)
