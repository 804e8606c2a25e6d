"""Twilio inbound SMS (producers/webhooks/twilio_sms.py): our ``X-Twilio-Signature`` is Twilio's own, checked
against the ``twilio`` package's ``RequestValidator`` on fixed and generated parameter sets; a verified
form becomes the SMS adapter's ``TicketCreated``; every bad signature is a 401, every bad field a 422."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from producers.webhooks import BadSignature, InvalidPayload, derived_ticket_id, twilio_signature, twilio_ticket
from producers.webhooks.twilio_sms import verify_twilio
from schemas.common import Channel

TOKEN = "12345678901234567890123456789012"
URL = "https://hooks.acme.example/v1/accounts/acme/webhooks/twilio?source=sms"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
FORM = [
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("MessageSid", "SM1f2e3d4c5b6a79881f2e3d4c5b6a7988"),
    ("From", "+15551230000"),
    ("To", "+15559870000"),
    ("Body", "Where is my parcel?\nOrder 42"),
    ("NumMedia", "0"),
]


class MultiDict:
    """A form with repeated names, as Flask's MultiDict hands it to ``RequestValidator`` (``getall``)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self.pairs))

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


PARAM_SETS = {
    "inbound sms": FORM,
    "none": [],
    "unicode": [("Body", "Grüße, 你好 👋 — ça va?"), ("From", "+4915112345678"), ("Ünïcode", "ÿ")],
    "repeated names": [("MediaUrl", "https://b.example/2"), ("MediaUrl", "https://a.example/1"), ("To", "+1555")],
    "repeated pair": [("a", "1"), ("a", "1"), ("b", "")],
    "case and order": [("b", "x"), ("B", "y"), ("a", "z"), ("_", "")],
    "empty values": [("Body", ""), ("From", "")],
}


@pytest.mark.parametrize("pairs", PARAM_SETS.values(), ids=PARAM_SETS.keys())
@pytest.mark.parametrize("url", [URL, "http://localhost:8000/sms", "https://example.com:8443/a/b?x=1&y=%20"])
def test_our_signature_is_twilios(pairs: list[tuple[str, str]], url: str) -> None:
    oracle = RequestValidator(TOKEN)
    assert twilio_signature(TOKEN, url, pairs) == oracle.compute_signature(url, MultiDict(pairs))
    signature = twilio_signature(TOKEN, url, pairs)
    assert oracle.validate(url, MultiDict(pairs), signature)
    verify_twilio(TOKEN, url, pairs, oracle.compute_signature(url, MultiDict(pairs)))


def test_a_plain_mapping_signs_like_the_pairs() -> None:
    form = dict(FORM)
    assert twilio_signature(TOKEN, URL, form) == RequestValidator(TOKEN).compute_signature(URL, form)


texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(texts, texts), max_size=8), token=texts.filter(bool))
def test_any_params_sign_as_twilio_signs_them(pairs: list[tuple[str, str]], token: str) -> None:
    assert twilio_signature(token, URL, pairs) == RequestValidator(token).compute_signature(URL, MultiDict(pairs))


@pytest.mark.parametrize(
    ("signed_url", "request_url"),
    [
        ("https://hooks.acme.example:443/sms", "https://hooks.acme.example/sms"),
        ("https://hooks.acme.example/sms", "https://hooks.acme.example:443/sms"),
        ("http://hooks.acme.example:80/sms", "http://hooks.acme.example/sms"),
    ],
)
def test_the_url_is_accepted_with_or_without_its_port_as_twilio_accepts_it(signed_url: str, request_url: str) -> None:
    signature = twilio_signature(TOKEN, signed_url, FORM)
    assert RequestValidator(TOKEN).validate(request_url, dict(FORM), signature)
    verify_twilio(TOKEN, request_url, FORM, signature)


def test_a_verified_sms_becomes_its_ticket() -> None:
    ticket = twilio_ticket("acme", TOKEN, URL, FORM, twilio_signature(TOKEN, URL, FORM), NOW)
    assert ticket.account_id == "acme"
    assert ticket.channel is Channel.SMS
    assert ticket.ticket_id == derived_ticket_id("twilio", "SM1f2e3d4c5b6a79881f2e3d4c5b6a7988")
    assert ticket.created_at == NOW
    assert ticket.subject == "Where is my parcel?"


def test_twilios_retry_of_a_delivery_is_the_same_ticket() -> None:
    signature = twilio_signature(TOKEN, URL, FORM)
    assert twilio_ticket("acme", TOKEN, URL, FORM, signature, NOW) == twilio_ticket(
        "acme", TOKEN, URL, list(reversed(FORM)), signature, NOW
    )


@pytest.mark.parametrize("signature", [None, "", "   "])
def test_a_missing_signature_is_refused_with_401(signature: str | None) -> None:
    with pytest.raises(BadSignature, match="missing X-Twilio-Signature") as refused:
        twilio_ticket("acme", TOKEN, URL, FORM, signature, NOW)
    assert refused.value.status == 401


def test_a_signature_made_with_another_token_is_refused() -> None:
    with pytest.raises(BadSignature, match="does not match") as refused:
        twilio_ticket("acme", TOKEN, URL, FORM, twilio_signature("another-token", URL, FORM), NOW)
    assert refused.value.status == 401


@pytest.mark.parametrize(
    "tampered",
    [
        [(n, "Send me a refund" if n == "Body" else v) for n, v in FORM],
        [*FORM, ("Extra", "1")],
        FORM[:-1],
    ],
    ids=["changed body", "added param", "dropped param"],
)
def test_a_tampered_form_is_refused(tampered: list[tuple[str, str]]) -> None:
    with pytest.raises(BadSignature):
        twilio_ticket("acme", TOKEN, URL, tampered, twilio_signature(TOKEN, URL, FORM), NOW)


def test_a_signature_for_another_url_is_refused() -> None:
    signature = twilio_signature(TOKEN, "https://hooks.acme.example/v1/accounts/other/webhooks/twilio", FORM)
    with pytest.raises(BadSignature):
        twilio_ticket("acme", TOKEN, URL, FORM, signature, NOW)


def test_a_non_ascii_signature_header_is_refused_not_crashed() -> None:
    with pytest.raises(BadSignature):
        twilio_ticket("acme", TOKEN, URL, FORM, "ÿ" * 28, NOW)


def signed(form: list[tuple[str, str]]) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as refused:
        twilio_ticket("acme", TOKEN, URL, form, twilio_signature(TOKEN, URL, form), NOW)
    assert refused.value.status == 422
    return refused.value


def test_a_sender_not_in_e164_is_named_by_twilios_field() -> None:
    refused = signed([(n, "whatsapp:+15551230000" if n == "From" else v) for n, v in FORM])
    assert refused.fields == ("From",)
    assert "E.164" in str(refused)


def test_a_missing_message_sid_is_named() -> None:
    assert signed([(n, v) for n, v in FORM if n != "MessageSid"]).fields == ("MessageSid",)


def test_a_mapped_field_given_twice_is_refused_not_guessed() -> None:
    assert signed([*FORM, ("From", "+15550000000")]).fields == ("From",)


def test_every_bad_field_is_named_at_once() -> None:
    form = [(n, v) for n, v in FORM if n not in ("From", "To")] + [("From", "0"), ("To", "x")]
    assert set(signed(form).fields) == {"From", "To"}
