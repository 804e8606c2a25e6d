"""Fuzzing the webhook routes over a real socket: hypothesis-generated bad deliveries — bodies, content types,
signature and timestamp headers, signed payloads with a bad field, handshake queries. Every one must get a 4xx
whose body is JSON with a one-line ``error`` (never a 5xx, never a traceback), and leave the RQ queue empty and
the state Redis unchanged.

``HELPDESK_RR_WEBHOOK_FUZZ_EXAMPLES`` (default 160) is the number of examples over all routes, shared evenly.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.webhooks import mailgun_signature, meta_signature, twilio_signature, webchat_signature
from tests.support import webhooks as hooks
from tests.support.http import LiveServer, live_server
from worker.api import Helpdesk

EXAMPLES = int(os.environ.get("HELPDESK_RR_WEBHOOK_FUZZ_EXAMPLES", "160"))
PER_ROUTE = settings(
    max_examples=max(5, EXAMPLES // 5),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(str.strip)
"""What a header value can hold (printable ASCII, no space around it: h11 refuses the rest before sending)."""
SENT_TYPES = {hooks.FORM, hooks.JSON, hooks.MULTIPART}
GARBAGE = st.one_of(st.binary(max_size=400), st.text(max_size=200).map(lambda text: text.encode("utf-8", "replace")))
CONTENT_TYPES = st.one_of(
    st.sampled_from(["", "text/plain", "application/xml", "application/jsonx", "multipart/mixed", "form"]),
    HEADER_TEXT.filter(lambda text: text.split(";")[0].strip().lower() not in SENT_TYPES),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def server(real_redis: redis.Redis, redis_url: str) -> Iterator[LiveServer]:
    helpdesk = Helpdesk.from_url(redis_url)
    hooks.setup(helpdesk)
    with live_server(helpdesk) as live:
        yield live


def refused(server: LiveServer, real_redis: redis.Redis, request: dict[str, Any]) -> None:
    """Send ``request``; it must be a 4xx with a one-line JSON ``error``, and change nothing."""
    before = hooks.state_without_queue(real_redis)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        answer = http.request(**request)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text, request)
    error = answer.json()["error"]
    assert isinstance(error, str) and error and "\n" not in error and "Traceback" not in answer.text
    assert hooks.queued(real_redis) == 0
    assert hooks.state_without_queue(real_redis) == before


def _stamp(offset: int) -> str:
    return str(int(time.time()) + offset)


STALE = st.one_of(st.integers(320, 10**9), st.integers(-(10**9), -320))
"""Seconds from now a signed timestamp may not be: the replay window is 5 minutes (300 s), and 20 s more leave
room for the whole seconds and the time the request takes."""


# --- webchat -------------------------------------------------------------------------------------------------


@st.composite
def bad_webchat(draw: st.DrawFn) -> dict[str, Any]:
    stamp = _stamp(draw(st.integers(-60, 60)))
    good = {"conversation_id": "conv-1", "visitor_id": "v-1", "first_message": "hi"}
    body = json.dumps(good).encode()
    headers = {"Content-Type": "application/json"}
    secret = hooks.SECRETS["webchat"]
    kind = draw(st.sampled_from(["garbage", "signature", "stamp", "type", "signed", "missing"]))
    if kind == "garbage":
        body = draw(GARBAGE)
        headers["X-Helpdesk-Signature"] = draw(HEADER_TEXT)
        headers["X-Helpdesk-Timestamp"] = stamp
    elif kind == "signature":
        headers["X-Helpdesk-Signature"] = draw(HEADER_TEXT)
        headers["X-Helpdesk-Timestamp"] = stamp
    elif kind == "stamp":
        stale = draw(st.one_of(STALE.map(_stamp), HEADER_TEXT))
        headers["X-Helpdesk-Timestamp"] = stale
        headers["X-Helpdesk-Signature"] = webchat_signature(secret, stale, body)
    elif kind == "type":
        headers = {"Content-Type": draw(CONTENT_TYPES), "X-Helpdesk-Timestamp": stamp}
        headers["X-Helpdesk-Signature"] = webchat_signature(secret, stamp, body)
    elif kind == "signed":  # a correct signature over a payload that cannot be a conversation
        value = draw(st.one_of(JSON_VALUES.filter(lambda v: not isinstance(v, dict)), st.just({**good, "zz": 1})))
        body = json.dumps(value).encode() if draw(st.booleans()) else draw(GARBAGE)
        headers["X-Helpdesk-Timestamp"] = stamp
        headers["X-Helpdesk-Signature"] = webchat_signature(secret, stamp, body)
    else:
        headers["X-Helpdesk-Timestamp" if draw(st.booleans()) else "X-Helpdesk-Signature"] = stamp
    return {"method": "POST", "url": "/v1/webhooks/acme/webchat", "headers": headers, "content": body}


@PER_ROUTE
@given(request=bad_webchat())
def test_bad_webchat_deliveries_are_4xx_and_change_nothing(
    server: LiveServer, real_redis: redis.Redis, request: dict[str, Any]
) -> None:
    refused(server, real_redis, request)


# --- Twilio --------------------------------------------------------------------------------------------------


@st.composite
def bad_twilio(draw: st.DrawFn, public_url: str) -> dict[str, Any]:
    params = hooks.twilio_params()
    url = f"{public_url}/v1/webhooks/acme/twilio"
    token = hooks.SECRETS["twilio"]
    headers = {"Content-Type": draw(st.sampled_from([hooks.FORM, hooks.FORM + "; charset=UTF-8"]))}
    kind = draw(st.sampled_from(["garbage", "signature", "type", "signed", "missing"]))
    body = urlencode(params).encode()
    if kind == "garbage":
        body = draw(GARBAGE)
        headers["X-Twilio-Signature"] = draw(HEADER_TEXT)
    elif kind == "signature":
        headers["X-Twilio-Signature"] = draw(HEADER_TEXT)
    elif kind == "type":
        headers = {"Content-Type": draw(CONTENT_TYPES), "X-Twilio-Signature": twilio_signature(token, url, params)}
    elif kind == "signed":  # correctly signed, but a field we map is missing or not a phone number
        extra = draw(st.dictionaries(st.text("abcXYZ", min_size=1, max_size=6), st.text(max_size=20), max_size=3))
        field = draw(st.sampled_from(["MessageSid", "From", "To"]))
        params = {**params, **extra}
        if field == "MessageSid" or draw(st.booleans()):  # any MessageSid text is an id (it is hashed)
            params.pop(field)
        else:
            params[field] = draw(st.text(min_size=1, max_size=20).filter(lambda t: not t.lstrip("+").isdigit())) + "x"
        body = urlencode(params).encode()
        headers["X-Twilio-Signature"] = twilio_signature(token, url, params)
    return {"method": "POST", "url": "/v1/webhooks/acme/twilio", "headers": headers, "content": body}


@PER_ROUTE
@given(data=st.data())
def test_bad_twilio_deliveries_are_4xx_and_change_nothing(
    server: LiveServer, real_redis: redis.Redis, data: st.DataObject
) -> None:
    refused(server, real_redis, data.draw(bad_twilio(server.helpdesk.config.public_url)))


# --- Mailgun -------------------------------------------------------------------------------------------------


@st.composite
def bad_mailgun(draw: st.DrawFn) -> dict[str, Any]:
    fields = hooks.mailgun_fields()
    headers = {"Content-Type": hooks.FORM}
    kind = draw(st.sampled_from(["garbage", "signature", "stamp", "type", "signed", "multipart"]))
    if kind == "garbage":
        return {"method": "POST", "url": "/v1/webhooks/acme/mailgun", "headers": headers, "content": draw(GARBAGE)}
    if kind == "signature":
        fields["signature"] = draw(HEADER_TEXT)
    elif kind == "stamp":
        fields["timestamp"] = draw(st.one_of(STALE.map(_stamp), HEADER_TEXT))
        fields["signature"] = mailgun_signature(hooks.SECRETS["mailgun"], fields["timestamp"], fields["token"])
    elif kind == "type":
        headers["Content-Type"] = draw(CONTENT_TYPES)
    elif kind == "signed":  # correctly signed (Mailgun signs timestamp + token only), a required field missing
        fields.pop(draw(st.sampled_from(["Message-Id", "sender", "recipient"])))
        fields.update(draw(st.dictionaries(st.text("abcXYZ", min_size=1, max_size=6), st.text(max_size=9), max_size=3)))
    else:  # a multipart body cut or with a boundary that is not the declared one
        boundary = draw(st.text("abcdef0123456789", min_size=1, max_size=20))
        body = f"--{boundary}\r\nContent-Disposition: form-data; name=\"sender\"\r\n\r\n".encode() + draw(GARBAGE)
        declared = draw(st.sampled_from(["", f"; boundary={boundary}x", "; boundary="]))
        return {
            "method": "POST",
            "url": "/v1/webhooks/acme/mailgun",
            "headers": {"Content-Type": hooks.MULTIPART + declared},
            "content": body,
        }
    return {"method": "POST", "url": "/v1/webhooks/acme/mailgun", "headers": headers, "content": urlencode(fields)}


@PER_ROUTE
@given(request=bad_mailgun())
def test_bad_mailgun_deliveries_are_4xx_and_change_nothing(
    server: LiveServer, real_redis: redis.Redis, request: dict[str, Any]
) -> None:
    refused(server, real_redis, request)


# --- Meta ----------------------------------------------------------------------------------------------------


@st.composite
def bad_meta(draw: st.DrawFn) -> dict[str, Any]:
    body = hooks.meta_body("m_1")
    secret = hooks.SECRETS["meta"]
    headers = {"Content-Type": "application/json"}
    kind = draw(st.sampled_from(["garbage", "signature", "type", "signed", "missing"]))
    if kind == "garbage":
        body = draw(GARBAGE)
        headers["X-Hub-Signature-256"] = draw(HEADER_TEXT)
    elif kind == "signature":
        headers["X-Hub-Signature-256"] = draw(st.one_of(HEADER_TEXT, HEADER_TEXT.map(lambda t: "sha256=" + t)))
    elif kind == "type":
        headers = {"Content-Type": draw(CONTENT_TYPES), "X-Hub-Signature-256": meta_signature(secret, body)}
    elif kind == "signed":  # a correct signature over a payload that is no delivery
        delivery = json.loads(body)
        mutation = draw(st.sampled_from(["object", "mid", "sender", "value"]))
        if mutation == "object":
            delivery["object"] = draw(st.text(max_size=10).filter(lambda t: t not in ("page", "instagram")))
        elif mutation == "mid":
            delivery["entry"][0]["messaging"][0]["message"]["mid"] = draw(st.sampled_from(["", None, 7, []]))
        elif mutation == "sender":
            delivery["entry"][0]["messaging"][0].pop("sender")
        else:
            delivery = draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict) or "object" not in v))
        body = json.dumps(delivery).encode()
        headers["X-Hub-Signature-256"] = meta_signature(secret, body)
    return {"method": "POST", "url": "/v1/webhooks/acme/meta", "headers": headers, "content": body}


@st.composite
def bad_handshake(draw: st.DrawFn) -> dict[str, Any]:
    query = {"hub.mode": "subscribe", "hub.verify_token": hooks.SECRETS["meta-verify-token"], "hub.challenge": "42"}
    field = draw(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"]))
    if draw(st.booleans()):
        query.pop(field)
    else:
        query[field] = draw(st.text(max_size=30).filter(lambda t: t not in (query[field], "subscribe")))
        if field == "hub.challenge":
            query["hub.challenge"] = ""
    return {"method": "GET", "url": "/v1/webhooks/acme/meta", "params": query}


@PER_ROUTE
@given(request=st.one_of(bad_meta(), bad_handshake()))
def test_bad_meta_deliveries_and_handshakes_are_4xx_and_change_nothing(
    server: LiveServer, real_redis: redis.Redis, request: dict[str, Any]
) -> None:
    refused(server, real_redis, request)


# --- any route -----------------------------------------------------------------------------------------------


@PER_ROUTE
@given(
    path=st.sampled_from(["twilio", "mailgun", "meta", "webchat"]),
    account=st.sampled_from(["ghostco", "acme", "a" * 129, "x.y"]),
    content_type=st.sampled_from([hooks.FORM, hooks.JSON, hooks.MULTIPART + "; boundary=b", ""]),
    headers=st.dictionaries(
        st.sampled_from(["X-Twilio-Signature", "X-Hub-Signature-256", "X-Helpdesk-Signature", "X-Helpdesk-Timestamp"]),
        HEADER_TEXT,
        max_size=4,
    ),
    body=GARBAGE,
)
def test_any_route_any_account_with_unsigned_garbage_is_4xx_and_changes_nothing(
    server: LiveServer,
    real_redis: redis.Redis,
    path: str,
    account: str,
    content_type: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    sent = {**headers, **({"Content-Type": content_type} if content_type else {})}
    request = {"method": "POST", "url": f"/v1/webhooks/{account}/{path}", "headers": sent, "content": body}
    refused(server, real_redis, request)

