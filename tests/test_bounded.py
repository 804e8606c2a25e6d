"""Large sizes stay correct once every Redis call is bounded (issue 13, item 5): a bulk job to a
3,000-member team, a team set in slices, events and report read in pages. The timings themselves are
measured by ``python -m bench --only bounded`` (docs/PERFORMANCE.md), never asserted here."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from freezegun import freeze_time
from rq.job import Job

import worker.core.bulk
import worker.core.queries
from producers.queue import SERIALIZER
from schemas.common import AgentStatus, Role
from schemas.events import AgentStatusChanged, TicketAssigned, UnreadableEvent
from schemas.inbound import BulkAssignRequest
from tests.support.accounts import NOW, TicketFactory
from tests.support.cli import ok
from tests.support.jobs import returned
from worker.api import Helpdesk
from worker.core.bulk import REFRESH_SLICE, start_bulk_assign
from worker.core.checks import MAX_TEAM_SIZE
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.core.scripts import BulkBatchReply
from worker.core.text import text
from worker.errors import InvalidInput, UnknownUser
from worker.reports import format_text, load_report, render_html
from worker.runtime.runner import make_worker

TEAM = 3_000


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with freeze_time(NOW):
        yield


def members(n: int = TEAM) -> list[str]:
    return [f"m{i:05d}" for i in range(n)]


def big_team(engine: Engine, client: redis.Redis, n: int = TEAM) -> list[str]:
    """A team of ``n`` agents, all Online, joined in a shuffled order (so rotation order ≠ id order).
    Users and statuses are written straight into the account's keys: thousands of set_user and
    set_status calls would only slow the test down."""
    keys = engine.keys("acme")
    engine.upsert_user("acme", "max", Role.MANAGER, NOW)
    team = members(n)
    joined = sorted(team, key=lambda m: (int(m[1:]) * 7919) % n)
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.users, mapping=dict.fromkeys(team, Role.AGENT.value))
    for place, member in enumerate(joined, start=1):
        pipe.zadd(keys.online, {member: place})
        pipe.hset(keys.places, member, place)
    pipe.set(keys.seq, n)
    pipe.execute()
    engine.set_round_robin("acme", True, "max", NOW)
    engine.set_team("acme", "big", team, "max", NOW)
    return joined


def waiting_tickets(engine: Engine, make_ticket: TicketFactory, n: int) -> list[str]:
    engine.set_round_robin("acme", False, "max", NOW)
    ids = [f"w{i:05d}" for i in range(n)]
    for ticket_id in ids:
        engine.decide(make_ticket(ticket_id=ticket_id), NOW)
    engine.set_round_robin("acme", True, "max", NOW)
    return ids


def run(client: redis.Redis, ids: list[str]) -> Job:
    request = BulkAssignRequest(account_id="acme", team_id="big", actor_id="max", ticket_ids=ids)
    job = start_bulk_assign(client, request)
    make_worker(client).work(burst=True)
    return Job.fetch(job.id, connection=client, serializer=SERIALIZER)


def bulk_assigned(client: redis.Redis) -> list[TicketAssigned]:
    events = Queries(client).events("acme")
    return [e for _, e in events if e.type == "ticket.assigned" and e.reason.value == "bulk_team"]


def test_a_large_team_is_assigned_in_rotation_order_and_evenly(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    assert TEAM > 2 * REFRESH_SLICE  # the job files the team a slice at a time before any ticket
    rotation = big_team(engine, client)
    ids = waiting_tickets(engine, make_ticket, 4_500)
    job = run(client, ids)
    assert returned(job)["assigned"] == 4_500
    events = bulk_assigned(client)
    assert [e.ticket_id for e in events] == ids
    # one full round in rotation order, then the first 1,500 again (each went to the back):
    assert [e.agent_id for e in events] == rotation + rotation[:1_500]
    assert sorted(set(Counter(e.agent_id for e in events).values())) == [1, 2]
    keys = engine.keys("acme")
    assert not client.exists(keys.bulk_queue(job.id))  # the job's rotation queue is gone with the job
    assert Queries(client).online_in_rotation_order("acme")[:3] == rotation[1_500:1_503]


def test_members_going_offline_mid_job_get_no_ticket_and_the_job_goes_on(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotation = big_team(engine, client)
    ids = waiting_tickets(engine, make_ticket, 600)
    gone = rotation[:1_000]  # the head of the line: more stale entries than one call clears
    replies: list[BulkBatchReply] = []
    original = BulkBatchReply.from_reply

    def recording(reply: list[Any]) -> BulkBatchReply:
        parsed = original(reply)
        replies.append(parsed)
        if len(replies) == len(rotation) // REFRESH_SLICE - 2:  # before the first ticket call is sent
            for member in gone:
                engine.set_status("acme", member, AgentStatus.OFFLINE, member, NOW)
        return parsed

    monkeypatch.setattr(BulkBatchReply, "from_reply", staticmethod(recording))
    job = run(client, ids)
    assert any(reply.again for reply in replies)  # some call cleared stale entries instead of assigning
    events = bulk_assigned(client)
    assert sorted(e.ticket_id for e in events) == sorted(ids)  # each exactly once
    assert not {e.agent_id for e in events} & set(gone)
    assert [e.agent_id for e in sorted(events, key=lambda e: ids.index(e.ticket_id))] == rotation[1_000:1_600]
    result = returned(job)
    assert result["assigned"] + result["already_done"] == 600


def test_a_member_coming_online_mid_job_is_picked_up_when_their_slice_is_refreshed(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotation = big_team(engine, client, n=600)
    late = rotation[0]  # first in line, but Offline when the job starts
    engine.set_status("acme", late, AgentStatus.OFFLINE, late, NOW)
    ids = waiting_tickets(engine, make_ticket, 1_200)
    monkeypatch.setattr(worker.core.bulk, "BATCH_TARGET_US", None)  # fixed batches of BATCH_SIZE
    calls = 0
    original = BulkBatchReply.from_reply

    def recording(reply: list[Any]) -> BulkBatchReply:
        nonlocal calls
        calls += 1
        if calls == 5:
            engine.set_status("acme", late, AgentStatus.ONLINE, late, NOW)
        return original(reply)

    monkeypatch.setattr(BulkBatchReply, "from_reply", staticmethod(recording))
    run(client, ids)
    counts = Counter(e.agent_id for e in bulk_assigned(client))
    assert counts[late] >= 1  # back in the queue once a call re-checked their slice
    assert sum(counts.values()) == 1_200


# --- teams set a slice per call ----------------------------------------------------------------------


def team_events(client: redis.Redis) -> list[dict[str, Any]]:
    events = Queries(client).events("acme")
    return [e.changes["team"] for _, e in events if e.type == "settings.changed" and "team" in e.changes]


def test_a_large_team_is_set_in_slices_and_its_event_gives_a_count_not_the_list(
    engine: Engine, client: redis.Redis
) -> None:
    big_team(engine, client, n=1_200)  # more than one set_team call (TEAM_SLICE) and than an event lists
    keys = engine.keys("acme")
    assert Queries(client).team_members("acme", "big") == members(1_200)
    assert team_events(client) == [{"team_id": "big", "members": None, "member_count": 1_200}]
    assert not client.exists(keys.team_staging("big"))
    assert engine.set_team("acme", "big", members(1_200), "max", NOW) is False  # the same members: no change
    assert engine.set_team("acme", "big", members(1_199), "max", NOW) is True
    assert engine.set_team("acme", "big", members(3), "max", NOW) is True  # small again: listed in the event
    assert Queries(client).team_members("acme", "big") == members(3)
    assert team_events(client)[1:] == [
        {"team_id": "big", "members": None, "member_count": 1_199},
        {"team_id": "big", "members": members(3)},
    ]


def test_a_team_above_the_maximum_is_refused_and_nothing_changes(engine: Engine, client: redis.Redis) -> None:
    engine.upsert_user("acme", "max", Role.MANAGER, NOW)
    with pytest.raises(InvalidInput, match="at most 10,000 members"):
        engine.set_team("acme", "big", members(MAX_TEAM_SIZE + 1), "max", NOW)
    assert Queries(client).teams("acme") == []


def test_a_refused_member_in_a_later_slice_leaves_the_team_as_it_was(engine: Engine, client: redis.Redis) -> None:
    big_team(engine, client, n=600)
    with pytest.raises(UnknownUser):
        engine.set_team("acme", "big", [*members(600), "zz-ghost"], "max", NOW)  # the ghost is in the 2nd slice
    assert Queries(client).team_members("acme", "big") == members(600)
    assert len(team_events(client)) == 1


# --- events read in pages; an unreadable entry is shown, not fatal -----------------------------------


def status_event(n: int) -> str:
    return AgentStatusChanged(
        id=f"e{n}", account_id="acme", occurred_at=NOW, user_id=f"u{n}", status=AgentStatus.ONLINE, actor_id=None
    ).model_dump_json()


def fill_stream(client: redis.Redis, n: int) -> list[str]:
    """``n`` valid events on acme's stream (written directly: only the reading is under test)."""
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(AccountKeys.for_account("acme").events, {"type": "agent.status_changed", "data": status_event(i)})
    return [text(entry_id) for entry_id in pipe.execute()]


