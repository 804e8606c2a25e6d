"""The agent page's routes over a real socket: ``GET /agent``, ``GET /v1/agent/me``, ``POST /v1/agent/status``
— a live link works, every other one gets a clear 401 (an HTML page for the page, JSON for the API) and changes
nothing; bad bodies are 422s. Fuzzed with bounded hypothesis runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.common import Role
from tests.support.http import LiveServer, live_server
from worker.api import Helpdesk
from worker.core.engine import utc_now


@pytest.fixture
def helpdesk(real_redis: redis.Redis, redis_url: str) -> Helpdesk:
    desk = Helpdesk.from_url(redis_url)
    desk.save_user("acme", "mia", Role.MANAGER)
    desk.save_user("acme", "ana", Role.AGENT)
    desk.save_user("acme", "vic", Role.VIEWER)
    return desk


@pytest.fixture
def server(helpdesk: Helpdesk, redis_url: str) -> Iterator[LiveServer]:
    with live_server(Helpdesk.from_url(redis_url)) as live:
        yield live


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_live_link_opens_the_page_with_tight_headers(helpdesk: Helpdesk, server: LiveServer) -> None:
    token = helpdesk.agent_link("acme", "ana").token
    with server.client() as http:
        page = http.get("/agent", params={"token": token})
        script = http.get("/agent/agent.js")
        style = http.get("/agent/agent.css")
        missing = http.get("/agent/secrets.txt")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-account="acme" data-user="ana"' in page.text and "<title>ana · acme · helpdesk-rr</title>" in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"] and "<script>" not in page.text
    assert script.status_code == 200 and "EventSource" in script.text
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404


@pytest.mark.parametrize("kind", ["expired", "forged", "missing", "revoked"])
def test_a_dead_link_gets_a_clear_page_and_no_account_data(helpdesk: Helpdesk, server: LiveServer, kind: str) -> None:
    params = {}
    if kind == "expired":
        params["token"] = helpdesk.agent_link("acme", "ana", hours=1, now=utc_now() - timedelta(hours=3)).token
    elif kind == "forged":
        params["token"] = helpdesk.agent_link("acme", "ana").token[:-3] + "abc"
    elif kind == "revoked":
        params["token"] = helpdesk.agent_link("acme", "ana").token
        helpdesk.revoke_agent_links("acme")
    with server.client() as http:
        page = http.get("/agent", params=params)
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    title = "This agent link has expired" if kind == "expired" else "This agent link is not valid"
    if kind == "missing":
        title = "This agent link is not valid"
    assert f"<h1>{title}</h1>" in page.text
    assert "acme" not in page.text and "ana" not in page.text.replace("Nothing of the account", "")
    assert "agent.js" not in page.text


def test_me_shows_status_and_open_tickets(helpdesk: Helpdesk, server: LiveServer) -> None:
    token = helpdesk.agent_link("acme", "ana").token
    with server.client() as http:
        me = http.get("/v1/agent/me", headers=bearer(token))
        by_query = http.get("/v1/agent/me", params={"token": token})
    assert me.status_code == 200 and me.json() == by_query.json()
    assert me.json() == {
        "account_id": "acme",
        "user_id": "ana",
        "role": "agent",
        "status": "offline",
        "can_be_online": True,
        "open_tickets": {"tickets": [], "load": 0, "complete": True},
    }
    assert me.headers["cache-control"] == "no-store"


def test_the_toggle_sets_the_links_agent_as_the_actor(helpdesk: Helpdesk, server: LiveServer) -> None:
    token = helpdesk.agent_link("acme", "ana").token
    with server.client() as http:
        online = http.post("/v1/agent/status", json={"status": "online"}, headers=bearer(token))
        again = http.post("/v1/agent/status", json={"status": "online"}, headers=bearer(token))
    assert online.json() == {"status": "online", "changed": True} and again.json()["changed"] is False
    (event,) = [e for _id, e in helpdesk.events("acme") if e.type == "agent.status_changed"]
    assert getattr(event, "actor_id", None) == "ana" and getattr(event, "user_id", None) == "ana"


def test_a_demoted_agents_link_is_refused_the_toggle(helpdesk: Helpdesk, server: LiveServer) -> None:
    token = helpdesk.agent_link("acme", "ana").token
    helpdesk.save_user("acme", "ana", Role.VIEWER)
    with server.client() as http:
        me = http.get("/v1/agent/me", headers=bearer(token))
        refused = http.post("/v1/agent/status", json={"status": "online"}, headers=bearer(token))
    assert me.json()["can_be_online"] is False and me.json()["role"] == "viewer"
    assert refused.status_code == 403 and "viewer" in refused.json()["error"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"status": "away"}, "status"),
        ({}, "status: is missing"),
        ({"status": "online", "user_id": "mia"}, "user_id"),  # nobody else's status, ever
        ("online", "body: must be an object with named fields"),
    ],
)
def test_bad_bodies_are_422_and_change_nothing(
    helpdesk: Helpdesk, server: LiveServer, body: object, problem: str
) -> None:
    token = helpdesk.agent_link("acme", "ana").token
    before = helpdesk.users("acme")
    with server.client() as http:
        answer = http.post("/v1/agent/status", json=body, headers=bearer(token))
    assert answer.status_code == 422 and problem in answer.json()["error"]
    assert helpdesk.users("acme") == before


def test_api_keys_are_not_agent_tokens(helpdesk: Helpdesk, server: LiveServer) -> None:
    key = helpdesk.create_api_key("acme").key
    with server.client() as http:
        me = http.get("/v1/agent/me", headers=bearer(key))
        status = http.post("/v1/agent/status", json={"status": "online"}, headers=bearer(key))
    assert me.status_code == 401 and "missing agent-link token" in me.json()["error"]
    assert status.status_code == 401


TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=100)
BODIES = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.none(), st.booleans()), max_size=4).map(
        lambda d: __import__("json").dumps(d).encode()
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    token=TEXT, authorization=TEXT, body=BODIES, content_type=st.sampled_from(["application/json", "text/plain", ""])
)
def test_fuzzed_requests_get_a_4xx_with_a_message_and_change_nothing(
    helpdesk: Helpdesk,
    server: LiveServer,
    real_redis: redis.Redis,
    token: str,
    authorization: str,
    body: bytes,
    content_type: str,
) -> None:
    live = helpdesk.agent_link("acme", "ana").token
    snapshot = sorted((key, real_redis.type(key)) for key in real_redis.keys("*"))
    status_before = helpdesk.users("acme")
    headers = {
        name: value
        for name, value in (("Authorization", authorization.strip()), ("Content-Type", content_type))
        if value
    }
    with server.client() as http:
        for params, sent in (({"token": token}, {}), ({}, headers), ({"token": live}, {"Content-Type": content_type})):
            posted = http.post("/v1/agent/status", params=params, headers=sent or None, content=body)
            got = http.get(
                "/v1/agent/me", params=params if params.get("token") != live else {"token": token}, headers=sent or None
            )
            page = http.get("/agent", params={"token": token})
            for answer in (posted, got):
                assert 400 <= answer.status_code < 500 and answer.json()["error"], answer.text
            if params.get("token") != live:
                assert posted.status_code == 401, posted.text  # credentials first, whatever the body
            assert page.status_code == 401 and "agent link" in page.text
    assert helpdesk.users("acme") == status_before
    assert sorted((key, real_redis.type(key)) for key in real_redis.keys("*")) == snapshot
