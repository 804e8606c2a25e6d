"""Meta's Messenger/Instagram webhook (producers/webhooks/meta.py): the GET handshake, ``X-Hub-Signature-256``
over the raw body, and one ticket per customer message of a delivery (echoes and receipts make none)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from producers.webhooks import (
    BadSignature,
    BadVerifyToken,
    InvalidPayload,
    derived_ticket_id,
    meta_signature,
    meta_tickets,
    verify_subscription,
)
from schemas.common import Channel

SECRET = "6c1d0f3e9b8a7c6d5e4f3a2b1c0d9e8f"
VERIFY = "acme-verify-7781"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MS = int(NOW.timestamp() * 1000) - 2000


def event(mid: str, text: str = "Hello", sender: str = "2401", **message: Any) -> dict[str, Any]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": "PAGE1"},
        "timestamp": MS,
        "message": {"mid": mid, "text": text, **message},
    }


def delivery(*entries: list[dict[str, Any]], kind: str = "page") -> bytes:
    body = {"object": kind, "entry": [{"id": "PAGE1", "time": MS, "messaging": list(e)} for e in entries]}
    return json.dumps(body, ensure_ascii=False).encode()


def tickets(body: bytes) -> list[Any]:
    return meta_tickets("acme", SECRET, body, meta_signature(SECRET, body), NOW)


def test_the_handshake_answers_the_challenge() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    assert verify_subscription(query, VERIFY) == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
        {},
    ],
    ids=["wrong token", "no token", "wrong mode", "nothing"],
)
def test_a_handshake_without_our_token_is_refused_with_403(query: dict[str, str]) -> None:
    with pytest.raises(BadVerifyToken) as refused:
        verify_subscription(query, VERIFY)
    assert refused.value.status == 403


def test_a_handshake_without_a_challenge_is_a_named_422() -> None:
    with pytest.raises(InvalidPayload) as refused:
        verify_subscription({"hub.mode": "subscribe", "hub.verify_token": VERIFY}, VERIFY)
    assert refused.value.fields == ("hub.challenge",)


def test_the_signature_is_metas_algorithm() -> None:
    body = delivery([event("m_1")])
    assert meta_signature(SECRET, body) == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_one_delivery_with_several_messages_makes_one_ticket_each() -> None:
    body = delivery(
        [event("m_1", "Is the shop open?"), {"sender": {"id": "2401"}, "timestamp": MS, "delivery": {"mids": ["x"]}}],
        [event("m_2", "Wo ist mein Paket? 📦"), event("m_echo", is_echo=True), event("m_3", "")],
    )
    made = tickets(body)
    assert [t.ticket_id for t in made] == [derived_ticket_id("meta", mid) for mid in ("m_1", "m_2", "m_3")]
    assert {t.channel for t in made} == {Channel.SOCIAL}
    assert [t.subject for t in made] == ["Is the shop open?", "Wo ist mein Paket? 📦", None]
    assert {t.created_at for t in made} == {datetime.fromtimestamp(MS / 1000, UTC)}


def test_a_mid_repeated_within_a_delivery_is_one_ticket() -> None:
    assert len(tickets(delivery([event("m_1"), event("m_1")]))) == 1


def test_metas_retry_of_a_delivery_is_the_same_tickets() -> None:
    body = delivery([event("m_1"), event("m_2")])
    assert tickets(body) == tickets(body)


def test_instagram_deliveries_make_social_tickets_whatever_their_mid_looks_like() -> None:
    mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx/+=="
    (ticket,) = tickets(delivery([event(mid)], kind="instagram"))
    assert (ticket.channel, ticket.ticket_id) == (Channel.SOCIAL, derived_ticket_id("meta", mid))


def test_a_delivery_without_messages_makes_no_ticket() -> None:
    assert tickets(delivery([])) == []


@pytest.mark.parametrize("header", [None, "", "sha1=abc", "sha256=" + "0" * 64])
def test_a_missing_or_wrong_signature_is_refused_with_401(header: str | None) -> None:
    with pytest.raises(BadSignature) as refused:
        meta_tickets("acme", SECRET, delivery([event("m_1")]), header, NOW)
    assert refused.value.status == 401


def test_a_tampered_body_is_refused() -> None:
    body = delivery([event("m_1", "hi")])
    with pytest.raises(BadSignature, match="does not match"):
        meta_tickets("acme", SECRET, body.replace(b'"hi"', b'"ho"'), meta_signature(SECRET, body), NOW)


def test_the_signature_is_over_the_raw_bytes_not_the_json() -> None:
    body = delivery([event("m_1")])
    spaced = json.dumps(json.loads(body), indent=2).encode()
    with pytest.raises(BadSignature):
        meta_tickets("acme", SECRET, spaced, meta_signature(SECRET, body), NOW)


def refused(body: bytes) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as error:
        tickets(body)
    assert error.value.status == 422
    return error.value


def test_a_message_without_a_mid_is_named_by_its_path() -> None:
    body = delivery([event("m_1"), {"sender": {"id": "2401"}, "timestamp": MS, "message": {"text": "no mid"}}])
    assert refused(body).fields == ("entry.0.messaging.1.message.mid",)


def test_one_bad_message_refuses_the_whole_delivery() -> None:
    body = delivery([event("m_1"), event("m_2", "x" * 10_001)])
    assert refused(body).fields == ("entry.0.messaging.1.message.text",)


def test_an_unknown_object_is_named() -> None:
    assert refused(delivery([event("m_1")], kind="whatsapp_business_account")).fields == ("object",)


def test_a_signed_body_that_is_not_json_is_refused_plainly() -> None:
    error = refused(b"{not json")
    assert error.fields == ("body",)
    assert "is not valid JSON" in str(error)