def test_events_are_read_in_pages_and_come_back_complete_and_in_order(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker.core.queries, "EVENTS_PAGE", 100)
    ids = fill_stream(client, 1_234)
    calls: list[Any] = []
    original = client.xrange

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("count"))
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "xrange", counting)
    queries = Queries(client)
    read = queries.events("acme")
    assert [entry_id for entry_id, _ in read] == ids
    assert [event.id for _, event in read] == [f"e{i}" for i in range(1_234)]
    assert calls == [100] * 13  # 12 full pages and a short last one: never one call for the whole stream
    assert [entry_id for entry_id, _ in queries.events("acme", after=ids[449], count=250)] == ids[450:700]
    assert queries.events("acme", after=ids[-1]) == []


def bad_entries(client: redis.Redis) -> list[str]:
    """Valid events with three bad entries between them: not JSON, not an event, no data at all (and a
    user, since the API refuses to read an account nobody set up)."""
    client.hset(AccountKeys.for_account("acme").users, "ana", "agent")
    stream = AccountKeys.for_account("acme").events
    ids = fill_stream(client, 2)
    ids.append(text(client.xadd(stream, {"type": "x", "data": "not json {"})))
    ids.append(text(client.xadd(stream, {"type": "ticket.assigned", "data": '{"type": "ticket.assigned"}'})))
    ids.append(text(client.xadd(stream, {"something": "else"})))
    return ids + fill_stream(client, 1)


