"""Closing and reopening tickets end to end (issue 15): the ``helpdesk-rr close`` / ``reopen`` CLI and the
producers API (``enqueue_close`` / ``enqueue_reopen``), each enqueued, decided by a worker, seen in the event
stream and in agents' load (``users``). tests/test_lifecycle.py has the engine-level behaviours."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from freezegun import freeze_time
from rq import Queue, SimpleWorker
from rq.job import Job

from producers import enqueue_close, enqueue_reopen
from producers.queue import PROCESS_CLOSE, PROCESS_REOPEN, QUEUE_NAME, SERIALIZER, enqueue
from schemas.events import TicketClosed, TicketReopened, parse_event
from schemas.inbound import TicketClose, TicketReopen
from schemas.views import UserView
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.cli import ok, refused
from tests.support.jobs import returned
from worker.core.engine import Engine
from worker.core.queries import Queries


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    return redis_url


def set_up_account(url: str) -> None:
    ok(url, "user", "acme", "olivia", "--role", "owner")
    ok(url, "user", "acme", "ana", "--role", "agent")
    ok(url, "user", "acme", "ben", "--role", "agent")
    ok(url, "round-robin", "acme", "on", "--actor", "olivia")
    ok(url, "status", "acme", "ana", "online")
    ok(url, "status", "acme", "ben", "online")


def lifecycle_events(url: str) -> list[tuple[str, str, str | None]]:
    events = [parse_event(line) for line in ok(url, "events", "acme", "--json").splitlines()]
    return [(e.type, e.ticket_id, e.agent_id) for e in events if isinstance(e, TicketClosed | TicketReopened)]


def loads(url: str) -> dict[str, int]:
    views = [UserView.model_validate_json(line) for line in ok(url, "users", "acme", "--json").splitlines()]
    return {view.user_id: view.load for view in views}


def test_close_and_reopen_through_the_cli_are_decided_by_a_worker_and_move_load_in_users(url: str) -> None:
    set_up_account(url)
    for ticket_id in ("t1", "t2", "t3"):
        ok(url, "ticket", "acme", ticket_id, "--channel", "email")
    ok(url, "worker", "--burst")
    assert loads(url) == {"ana": 2, "ben": 1, "olivia": 0}

    out = ok(url, "close", "acme", "t1")
    assert out.startswith("enqueued close of acme/t1 as job ")
    assert lifecycle_events(url) == []  # enqueued, not yet decided
    ok(url, "close", "acme", "t1")  # a second close: idempotent
    ok(url, "close", "acme", "t2", "--at", "2026-11-24T16:00:00+01:00")
    ok(url, "worker", "--burst")
    assert lifecycle_events(url) == [("ticket.closed", "t1", "ana"), ("ticket.closed", "t2", "ben")]
    assert loads(url) == {"ana": 1, "ben": 0, "olivia": 0}
    closed_t2 = [parse_event(line) for line in ok(url, "events", "acme", "--json").splitlines()][-1]
    assert closed_t2.occurred_at.isoformat() == "2026-11-24T15:00:00+00:00"  # --at, in UTC

    assert ok(url, "reopen", "acme", "t1").startswith("enqueued reopen of acme/t1 as job ")
    ok(url, "reopen", "acme", "t1")
    ok(url, "worker", "--burst")
    assert lifecycle_events(url)[2:] == [("ticket.reopened", "t1", "ana")]
    assert loads(url) == {"ana": 2, "ben": 0, "olivia": 0}
    assert "ticket.closed      t2 (assigned to ben)" in ok(url, "events", "acme")
    assert "ticket.reopened    t1 (assigned to ana)" in ok(url, "events", "acme")


def test_a_close_before_its_ticket_through_the_cli_keeps_the_ticket_from_anyone(url: str) -> None:
    set_up_account(url)
    ok(url, "close", "acme", "early")
    ok(url, "worker", "--burst")
    ok(url, "ticket", "acme", "early", "--channel", "sms")
    ok(url, "worker", "--burst")
    events = [parse_event(line) for line in ok(url, "events", "acme", "--json").splitlines()]
    tickets = [(e.type, getattr(e, "reason", None)) for e in events if getattr(e, "ticket_id", None) == "early"]
    assert tickets == [("ticket.closed", None), ("ticket.unassigned", "closed")]
    assert ok(url, "unassigned", "acme", "--json") == ""
    assert set(loads(url).values()) == {0}


def test_refusals_are_one_plain_line_and_nothing_is_enqueued(url: str, real_redis: redis.Redis) -> None:
    set_up_account(url)
    for command in ("close", "reopen"):
        for args, words in [
            (("ghostco", "t1"), "unknown account 'ghostco'"),
            (("acme", "bad:id"), "ticket_id: 'bad:id' is not a valid id"),
            (("acme", "t1", "--at", "2026-11-24T16:00"), "at: '2026-11-24T16:00' has no UTC offset"),
            (("acme", "t1", "--at", "yesterday"), "at: 'yesterday' is not a date and time"),
            (("acme", "t1", "--at", "2999-01-01T10:00Z"), "is in the future"),
        ]:
            line = refused(url, command, *args)
            assert len(line.splitlines()) == 1 and line.startswith("error: "), line
            assert words in line, line
    assert Queue(QUEUE_NAME, connection=real_redis, serializer=SERIALIZER).count == 0
    ok(url, "worker", "--burst")
    assert lifecycle_events(url) == []


@pytest.mark.parametrize(
    ("model", "function", "enqueue_it"),
    [(TicketClose, PROCESS_CLOSE, enqueue_close), (TicketReopen, PROCESS_REOPEN, enqueue_reopen)],
)
def test_the_producers_api_enqueues_the_event_as_json_for_the_worker_function(
    client: redis.Redis,
    model: type[TicketClose] | type[TicketReopen],
    function: str,
    enqueue_it: Callable[[Any, redis.Redis], Job],
) -> None:
    event = model(account_id="acme", ticket_id="t1", at=NOW)
    fetched = Job.fetch(enqueue_it(event, client).id, connection=client, serializer=SERIALIZER)
    assert fetched.func_name == function
    assert list(fetched.args) == [json.loads(event.model_dump_json())]
    assert model.model_validate(fetched.args[0], context={"now": NOW}) == event


def test_the_producers_api_refuses_the_wrong_event_type(client: redis.Redis) -> None:
    close = TicketClose(account_id="acme", ticket_id="t1", at=NOW)
    reopen = TicketReopen(account_id="acme", ticket_id="t1", at=NOW)
    with pytest.raises(TypeError):
        enqueue_close(reopen, client)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        enqueue_reopen(close, client)  # type: ignore[arg-type]
    assert Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).count == 0


def test_closes_and_reopens_from_the_producers_api_are_decided_by_the_worker(
    client: redis.Redis, make_ticket: TicketFactory
) -> None:
    engine = Engine(client)
    setup_account(engine, online=("ana",))
    at = NOW + timedelta(seconds=1)
    with freeze_time(NOW + timedelta(seconds=5)):
        jobs = [
            enqueue(make_ticket(ticket_id="t1"), client),
            enqueue_close(TicketClose(account_id="acme", ticket_id="t1", at=at), client),
            enqueue_close(TicketClose(account_id="acme", ticket_id="t1", at=at), client),
            enqueue_close(TicketClose(account_id="acme", ticket_id="early", at=at), client),
            enqueue_reopen(TicketReopen(account_id="acme", ticket_id="t1", at=at), client),
        ]
        queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
        SimpleWorker([queue], connection=client, serializer=SERIALIZER).work(burst=True)
        results = [returned(Job.fetch(job.id, connection=client, serializer=SERIALIZER)) for job in jobs]
    assert [(r.get("action"), r.get("changed"), r["agent_id"]) for r in results] == [
        (None, None, "ana"),
        ("close", True, "ana"),
        ("close", False, "ana"),  # idempotent
        ("close", True, None),  # before its ticket: kept
        ("reopen", True, "ana"),
    ]
    assert {user.user_id: user.load for user in Queries(client).users("acme")}["ana"] == 1
    events = [e for _, e in Queries(client).events("acme") if isinstance(e, TicketClosed | TicketReopened)]
    assert [(e.type, e.ticket_id, e.occurred_at) for e in events] == [
        ("ticket.closed", "t1", at),
        ("ticket.closed", "early", at),
        ("ticket.reopened", "t1", at),
    ]
