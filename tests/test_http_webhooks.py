"""Providers' webhooks over HTTP (worker/http/webhooks.py): each provider's signed delivery accepted (202 with its
job and ticket), every refusal answered with its status and nothing enqueued or changed, a provider's retry the
same job, Redis out of reach a 503. Over a real socket (tests/support/http.py) against the session's real Redis."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
import redis
from rq.job import Job
from twilio.request_validator import RequestValidator

from producers.queue import SERIALIZER
from producers.webhooks import derived_ticket_id, twilio_signature, webchat_signature
from tests.support import webhooks as hooks
from tests.support.cli import COMMAND
from tests.support.http import LiveServer, free_port, live_server
from tests.support.jobs import returned
from tests.support.workers import start_worker, stop_all
from worker.api import Helpdesk
from worker.config import Settings


def drain(redis_url: str) -> None:
    """A real ``helpdesk-rr worker --burst`` process: it decides what is queued and exits."""
    worker = start_worker(redis_url, burst=True)
    try:
        assert worker.wait(timeout=60) == 0
    finally:
        stop_all([worker])



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
    assert body["job_id"].startswith("drain-")  # the burst intake's drain job due on the account's lane
    assert hooks.queued(real_redis) == 1


def test_the_widgets_retry_gets_the_same_answer_and_is_the_same_ticket(
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


# --- Twilio --------------------------------------------------------------------------------------------------


def test_a_twilio_sms_signed_as_twilios_own_validator_signs_is_accepted(
    server: LiveServer, real_redis: redis.Redis
) -> None:
    params = hooks.twilio_params()
    url = f"{server.helpdesk.config.public_url}/v1/webhooks/acme/twilio"
    oracle = RequestValidator(hooks.SECRETS["twilio"]).compute_signature(url, params)
    assert oracle == twilio_signature(hooks.SECRETS["twilio"], url, params)
    with server.client() as http:
        answer = hooks.twilio(server.helpdesk.config.public_url, params, signature=oracle).send(http)
    assert answer.status_code == 202, answer.text
    assert answer.json()["ticket_id"] == derived_ticket_id("twilio", params["MessageSid"])
    assert hooks.queued(real_redis) == 1


def test_twilio_is_verified_against_the_public_url_it_called(real_redis: redis.Redis, redis_url: str) -> None:
    public = "https://help.example.com/rr"
    helpdesk = Helpdesk.from_url(redis_url, Settings(redis_url=redis_url, public_url=public))
    hooks.setup(helpdesk)
    with live_server(helpdesk) as live, live.client() as http:
        as_seen_here = hooks.twilio(live.base_url).send(http)
        as_twilio_called = hooks.twilio(public).send(http)
    assert as_seen_here.status_code == 401
    assert as_seen_here.json() == {"error": "X-Twilio-Signature does not match this request"}
    assert as_twilio_called.status_code == 202


def test_a_twilio_query_string_is_part_of_the_signed_url(server: LiveServer, real_redis: redis.Redis) -> None:
    params = hooks.twilio_params()
    url = f"{server.helpdesk.config.public_url}/v1/webhooks/acme/twilio?src=sms&n=1"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
        "X-Twilio-Signature": RequestValidator(hooks.SECRETS["twilio"]).compute_signature(url, params),
    }
    with server.client() as http:
        answer = http.post("/v1/webhooks/acme/twilio?src=sms&n=1", headers=headers, content=urlencode(params))
    assert answer.status_code == 202, answer.text


def test_an_empty_twilio_body_parameter_is_signed_and_kept(server: LiveServer) -> None:
    params = {**hooks.twilio_params(), "Body": "", "MediaUrl0": ""}
    url = f"{server.helpdesk.config.public_url}/v1/webhooks/acme/twilio"
    signature = RequestValidator(hooks.SECRETS["twilio"]).compute_signature(url, params)
    with server.client() as http:
        answer = hooks.twilio(server.helpdesk.config.public_url, params, signature=signature).send(http)
    assert answer.status_code == 202, answer.text


def test_a_twilio_sms_from_a_whatsapp_sender_is_a_422_naming_from(server: LiveServer, real_redis: redis.Redis) -> None:
    params = {**hooks.twilio_params(), "From": "whatsapp:+14155550100"}
    with server.client() as http:
        answer = hooks.twilio(server.helpdesk.config.public_url, params).send(http)
    assert answer.status_code == 422
    assert [item["field"] for item in answer.json()["fields"]] == ["From"]
    assert hooks.queued(real_redis) == 0


# --- Mailgun -------------------------------------------------------------------------------------------------


def test_a_mailgun_email_is_accepted_url_encoded_and_multipart(server: LiveServer, real_redis: redis.Redis) -> None:
    encoded = hooks.mailgun_fields("<one@mail.example.com>")
    multipart = hooks.mailgun_fields("<two@mail.example.com>")
    with server.client() as http:
        first = hooks.mailgun(encoded).send(http)
        files = {"attachment-1": ("note.txt", b"hello", "text/plain")}
        second = http.post("/v1/webhooks/acme/mailgun", data=multipart, files=files)
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert first.json()["ticket_id"] == derived_ticket_id("mailgun", "<one@mail.example.com>")
    assert second.json()["ticket_id"] == derived_ticket_id("mailgun", "<two@mail.example.com>")
    assert hooks.queued(real_redis) == 2


def test_a_mailgun_signature_made_with_another_key_is_refused(server: LiveServer, real_redis: redis.Redis) -> None:
    with server.client() as http:
        answer = hooks.mailgun(hooks.mailgun_fields(secret="key-someone-elses")).send(http)
    assert answer.status_code == 401
    assert answer.json() == {"error": "signature does not match timestamp and token"}
    assert hooks.queued(real_redis) == 0


def test_a_mailgun_email_without_a_sender_is_a_422(server: LiveServer, real_redis: redis.Redis) -> None:
    fields = hooks.mailgun_fields()
    del fields["sender"]
    with server.client() as http:
        answer = hooks.mailgun(fields).send(http)
    assert answer.status_code == 422
    assert [item["field"] for item in answer.json()["fields"]] == ["sender"]
    assert hooks.queued(real_redis) == 0


# --- Meta ----------------------------------------------------------------------------------------------------


def test_metas_handshake_answers_the_challenge_as_plain_text(server: LiveServer) -> None:
    with server.client() as http:
        answer = hooks.meta_handshake().send(http)
        wrong = hooks.meta_handshake(token="guess").send(http)
    assert (answer.status_code, answer.text) == (200, "1158201444")
    assert answer.headers["content-type"].startswith("text/plain")
    assert wrong.status_code == 403
    assert wrong.json() == {"error": "hub.verify_token does not match"}


def test_a_meta_delivery_of_several_messages_is_one_ticket_each(server: LiveServer, real_redis: redis.Redis) -> None:
    with server.client() as http:
        answer = hooks.meta("m_1", "m_2", "m_3").send(http)
        again = hooks.meta("m_1", "m_2", "m_3").send(http)
    assert answer.status_code == 202, answer.text
    expected = [derived_ticket_id("meta", mid) for mid in ("m_1", "m_2", "m_3")]
    assert [item["ticket_id"] for item in answer.json()] == expected
    assert len({item["job_id"] for item in answer.json()}) == 1  # one drain for the lane
    assert again.json() == answer.json()
    assert hooks.queued(real_redis) == 3


def test_a_meta_delivery_without_messages_is_accepted_with_no_job(server: LiveServer, real_redis: redis.Redis) -> None:
    body = json.dumps({"object": "page", "entry": [{"id": "PAGE", "time": 1, "messaging": []}]}).encode()
    with server.client() as http:
        answer = hooks.meta(body=body).send(http)
    assert (answer.status_code, answer.json()) == (202, [])
    assert hooks.queued(real_redis) == 0


def test_a_meta_delivery_with_one_bad_message_enqueues_none(server: LiveServer, real_redis: redis.Redis) -> None:
    with server.client() as http:
        answer = hooks.meta("m_1", "").send(http)
    assert answer.status_code == 422
    assert [item["field"] for item in answer.json()["fields"]] == ["entry.0.messaging.1.message.mid"]
    assert hooks.queued(real_redis) == 0


def test_a_meta_delivery_signed_over_other_bytes_is_refused(server: LiveServer, real_redis: redis.Redis) -> None:
    delivery = hooks.meta("m_1")
    with server.client() as http:
        answer = http.post("/v1/webhooks/acme/meta", headers=delivery.headers, content=delivery.body + b" ")
    assert answer.status_code == 401
    assert answer.json() == {"error": "X-Hub-Signature-256 does not match this body"}
    assert hooks.queued(real_redis) == 0


# --- what every route shares ---------------------------------------------------------------------------------


def deliveries(public_url: str) -> dict[str, hooks.Delivery]:
    return {
        "twilio": hooks.twilio(public_url),
        "mailgun": hooks.mailgun(),
        "meta": hooks.meta("m_1"),
        "meta-verify-token": hooks.meta_handshake(),
        "webchat": hooks.webchat(),
    }


@pytest.mark.parametrize("name", list(hooks.SECRETS))
def test_without_a_secret_the_answer_is_a_wrong_signatures_and_nothing_is_enqueued(
    real_redis: redis.Redis, redis_url: str, name: str
) -> None:
    helpdesk = Helpdesk.from_url(redis_url)
    hooks.setup(helpdesk, names=tuple(other for other in hooks.SECRETS if other != name))
    with live_server(helpdesk) as live, live.client() as http:
        delivery = deliveries(live.helpdesk.config.public_url)[name]
        unset = delivery.send(http)
        unknown_account = delivery.send(http, account="ghostco")
        helpdesk.set_webhook_secret("acme", name, "another-" + hooks.SECRETS[name], "mia")
        wrong = delivery.send(http)
    assert unset.status_code == wrong.status_code == unknown_account.status_code
    assert unset.status_code in (401, 403)
    assert unset.json() == wrong.json() == unknown_account.json()
    assert hooks.queued(real_redis) == 0


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("twilio", "application/json"),
        ("twilio", ""),
        ("mailgun", "text/plain"),
        ("meta", "application/x-www-form-urlencoded"),
        ("webchat", "multipart/form-data; boundary=x"),
    ],
)
def test_a_wrong_content_type_is_a_415_before_the_body_is_read(
    server: LiveServer, real_redis: redis.Redis, path: str, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    with server.client() as http:
        answer = http.post(f"/v1/webhooks/acme/{path}", headers=headers, content=b"x" * 100)
    assert answer.status_code == 415
    assert answer.json()["error"].startswith("send the body as ")
    assert hooks.queued(real_redis) == 0


@pytest.mark.parametrize("path", ["twilio", "mailgun", "meta", "webchat"])
def test_a_body_over_256_kib_is_a_413(server: LiveServer, real_redis: redis.Redis, path: str) -> None:
    content_type = "application/json" if path in ("meta", "webchat") else "application/x-www-form-urlencoded"
    with server.client() as http:
        answer = http.post(f"/v1/webhooks/acme/{path}", headers={"Content-Type": content_type}, content=b"a" * 300_000)
    assert answer.status_code == 413
    assert hooks.queued(real_redis) == 0


def test_redis_out_of_reach_is_a_503_with_retry_after() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    helpdesk = Helpdesk.from_url(url, Settings(redis_url=url, redis_retries=0))
    with live_server(helpdesk) as live, live.client() as http:
        answer = hooks.webchat().send(http)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"].startswith("cannot reach Redis at redis://127.0.0.1:")


def test_a_queue_redis_out_of_reach_is_a_503_and_the_state_is_unchanged(
    real_redis: redis.Redis, redis_url: str
) -> None:
    queue_url = f"redis://127.0.0.1:{free_port()}/0"
    helpdesk = Helpdesk(Settings(state_url=redis_url, queue_urls=(queue_url,), redis_retries=0))
    hooks.setup(helpdesk)
    before = hooks.state_without_queue(real_redis)
    with live_server(helpdesk) as live, live.client() as http:
        answer = hooks.meta("m_1", "m_2").send(http)
    assert answer.status_code == 503
    assert answer.json()["error"] == "Redis cannot be reached: nothing was done; retry later"
    assert hooks.state_without_queue(real_redis) == before
    assert hooks.queued(real_redis) == 0


def test_a_providers_retry_is_decided_once_by_a_real_worker(real_redis: redis.Redis, redis_url: str) -> None:
    helpdesk = Helpdesk.from_url(redis_url)
    hooks.setup(helpdesk)
    helpdesk.set_round_robin("acme", True, "mia")
    helpdesk.set_status("acme", "ana", "online")
    with live_server(helpdesk) as live, live.client() as http:
        first = hooks.twilio(live.helpdesk.config.public_url).send(http).json()
        drain(redis_url)
        retried = hooks.twilio(live.helpdesk.config.public_url).send(http).json()  # after it was decided
        drain(redis_url)
    assert first["ticket_id"] == retried["ticket_id"] and first["job_id"] != retried["job_id"]  # a new drain
    for answer in (first, retried):
        job = Job.fetch(answer["job_id"], connection=real_redis, serializer=SERIALIZER)
        assert returned(job)["decided"] == 1  # the retry's drain found it decided: a duplicate, nothing written
    decided = [event for _, event in helpdesk.events("acme") if getattr(event, "ticket_id", None) == first["ticket_id"]]
    assert [(event.type, getattr(event, "agent_id", None)) for event in decided] == [("ticket.assigned", "ana")]


def test_no_secret_reaches_an_answer_or_a_line_of_the_servers_log(real_redis: redis.Redis, redis_url: str) -> None:
    helpdesk = Helpdesk.from_url(redis_url)
    hooks.setup(helpdesk, names=("twilio", "mailgun", "meta", "webchat"))  # no verify token: its handshake is refused
    env = {**os.environ, "REDIS_URL": redis_url, "HELPDESK_RR_REDIS_RETRIES": "0"}
    command = [*COMMAND, "--log-json", "serve", "--port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    base = re.search(r"serving (http://\S+) ", process.stderr.readline())
    assert base, "serve did not say where it listens"
    answers = []
    try:
        with httpx.Client(base_url=base.group(1), timeout=10) as http:
            for delivery in [*deliveries(helpdesk.config.public_url).values(), hooks.webchat(secret="wrong")]:
                answers += [delivery.send(http).text, delivery.send(http, account="ghostco").text]
            bad = hooks.twilio(helpdesk.config.public_url, {**hooks.twilio_params(), "From": "nope"})
            answers.append(bad.send(http).text)
    finally:
        process.send_signal(signal.SIGTERM)
        _out, log = process.communicate(timeout=20)
    assert '"webhook.no_secret"' in log and '"webhook.enqueued"' in log and '"http.request"' in log
    assert len(answers) == 13
    for secret in hooks.SECRETS.values():
        assert secret not in log
        assert all(secret not in answer for answer in answers)
