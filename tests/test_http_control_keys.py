"""No key of one account reads or changes another (issue 17, part 2), on every route, whoever wrote it.

The routes are found by walking the app (``app.routes``): every one under ``/v1/accounts/{account}`` — the
control API's, and any a later module adds — is called with the example request that succeeds with the right
key (tests/support/control.py; ``{}`` for a route without one), but without a key, with a malformed one, a
revoked one, another account's key, and the right key on the other account's path. Each must be a 401 in the
same words, and Redis must be byte for byte what it was: nothing read back, nothing changed, nothing enqueued.

``STREAMING`` may name routes that answer with an endless stream and so cannot be snapshotted around; none
does yet (an event stream checks its key before it starts, so it would pass as it is).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.control import ACCOUNT, EXAMPLES, OTHER, Control, Route, account_routes, control_server
from tests.support.snapshots import snapshot

STREAMING: dict[str, str] = {}
"""``"GET /path"`` → why it is skipped. Empty: every account route is walked."""

ROUTES = [route for route in account_routes() if str(route) not in STREAMING]

TOASTS = "GET /users/{user}/toasts"
"""An endless event stream that also takes the user's agent-link token: its missing-credential line names both
(the refusals for a bad key are the same words), and a good key is checked by reading the stream's start."""

MISSING_TOASTS = {
    "error": "missing credential: send `Authorization: Bearer <API key of the account>`, or the link's own user's"
    " agent-link token as the `token` query parameter"
}


@pytest.fixture(scope="module")
def control(redis_url: str) -> Iterator[Control]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        with control_server(redis_url) as ready:
            yield ready
    finally:
        client.flushdb()
        client.close()


def refusal(account: str) -> dict[str, str]:
    return {"error": f"the API key is missing, malformed, revoked or not a key of account {account}"}


MISSING = {
    "error": "missing API key: send `Authorization: Bearer <key>` (make one with `helpdesk-rr api-key ACCOUNT create`)"
}


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_no_route_lets_in_a_caller_without_a_live_key_of_its_account(control: Control, route: Route) -> None:
    client = redis.Redis.from_url(control.redis_url)
    before = snapshot(client)
    forged = "rrk_" + control.key.split("_")[1] + "_" + "A" * 43
    tries: list[tuple[str, str | None, str, dict[str, str]]] = [
        ("no key", None, ACCOUNT, MISSING_TOASTS if str(route) == TOASTS else MISSING),
        ("malformed", "not-a-key", ACCOUNT, refusal(ACCOUNT)),
        ("forged secret", forged, ACCOUNT, refusal(ACCOUNT)),
        ("revoked", control.revoked_key, ACCOUNT, refusal(ACCOUNT)),
        ("another account's", control.other_key, ACCOUNT, refusal(ACCOUNT)),
        ("ours on theirs", control.key, OTHER, refusal(OTHER)),
    ]
    with control.client() as http:
        for what, key, account, expected in tries:
            headers = control.headers(key, "mia")
            call = route.call
            answer = http.request(route.method, control.url(route, account), json=call.body, headers=headers)
            assert answer.status_code == 401, f"{route} with {what} key: {answer.status_code} {answer.text}"
            assert answer.json() == expected, f"{route} with {what} key"
    after = snapshot(client)
    client.close()
    assert after == before, f"{route}: a refused request changed Redis"


def test_the_walk_finds_every_control_route_and_each_has_an_example() -> None:
    """The walk finds the control API's routes (it is not vacuous), and no example names a route that is gone."""
    found = {(route.method, route.path) for route in account_routes()}
    assert set(EXAMPLES) <= found, f"examples of routes that are gone: {sorted(set(EXAMPLES) - found)}"


def test_the_right_key_gets_in_on_every_route(control: Control) -> None:
    """The other side of the walk: the same requests with acme's key are not refused for the key (so the 401s
    above come from the key alone). Reads only here: the writes' success is tests/test_http_control.py's."""
    with control.client() as http:
        for route in ROUTES:
            if str(route) == TOASTS:
                with http.stream("GET", control.url(route, ACCOUNT), headers=control.headers(control.key)) as stream:
                    assert stream.status_code == 200, f"{route}: {stream.read()!r}"
                    assert stream.headers["content-type"].startswith("text/event-stream")
            elif route.method == "GET":
                answer = control.send(http, route)
                assert answer.status_code == 200, f"{route}: {answer.text}"


def test_the_key_is_checked_before_the_body_and_the_actor(control: Control) -> None:
    """A caller without a key learns nothing from validation: a bad body or a missing X-Actor still gets the 401
    (only a body that is not JSON at all is refused earlier, by FastAPI, as a 422: nothing is read either way)."""
    with control.client() as http:
        bad_body = http.put(
            "/v1/accounts/acme/settings/round-robin",
            json={"enabled": "yes"},
            headers=control.headers(control.other_key),
        )
        no_actor = http.put(
            "/v1/accounts/acme/settings/round-robin", json={"enabled": True}, headers=control.headers(None, None)
        )
    assert (bad_body.status_code, bad_body.json()) == (401, refusal(ACCOUNT))
    assert (no_actor.status_code, no_actor.json()) == (401, MISSING)