def test_an_unreadable_entry_is_returned_in_place_and_the_rest_still_read(client: redis.Redis) -> None:
    ids = bad_entries(client)
    read = Helpdesk.for_client(client).events("acme")
    assert [entry_id for entry_id, _ in read] == ids
    kinds = [event.type for _, event in read]
    assert kinds == ["agent.status_changed", "agent.status_changed", "unreadable", "unreadable", "unreadable",
                     "agent.status_changed"]  # fmt: skip
    unreadable = [event for _, event in read if isinstance(event, UnreadableEvent)]
    assert [event.entry_id for event in unreadable] == ids[2:5]
    assert "JSON" in unreadable[0].reason and unreadable[2].reason == "no data field"
    assert all("\n" not in event.reason for event in unreadable)


def test_follow_events_goes_on_past_an_unreadable_entry(client: redis.Redis) -> None:
    ids = bad_entries(client)
    followed = Helpdesk.for_client(client).follow_events("acme", after="0-0", block_ms=10)
    got = [next(followed) for _ in ids]
    assert [entry_id for entry_id, _ in got] == ids
    assert [event.type for _, event in got].count("unreadable") == 3


def test_the_events_command_prints_an_unreadable_entry_as_one_line_and_goes_on(
    real_redis: redis.Redis, redis_url: str
) -> None:
    ids = bad_entries(real_redis)
    lines = ok(redis_url, "events", "acme").splitlines()
    assert len(lines) == 6
    assert lines[2].startswith(f"unreadable entry {ids[2]}: ")
    assert lines[4] == f"unreadable entry {ids[4]}: no data field"
    as_json = [json.loads(line) for line in ok(redis_url, "events", "acme", "--json").splitlines()]
    assert [row["type"] for row in as_json].count("unreadable") == 3 and as_json[4]["entry_id"] == ids[4]


# --- the report reads the busiest hours' Online sets in pages, and lists at most 100 -----------------


def test_the_report_lists_at_most_100_online_agents_and_says_how_many_more(client: redis.Redis) -> None:
    keys = AccountKeys.for_account("acme")
    day, hour = NOW.date(), NOW.hour
    client.hset(keys.stats(day.isoformat()), mapping={f"arrived:{hour:02d}:email": 5, "arrived:03:sms": 2})
    client.sadd(keys.stats_online(day.isoformat(), f"{hour:02d}"), *members(2_500))
    client.sadd(keys.stats_online(day.isoformat(), "03"), "ana", "ben")
    report = load_report(client, "acme", day, day, now=NOW)
    busy, quiet = report.busiest_hours
    assert (busy.online_count, len(busy.online), busy.online == sorted(busy.online)) == (2_500, 100, True)
    assert set(busy.online) <= set(members(2_500))
    assert (quiet.online, quiet.online_count) == (["ana", "ben"], 2)  # a small set: every name, as before
    assert "and 2,400 more" in format_text(report) and "and 2,400 more" in render_html(report)


def test_the_report_reads_every_online_set_of_the_period_in_pages(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Who was Online at all (agents with no ticket are listed with 0): the union of the period's hourly
    Online sets, read with SSCAN pages (several for a big set), never with SMEMBERS or SUNION of them all."""
    keys = AccountKeys.for_account("acme")
    day = NOW.date()
    client.sadd(keys.stats_online(day.isoformat(), "09"), *members(2_500))
    client.sadd(keys.stats_online(day.isoformat(), "23"), "zoe", members(1)[0])
    client.hset(keys.stats(day.isoformat()), mapping={f"assigned:{members(1)[0]}": 3})
    for command in ("smembers", "sunion"):
        monkeypatch.setattr(type(client), command, lambda *a, **k: pytest.fail("read a whole set at once"))
    report = load_report(client, "acme", day, day, now=NOW)
    assert report.assignments.online_without_tickets == sorted([*members(2_500)[1:], "zoe"])
    text_report = format_text(report)  # the terminal lists 100 by name and says how many more
    assert "2500 agent(s) were Online in the period and got no ticket" in text_report
    assert "and 2,400 more agents Online with no ticket" in text_report
