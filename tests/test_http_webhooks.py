"""Providers' webhooks over HTTP (worker/http/webhooks.py): each provider's signed delivery accepted (202 with its
job and ticket), every refusal answered with its status and nothing enqueued or changed, a provider's retry the
same job, Redis out of reach a 503. Over a real socket (tests/support/http.py) against the session's real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from producers.webhooks import derived_ticket_id, webchat_signature
from tests.support import webhooks as hooks
from tests.support.http import LiveServer, live_server
from worker.api import Helpdesk


@pytest.fixture
def server(real_redis: redis.Redis, redis_url: str) -> Iterator[LiveServer]:
    helpdesk = Helpdesk.from_url(redis_url)
    hooks.setup(helpdesk)
    with live_server(helpdesk) as live:
        yield live


def test_a_signed_webchat_conversation_is_accepted_with_its_job_and_ticket(
    server: LiveServer, real_redis: redis.Redis
) -> None:
    with server.client() as http:
        answer = hooks.webchat().send(http)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["ticket_id"] == derived_ticket_id("webchat", "conv-8812")
    assert body["job_id"].startswith("ticket-")
    assert hooks.queued(real_redis) == 1


def test_the_widgets_retry_gets_the_same_job_and_enqueues_nothing_more(
    server: LiveServer, real_redis: redis.Redis
) -> None:
    with server.client() as http:
        first = hooks.webchat().send(http).json()
        again = hooks.webchat(stamp=hooks.now_stamp(2)).send(http).json()
    assert again == first
    assert hooks.queued(real_redis) == 1


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"X-Helpdesk-Signature": "0" * 64}, 401, "X-Helpdesk-Signature does not match this body"),
        ({"X-Helpdesk-Signature": ""}, 401, "missing X-Helpdesk-Signature"),
        ({"X-Helpdesk-Timestamp": "12"}, 401, "X-Helpdesk-Signature does not match this body"),
        ({"Content-Type": "text/plain"}, 415, "send the body as application/json (got Content-Type 'text/plain')"),
    ],
)
def test_a_bad_webchat_delivery_is_refused_and_changes_nothing(
    server: LiveServer, real_redis: redis.Redis, change: dict[str, str], status: int, words: str
) -> None:
    delivery = hooks.webchat()
    before = hooks.state_without_queue(real_redis)
    with server.client() as http:
        answer = http.post("/v1/webhooks/acme/webchat", headers={**delivery.headers, **change}, content=delivery.body)
    assert answer.status_code == status
    assert answer.json()["error"].startswith(words)
    assert hooks.queued(real_redis) == 0
    assert hooks.state_without_queue(real_redis) == before


def test_a_stale_webchat_timestamp_is_refused_as_a_replay(server: LiveServer, real_redis: redis.Redis) -> None:
    with server.client() as http:
        answer = hooks.webchat(stamp=hooks.now_stamp(-301)).send(http)
    assert answer.status_code == 401
    assert "refused as a replay" in answer.json()["error"]
    assert hooks.queued(real_redis) == 0


def test_bad_webchat_fields_are_named_in_a_422(server: LiveServer, real_redis: redis.Redis) -> None:
    raw = json.dumps({"conversation_id": "c-1", "visitor_id": "", "first_message": "x", "colour": "red"}).encode()
    stamp = hooks.now_stamp()
    headers = {
        "Content-Type": "application/json",
        "X-Helpdesk-Timestamp": stamp,
        "X-Helpdesk-Signature": webchat_signature(hooks.SECRETS["webchat"], stamp, raw),
    }
    with server.client() as http:
        answer = http.post("/v1/webhooks/acme/webchat", headers=headers, content=raw)
    assert answer.status_code == 422
    named = [item["field"] for item in answer.json()["fields"]]
    assert "colour" in named and "visitor_id" in named
    assert hooks.queued(real_redis) == 0
