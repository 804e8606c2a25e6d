"""What every provider webhook shares (producers/webhooks/common.py): ticket ids derived from provider
message ids are stable and valid under our id rule; refusals carry their HTTP status and never show a
secret or the signature we expected; a 422 stays one bounded line."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from producers.webhooks import (
    BadSignature,
    InvalidPayload,
    WebhookError,
    derived_ticket_id,
    mailgun_signature,
    mailgun_ticket,
    meta_signature,
    meta_tickets,
    twilio_signature,
    twilio_ticket,
    verify_subscription,
    webchat_signature,
    webchat_ticket,
)
from schemas.common import ID_MAX_LENGTH, ID_PATTERN, Identifier

SECRET = "sup3r-s3cret-value-0042"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))
URL = "https://hooks.example/twilio"
IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


@settings(max_examples=300, deadline=None)
@given(provider=st.sampled_from(["twilio", "mailgun", "meta", "webchat"]), message_id=st.text(max_size=300))
def test_a_derived_ticket_id_is_valid_and_stable(provider: str, message_id: str) -> None:
    ticket_id = derived_ticket_id(provider, message_id)
    assert IDENTIFIER.validate_python(ticket_id) == ticket_id
    assert re.match(ID_PATTERN, ticket_id) and len(ticket_id) <= ID_MAX_LENGTH
    assert derived_ticket_id(provider, message_id) == ticket_id


def test_derived_ids_differ_by_message_and_by_provider() -> None:
    ids = {derived_ticket_id(p, m) for p in ("twilio", "meta") for m in ("<a@b>", "<a@b> ", "SM1")}
    assert len(ids) == 6


def test_a_derived_id_is_pinned() -> None:
    """The derivation is stored in every ticket id: changing it would split a retry from its first delivery."""
    assert derived_ticket_id("twilio", "SM1") == "twilio-" + hashlib.sha256(b"twilio\0SM1").hexdigest()[:32]


def refusals() -> list[Callable[[], object]]:
    """Each kind of refusal from each provider, all made with SECRET."""
    good_twilio = [("MessageSid", "SM1"), ("From", "bad"), ("To", "+15559870000")]
    mailgun = {"timestamp": STAMP, "token": "t", "signature": mailgun_signature(SECRET, STAMP, "t"), "sender": "x"}
    meta_event = {"sender": {"id": "1"}, "timestamp": 1, "message": {}}
    meta_body = json.dumps({"object": "page", "entry": [{"messaging": [meta_event]}]}).encode()
    chat = json.dumps({"conversation_id": "c", "visitor_id": SECRET}).encode() + b" "
    return [
        lambda: twilio_ticket("acme", SECRET, URL, good_twilio, "forged", NOW),
        lambda: twilio_ticket("acme", SECRET, URL, good_twilio, twilio_signature(SECRET, URL, good_twilio), NOW),
        lambda: mailgun_ticket("acme", SECRET, {**mailgun, "signature": "forged"}, NOW),
        lambda: mailgun_ticket("acme", SECRET, mailgun, NOW),
        lambda: meta_tickets("acme", SECRET, meta_body, "sha256=forged", NOW),
        lambda: meta_tickets("acme", SECRET, meta_body, meta_signature(SECRET, meta_body), NOW),
        lambda: verify_subscription({"hub.mode": "subscribe", "hub.verify_token": SECRET[:-1]}, SECRET),
        lambda: webchat_ticket("acme", SECRET, chat, STAMP, "forged", NOW),
        lambda: webchat_ticket("acme", SECRET, b"{}", STAMP, webchat_signature(SECRET, STAMP, b"{}"), NOW),
    ]


@pytest.mark.parametrize("refuse", refusals())
def test_no_refusal_shows_the_secret_or_the_expected_signature(refuse: Callable[[], object]) -> None:
    with pytest.raises(WebhookError) as refused:
        refuse()
    error = refused.value
    shown = [str(error), repr(error), error.message]
    assert error.status in (401, 403, 422)
    assert all(SECRET not in text and SECRET[:-1] not in text for text in shown)
    assert all(len(text.splitlines()) == 1 for text in shown)
    for expected in (mailgun_signature(SECRET, STAMP, "t"), webchat_signature(SECRET, STAMP, b"{}")):
        assert all(expected not in text for text in shown)


def test_a_422_names_at_most_five_fields_and_counts_the_rest() -> None:
    error = InvalidPayload([(f"f{n}", "is missing (it is required)") for n in range(8)])
    assert len(error.fields) == 8
    assert str(error).endswith("; and 3 more problems")
    assert str(error).count("is missing") == 5


def test_each_refusal_kind_has_its_status() -> None:
    assert (BadSignature("x").status, InvalidPayload([]).status, WebhookError("x").status) == (401, 422, 400)


def test_the_webhooks_import_neither_the_worker_nor_twilio() -> None:
    """Producers never import ``worker``; ``twilio`` is a test oracle, never a runtime dependency."""
    probe = "import sys, producers.webhooks; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "'producers'" in loaded
    assert "'worker'" not in loaded and "'twilio'" not in loaded
