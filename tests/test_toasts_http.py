"""Live toasts over a real socket against real Redis: ``GET /v1/accounts/{account}/users/{user}/toasts``.

Who gets what (only the path's user's toasts), resuming with ``Last-Event-ID`` (nothing lost, nothing twice,
while tickets keep coming), one Redis connection per partition however many listeners, and the refusals
(401 JSON for every wrong credential, 422 for a bad id), fuzzed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.common import AgentStatus, utc_iso
from tests.support.http import LiveServer, live_server
from tests.support.sse import SseReader
from tests.support.workers import start_worker, stop_worker, wait_for
from worker.api import Helpdesk
from worker.core.engine import utc_now
from worker.core.keys import partition_of

TOASTS = "/v1/accounts/{account}/users/{user}/toasts"


@pytest.fixture
def helpdesk(real_redis: redis.Redis, redis_url: str) -> Helpdesk:
    desk = Helpdesk.from_url(redis_url)
    for account in ("acme", "globex"):
        desk.save_user(account, "mia", "manager")
        desk.save_user(account, "ana", "agent")
        desk.save_user(account, "ben", "agent")
        desk.set_round_robin(account, True, "mia")
    return desk


@pytest.fixture
def server(helpdesk: Helpdesk, redis_url: str) -> Iterator[LiveServer]:
    with live_server(Helpdesk.from_url(redis_url)) as live:
        yield live


def tickets(helpdesk: Helpdesk, account: str, ids: list[str]) -> None:
    """Submit and decide tickets now (an in-process burst worker)."""
    for ticket_id in ids:
        fields = {"account_id": account, "ticket_id": ticket_id, "channel": "email", "created_at": utc_iso(utc_now())}
        helpdesk.submit_ticket(fields)
    helpdesk.drain()


def token(helpdesk: Helpdesk, account: str, user: str) -> str:
    return helpdesk.agent_link(account, user).token


def stream(server: LiveServer, account: str, user: str, **params: str) -> SseReader:
    headers = {}
    if "key" in params:
        headers["Authorization"] = f"Bearer {params.pop('key')}"
    if "last_event_header" in params:
        headers["Last-Event-ID"] = params.pop("last_event_header")
    return SseReader(server.base_url, TOASTS.format(account=account, user=user), params, headers)


def ticket_ids(reader: SseReader) -> list[str]:
    return [ticket for frame in reader.toasts() for ticket in frame.json()["ticket_ids"]]


def test_a_stream_carries_only_its_users_toasts(helpdesk: Helpdesk, server: LiveServer) -> None:
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE)
    helpdesk.set_status("acme", "ben", AgentStatus.ONLINE)
    helpdesk.set_status("globex", "ana", AgentStatus.ONLINE)
    with (
        stream(server, "acme", "ana", token=token(helpdesk, "acme", "ana")) as ana,
        stream(server, "acme", "ben", key=helpdesk.create_api_key("acme").key) as ben,
    ):
        ana.wait_ready()
        ben.wait_ready()
        tickets(helpdesk, "globex", ["G1", "G2"])  # another account's ana: not this stream
        tickets(helpdesk, "acme", ["T1", "T2", "T3", "T4"])
        ana.wait_toasts(2)
        ben.wait_toasts(2)
        time.sleep(0.3)
    assert {frame.json()["user_id"] for frame in ana.toasts()} == {"ana"}
    assert {frame.json()["account_id"] for frame in ana.toasts()} == {"acme"}
    assert {frame.json()["user_id"] for frame in ben.toasts()} == {"ben"}
    assert sorted(ticket_ids(ana) + ticket_ids(ben)) == ["T1", "T2", "T3", "T4"]
    events = dict(helpdesk.events("acme"))
    for frame in ana.toasts() + ben.toasts():  # each id is the toast's own id on the account stream
        assert frame.id is not None and events[frame.id].id == frame.json()["id"]


def test_the_stream_opens_with_its_position_and_answers_as_an_event_stream(
    helpdesk: Helpdesk, server: LiveServer
) -> None:
    with stream(server, "acme", "ana", token=token(helpdesk, "acme", "ana")) as ana:
        ready = ana.wait_ready()
    newest = helpdesk.events("acme")[-1][0]
    assert ready.id == newest and ready.json() == {"after": newest}
    assert "content-type: text/event-stream" in ana.head.lower()
    assert "cache-control: no-store" in ana.head.lower()


def test_resuming_after_last_event_id_loses_and_repeats_nothing(
    helpdesk: Helpdesk, server: LiveServer, redis_url: str
) -> None:
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE)
    worker = start_worker(redis_url)  # decides the tickets while the stream drops and resumes
    secret = token(helpdesk, "acme", "ana")
    wanted = [f"T{n:02d}" for n in range(40)]
    done = threading.Event()

    def keep_coming() -> None:
        for ticket_id in wanted:
            created = utc_iso(utc_now())
            helpdesk.submit_ticket(
                {"account_id": "acme", "ticket_id": ticket_id, "channel": "sms", "created_at": created}
            )
            time.sleep(0.03)
        done.set()

    feeder = threading.Thread(target=keep_coming, daemon=True)
    try:
        with stream(server, "acme", "ana", token=secret) as first:
            first.wait_ready()
            feeder.start()
            first.wait_toasts(8, timeout=30)
        resume = first.toasts()[-1].id  # the connection dropped mid-stream; tickets kept coming
        assert resume is not None
        time.sleep(0.2)
        with stream(server, "acme", "ana", token=secret, last_event_header=resume) as second:
            wait_for(done.is_set, 30, "every ticket submitted")
            second.wait_toasts(len(wanted) - len(first.toasts()), timeout=30)
            time.sleep(0.3)
        feeder.join(10)
    finally:
        stop_worker(worker)
    assert ticket_ids(first) + ticket_ids(second) == wanted  # in order, each once
    assert second.wait_ready().id == resume


def test_last_event_id_in_the_query_resumes_too(helpdesk: Helpdesk, server: LiveServer) -> None:
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE)
    before = helpdesk.events("acme")[-1][0]
    tickets(helpdesk, "acme", ["T1", "T2"])
    key = helpdesk.create_api_key("acme").key
    with stream(server, "acme", "ana", key=key, last_event_id=before) as reader:
        reader.wait_toasts(2)
    assert ticket_ids(reader) == ["T1", "T2"]


def reader_connections(client: redis.Redis) -> list[dict[str, str]]:
    return [entry for entry in client.client_list() if entry.get("name", "").startswith("helpdesk-rr:toasts:")]


def test_many_listeners_share_one_redis_connection_per_partition(
    helpdesk: Helpdesk, server: LiveServer, real_redis: redis.Redis
) -> None:
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE)
    secrets = {user: token(helpdesk, "acme", user) for user in ("ana", "ben")}
    connections_before = len(real_redis.client_list())
    readers = [stream(server, "acme", ("ana", "ben")[n % 2], token=secrets[("ana", "ben")[n % 2]]) for n in range(60)]
    readers += [stream(server, "globex", "ana", key=helpdesk.create_api_key("globex").key) for _ in range(5)]
    try:
        for reader in readers:
            reader.__enter__()
            reader.wait_ready()
        named = reader_connections(real_redis)
        partitions = {partition_of("acme"), partition_of("globex")}
        assert sorted(entry["name"] for entry in named) == sorted(f"helpdesk-rr:toasts:p{p:02d}" for p in partitions)
        assert len(real_redis.client_list()) - connections_before <= len(partitions) + 4  # + the app's pool
        tickets(helpdesk, "acme", ["T1"])
        for reader in readers[:60:2]:
            reader.wait_toasts(1)  # every one of ana's 30 streams got it
    finally:
        for reader in readers:
            reader.close()
    wait_for(lambda: not reader_connections(real_redis), 10, "the readers stopped with their last listener")


def test_the_reader_restarts_for_a_listener_after_the_last_one_left(helpdesk: Helpdesk, server: LiveServer) -> None:
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE)
    secret = token(helpdesk, "acme", "ana")
    for round_ in range(3):
        with stream(server, "acme", "ana", token=secret) as reader:
            reader.wait_ready()
            tickets(helpdesk, "acme", [f"R{round_}"])
            reader.wait_toasts(1)
        assert ticket_ids(reader) == [f"R{round_}"]


@pytest.mark.parametrize(
    ("who", "credential", "message"),
    [
        ("other account's key", "key:globex", "not a key of account acme"),
        ("other user's token", "token:acme:ben", "for another user"),
        ("other account's token", "token:globex:ana", "for another user"),
        ("expired token", "expired:acme:ana", "expired"),
        ("forged token", "forged:acme:ana", "not valid"),
        ("nothing", "none", "missing credential"),
        ("a token as a key", "bearer-token:acme:ana", "not a key of account acme"),
    ],
)
def test_wrong_credentials_are_401_json_and_stream_nothing(
    helpdesk: Helpdesk, server: LiveServer, who: str, credential: str, message: str
) -> None:
    kind, _, rest = credential.partition(":")
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    if kind == "key":
        headers["Authorization"] = f"Bearer {helpdesk.create_api_key(rest).key}"
    elif kind in ("token", "forged", "bearer-token"):
        account, user = rest.split(":")
        made = token(helpdesk, account, user)
        made = made[:-2] + ("AA" if made[-2:] != "AA" else "BB") if kind == "forged" else made
        if kind == "bearer-token":
            headers["Authorization"] = f"Bearer {made}"
        else:
            params["token"] = made
    elif kind == "expired":
        account, user = rest.split(":")
        params["token"] = helpdesk.agent_link(account, user, hours=1, now=utc_now() - timedelta(hours=2)).token
    with server.client() as http:
        answer = http.get(TOASTS.format(account="acme", user="ana"), params=params, headers=headers)
    assert answer.status_code == 401, who
    assert answer.headers["content-type"] == "application/json"
    assert message in answer.json()["error"]


def test_an_unknown_user_is_404_and_a_bad_last_event_id_422(helpdesk: Helpdesk, server: LiveServer) -> None:
    key = helpdesk.create_api_key("acme").key
    with server.client() as http:
        unknown = http.get(TOASTS.format(account="acme", user="ghost"), headers={"Authorization": f"Bearer {key}"})
        bad = http.get(
            TOASTS.format(account="acme", user="ana"),
            headers={"Authorization": f"Bearer {key}", "Last-Event-ID": "yesterday"},
        )
    assert unknown.status_code == 404 and unknown.json() == {"error": "unknown user ghost in account acme"}
    assert bad.status_code == 422 and bad.json()["error"].startswith("Last-Event-ID: 'yesterday' is not an event id")


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token_text=HEADER_TEXT, authorization=HEADER_TEXT, last_event=HEADER_TEXT)
def test_fuzzed_tokens_and_headers_are_refused_with_a_clear_4xx(
    helpdesk: Helpdesk,
    server: LiveServer,
    real_redis: redis.Redis,
    token_text: str,
    authorization: str,
    last_event: str,
) -> None:
    keys_before = sorted(real_redis.keys("*"))
    with server.client() as http:
        for params, headers in (
            ({"token": token_text}, {}),
            ({}, {"Authorization": authorization}),
            ({}, {"Authorization": f"Bearer {authorization}", "Last-Event-ID": last_event}),
            ({"token": f"rra1.{token_text}.{authorization}"}, {"Last-Event-ID": last_event}),
        ):
            headers = {name: value.strip() for name, value in headers.items() if value.strip()}  # as h11 sends them
            answer = http.get(TOASTS.format(account="acme", user="ana"), params=params, headers=headers)
            assert answer.status_code in (401, 422), (params, headers, answer.text)
            assert answer.headers["content-type"] == "application/json"
            assert answer.json()["error"]
    assert sorted(real_redis.keys("*")) == keys_before  # nothing changed (no signing key, nothing written)


def test_an_id_beyond_the_stream_starts_at_its_newest_event(helpdesk: Helpdesk, server: LiveServer) -> None:
    """A client holding an id from the future (the Redis was restored from an older copy) is not starved."""
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE)
    newest = helpdesk.events("acme")[-1][0]
    with stream(server, "acme", "ana", token=token(helpdesk, "acme", "ana"), last_event_header="99999999999999-0") as r:
        assert r.wait_ready().id == newest
        tickets(helpdesk, "acme", ["T1"])
        r.wait_toasts(1)
    assert ticket_ids(r) == ["T1"]


def test_a_reader_whose_connection_dies_reconnects_and_loses_nothing(
    helpdesk: Helpdesk, server: LiveServer, real_redis: redis.Redis
) -> None:
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE)
    with stream(server, "acme", "ana", token=token(helpdesk, "acme", "ana")) as reader:
        reader.wait_ready()
        (connection,) = reader_connections(real_redis)
        real_redis.client_kill_filter(_id=connection["id"])
        tickets(helpdesk, "acme", ["K1", "K2"])  # written while the reader is down
        reader.wait_toasts(2, timeout=15)
        wait_for(lambda: len(reader_connections(real_redis)) == 1, 10, "the reader is back, named again")
        assert reader_connections(real_redis)[0]["id"] != connection["id"]
    assert ticket_ids(reader) == ["K1", "K2"]
