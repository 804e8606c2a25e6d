"""Teams and bulk team assignment, on a real Redis and on fakeredis."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from freezegun import freeze_time
from pydantic import ValidationError
from rq import Queue
from rq.job import Job

import worker.core.bulk
from producers.queue import QUEUE_NAME, SERIALIZER
from schemas.common import AgentStatus, Role
from schemas.events import TicketAssigned
from schemas.inbound import MAX_BULK_TICKETS, BulkAssignRequest
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.jobs import returned
from tests.support.snapshots import snapshot
from worker.core.bulk import (
    BATCH_SIZE,
    MAX_BATCH_SIZE,
    MIN_BATCH_SIZE,
    EmptyTeam,
    UnknownTeam,
    call_duration_us,
    next_batch_size,
    run_bulk_assign,
    start_bulk_assign,
)
from worker.core.engine import Engine
from worker.core.queries import Queries
from worker.core.scripts import Scripts
from worker.errors import Forbidden, InvalidInput, UnknownUser
from worker.runtime.runner import make_worker


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with freeze_time(NOW):
        yield


def billing(
    engine: Engine, online: tuple[str, ...] = ("ben", "cara"), members: tuple[str, ...] = ("ben", "cara", "dan")
) -> None:
    setup_account(engine, agents=("ana", "ben", "cara", "dan"), online=online)
    engine.set_team("acme", "billing", list(members), "max", NOW)


def tickets(engine: Engine, make_ticket: TicketFactory, n: int, prefix: str = "b") -> list[str]:
    """n tickets decided while round robin is off (so they wait in the unassigned set)."""
    engine.set_round_robin("acme", False, "max", NOW)
    ids = [f"{prefix}{i}" for i in range(n)]
    for i, ticket_id in enumerate(ids):
        engine.decide(make_ticket(ticket_id=ticket_id, created_at=NOW - timedelta(minutes=n - i)), NOW)
    engine.set_round_robin("acme", True, "max", NOW)
    return ids


def run(client: redis.Redis, **request: Any) -> Job:
    job = start_bulk_assign(client, BulkAssignRequest(account_id="acme", team_id="billing", actor_id="ana", **request))
    make_worker(client).work(burst=True)
    return Job.fetch(job.id, connection=client, serializer=SERIALIZER)


def assigned_events(client: redis.Redis) -> list[TicketAssigned]:
    return [
        e for _, e in Queries(client).events("acme") if e.type == "ticket.assigned" and e.reason.value == "bulk_team"
    ]


# --- teams ---------------------------------------------------------------------------------------


def test_manager_sets_a_team_and_teams_lists_who_is_online(engine: Engine, client: redis.Redis) -> None:
    billing(engine, online=("cara", "ben"))
    (view,) = Queries(client).teams("acme")
    assert (view.team_id, view.members, view.online) == ("billing", ["ben", "cara", "dan"], ["cara", "ben"])
    _, event = Queries(client).events("acme")[-1]
    assert event.type == "settings.changed" and event.changes == {
        "team": {"team_id": "billing", "members": ["ben", "cara", "dan"]}
    }


def test_agent_may_not_define_a_team(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    before = snapshot(client)
    with pytest.raises(Forbidden, match="only owner, admin or manager"):
        engine.set_team("acme", "billing", ["ana"], "ben", NOW)
    assert snapshot(client) == before


def test_team_members_must_be_agents_or_higher_and_exist(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    engine.upsert_user("acme", "vic", Role.VIEWER, NOW)
    before = snapshot(client)
    with pytest.raises(Forbidden, match="viewer"):
        engine.set_team("acme", "billing", ["ana", "vic"], "max", NOW)
    with pytest.raises(UnknownUser, match="ghost"):
        engine.set_team("acme", "billing", ["ana", "ghost"], "max", NOW)
    with pytest.raises(InvalidInput, match="at least one member"):
        engine.set_team("acme", "billing", [], "max", NOW)
    assert snapshot(client) == before


# --- the bulk job ----------------------------------------------------------------------------


def test_bulk_spreads_over_online_members_in_rotation_order(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    billing(engine, online=("ben", "cara", "dan"))
    engine.decide(make_ticket(), NOW)  # ben just took an inbound ticket: he goes last, not first
    ids = tickets(engine, make_ticket, 8)
    job = run(client, ticket_ids=ids)
    agents = [e.agent_id for e in assigned_events(client)]
    assert agents == ["cara", "dan", "ben", "cara", "dan", "ben", "cara", "dan"]
    counts = Counter(agents)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert returned(job)["assigned"] == 8


def test_bulk_skips_offline_members(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    billing(engine, online=("ben",))
    run(client, ticket_ids=tickets(engine, make_ticket, 3))
    assert {e.agent_id for e in assigned_events(client)} == {"ben"}


def test_bulk_unassigned_takes_every_unassigned_ticket_oldest_first(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    billing(engine)
    ids = tickets(engine, make_ticket, 5)
    run(client, unassigned=True)
    assert [e.ticket_id for e in assigned_events(client)] == ids
    assert Queries(client).unassigned("acme") == []


def test_reassigned_ticket_carries_its_previous_agent(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    billing(engine, online=("ana", "dan"), members=("dan",))
    ticket = make_ticket()
    assert engine.decide(ticket, NOW).agent_id == "ana"
    run(client, ticket_ids=[ticket.ticket_id])
    (event,) = assigned_events(client)
    assert (event.agent_id, event.previous_agent_id, event.team_id) == ("dan", "ana", "billing")
    assert Queries(client).ticket("acme", ticket.ticket_id)["agent_id"] == "dan"  # type: ignore[index]


def test_each_agent_gets_one_toast_per_job(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    billing(engine)
    ids = tickets(engine, make_ticket, 5)
    run(client, ticket_ids=ids)
    toasts = [e for _, e in Queries(client).events("acme") if e.type == "toast"]
    assert [(t.user_id, t.text, t.ticket_ids) for t in toasts] == [
        ("ben", "3 tickets from team billing", [ids[0], ids[2], ids[4]]),
        ("cara", "2 tickets from team billing", [ids[1], ids[3]]),
    ]


def test_toasts_sent_in_chunks_survive_a_crash_between_chunks(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    billing(engine, online=("ben", "cara", "dan"))
    ids = tickets(engine, make_ticket, 7)
    keys = engine.keys("acme")
    engine.scripts.bulk_assign(keys, "billing", "job1", ids, 0, NOW)
    toasts: Callable[[], list[str]] = lambda: [  # noqa: E731
        e.user_id for _, e in Queries(client).events("acme") if e.type == "toast"
    ]
    # the first attempt sent ben's toast (a first chunk of one agent), then its worker died:
    engine.scripts._call(
        "bulk_finish",
        [keys.bulk_progress("job1"), keys.bulk_done("job1"), keys.events, keys.partition_events],
        ["acme", "billing", "job1", "2026-11-24T15:00:00.000Z", 1000, 0, 60, "0", "ben", 3, '"b0","b3","b6"'],
    )
    assert toasts() == ["ben"]
    assert engine.scripts.bulk_finish(keys, "billing", "job1", NOW, 60, chunk=1) == 2  # the retry: the others
    assert engine.scripts.bulk_finish(keys, "billing", "job1", NOW, 60, chunk=1) == 0  # and once more: none
    assert toasts() == ["ben", "cara", "dan"]
    assert 0 < client.ttl(keys.bulk_done("job1")) <= 60


def test_no_member_online_leaves_tickets_unassigned_and_says_so(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    billing(engine, online=("ana",))
    waiting = tickets(engine, make_ticket, 2)
    owned = make_ticket(ticket_id="owned")
    engine.decide(owned, NOW)  # assigned to ana, who is not in the team
    job = run(client, ticket_ids=[*waiting, "owned"])
    assert returned(job)["no_team_member_online"] is True
    rows = {r.ticket_id: r.reason.value for r in Queries(client).unassigned("acme")}
    assert rows == {"b0": "no_team_member_online", "b1": "no_team_member_online", "owned": "no_team_member_online"}
    assert not [e for _, e in Queries(client).events("acme") if e.type == "toast" and "team" in e.text]


def test_unknown_tickets_are_counted_not_invented(engine: Engine, client: redis.Redis) -> None:
    billing(engine)
    job = run(client, ticket_ids=["never-seen"])
    assert returned(job)["unknown"] == 1 and assigned_events(client) == []


def before_each_batch(monkeypatch: pytest.MonkeyPatch, hook: Callable[[list[int]], None] | None = None) -> list[int]:
    """Record the size of every batch the job builds, in order, calling ``hook(sizes so far)`` before
    each one is sent (to flush scripts, drop a connection, fail...). Returns the (live) list of sizes."""
    sizes: list[int] = []
    original = Scripts.bulk_assign_call

    def recording(self, keys, team_id, job_id, ticket_ids, first_position, now):  # type: ignore[no-untyped-def]
        sizes.append(len(ticket_ids))
        if hook is not None:
            hook(sizes)
        return original(self, keys, team_id, job_id, ticket_ids, first_position, now)

    monkeypatch.setattr(Scripts, "bulk_assign_call", recording)
    return sizes


def test_big_jobs_run_in_bounded_batches_and_report_progress(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    billing(engine, online=("ben", "cara", "dan"))
    ids = tickets(engine, make_ticket, 460)
    sizes = before_each_batch(monkeypatch)
    job = run(client, ticket_ids=ids)
    assert sizes[0] == BATCH_SIZE and sum(sizes) == 460 and len(sizes) > 1
    assert all(MIN_BATCH_SIZE <= size <= MAX_BATCH_SIZE for size in sizes[:-1])
    assert job.meta["progress"]["done"] == job.meta["progress"]["total"] == 460
    counts = Counter(e.agent_id for e in assigned_events(client))
    assert sorted(counts.values()) == [153, 153, 154]


@pytest.mark.parametrize(
    ("target_us", "expected"),
    [
        # calls far quicker than the target: each size doubles (the second batch left before the first
        # reply came back, so it repeats the first size), up to the maximum
        (10**9, [10, 10, 20, 40, 80, 80, 80]),
        # calls far slower than the target: down to the minimum at once
        (1, [10, 10] + [2] * 20),
        (None, [10] * 5),  # no target: fixed batches
    ],
)
def test_batches_are_sized_from_how_long_the_last_calls_ran(
    engine: Engine,
    client: redis.Redis,
    make_ticket: TicketFactory,
    monkeypatch: pytest.MonkeyPatch,
    target_us: int | None,
    expected: list[int],
) -> None:
    billing(engine, online=("ben", "cara", "dan"))
    ids = tickets(engine, make_ticket, sum(expected))
    settings = {"BATCH_TARGET_US": target_us, "BATCH_SIZE": 10, "MIN_BATCH_SIZE": 2, "MAX_BATCH_SIZE": 80}
    for name, value in settings.items():
        monkeypatch.setattr(worker.core.bulk, name, value)
    sizes = before_each_batch(monkeypatch)
    with freeze_time(NOW, tick=True):  # fakeredis's TIME is the (otherwise frozen) clock
        job = run(client, ticket_ids=ids)
    assert sizes == expected
    assert returned(job)["assigned"] == len(ids)


@pytest.mark.parametrize(
    ("size", "redis_us", "current", "expected"),
    [
        (100, 1_000, 100, 200),  # half the target: double, no more
        (100, 1_900, 100, 105),
        (100, 4_000, 100, 50),  # twice the target: halve at once
        (100, 400_000, 100, 10),  # never below the minimum
        (1_000, 100, 1_000, 1_000),  # never above the maximum
        (100, 0, 300, 300),  # a frozen script clock: keep the size
        (7, 70, 100, 200),  # the last (short) batch says ~10 µs a ticket
    ],
)
def test_next_batch_size(size: int, redis_us: int, current: int, expected: int) -> None:
    assert next_batch_size(size, redis_us, current) == expected


@pytest.mark.parametrize(
    ("redis_us", "sent_at", "previous_reply_at", "reply_at", "expected"),
    [
        (1_500, 0.0, 0.0, 9.0, 1_500),  # Redis's clock wins when it runs
        (0, 1.000, 0.990, 1.003, 3_000),  # frozen clock: from the send to the reply
        (0, 1.000, 1.002, 1.004, 2_000),  # ...or from the previous reply, if it was still queued then
        (0, 1.0, 1.0, 1.0, 1),  # never 0 (0 means "unknown" to next_batch_size)
    ],
)
def test_call_duration_falls_back_to_the_client_clock(
    redis_us: int, sent_at: float, previous_reply_at: float, reply_at: float, expected: int
) -> None:
    assert call_duration_us(redis_us, sent_at, previous_reply_at, reply_at) == pytest.approx(expected, abs=1)


def test_a_script_cache_flush_half_way_reloads_the_script_and_loses_no_batch(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    billing(engine, online=("ben", "cara", "dan"))
    ids = tickets(engine, make_ticket, 200)
    monkeypatch.setattr(worker.core.bulk, "BATCH_TARGET_US", None)
    monkeypatch.setattr(worker.core.bulk, "BATCH_SIZE", 25)

    def flush(sizes: list[int]) -> None:
        if len(sizes) in (3, 6):  # while earlier calls are in flight: the next EVALSHAs hit NOSCRIPT
            client.script_flush()

    before_each_batch(monkeypatch, flush)
    job = run(client, ticket_ids=ids)
    assert job.get_status() == "finished", job.latest_result().exc_string  # type: ignore[union-attr]
    assert (returned(job)["assigned"], returned(job)["already_done"]) == (200, 0)
    per_ticket = Counter(e.ticket_id for e in assigned_events(client))
    assert set(per_ticket) == set(ids) and max(per_ticket.values()) == 1


def test_a_connection_dropped_half_way_resumes_from_the_first_unconfirmed_batch(
    real_redis: redis.Redis, make_ticket: TicketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(real_redis)
    billing(engine, online=("ben", "cara", "dan"))
    ids = tickets(engine, make_ticket, 300)
    monkeypatch.setattr(worker.core.bulk, "BATCH_TARGET_US", None)
    monkeypatch.setattr(worker.core.bulk, "BATCH_SIZE", 50)

    def drop(sizes: list[int]) -> None:
        if len(sizes) == 3:  # two batches sent: kill the connection carrying them (as a failover would)
            for entry in real_redis.client_list():
                if entry["cmd"] == "evalsha":
                    real_redis.client_kill_filter(_id=entry["id"])

    built = before_each_batch(monkeypatch, drop)
    job = run(real_redis, ticket_ids=ids)
    assert job.get_status() == "finished"
    result = returned(job)
    assert result["assigned"] + result["already_done"] == 300 and result["assigned"] >= 200
    assert len(built) > 300 // 50  # batches after the drop were sent again
    per_ticket = Counter(e.ticket_id for e in assigned_events(real_redis))
    assert set(per_ticket) == set(ids) and max(per_ticket.values()) == 1
    assert sorted(Counter(e.agent_id for e in assigned_events(real_redis)).values()) == [100, 100, 100]


def test_a_connection_that_keeps_dropping_fails_the_job_for_rq_to_retry(
    real_redis: redis.Redis, make_ticket: TicketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(real_redis)
    billing(engine, online=("ben", "cara", "dan"))
    ids = tickets(engine, make_ticket, 20)
    monkeypatch.setattr(worker.core.bulk, "RESUME_BACKOFF_SECONDS", 0)
    resumed = []
    monkeypatch.setattr(worker.core.bulk.log, "warning", lambda event, **fields: resumed.append(fields["attempt"]))

    def fail(sizes: list[int]) -> None:
        raise redis.exceptions.ConnectionError("Connection closed by server.")

    before_each_batch(monkeypatch, fail)
    request = BulkAssignRequest(account_id="acme", team_id="billing", actor_id="ana", ticket_ids=ids)
    job = start_bulk_assign(real_redis, request)
    with pytest.raises(redis.exceptions.ConnectionError):
        run_bulk_assign(engine, job, request)
    assert resumed == [1, 2, 3]  # then it gives up: the job fails and RQ retries it (Retry(3))
    assert assigned_events(real_redis) == []


def test_a_job_retried_after_a_crash_half_way_assigns_no_ticket_twice(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    billing(engine, online=("ben", "cara", "dan"))
    ids = tickets(engine, make_ticket, 300)
    request = BulkAssignRequest(account_id="acme", team_id="billing", actor_id="ana", ticket_ids=ids)
    job = start_bulk_assign(client, request)
    # the first attempt got through one batch, then its worker died:
    keys = engine.keys("acme")
    engine.scripts.bulk_assign(keys, "billing", job.id, ids[:120], 0, NOW)
    make_worker(client).work(burst=True)  # the retry
    result = returned(Job.fetch(job.id, connection=client, serializer=SERIALIZER))
    assert (result["assigned"], result["already_done"]) == (180, 120)
    per_ticket = Counter(e.ticket_id for e in assigned_events(client))
    assert set(per_ticket) == set(ids) and max(per_ticket.values()) == 1
    run_bulk_assign(
        engine, Job.fetch(job.id, connection=client, serializer=SERIALIZER), request
    )  # and once more: nothing new
    assert len(assigned_events(client)) == 300
    assert len([e for _, e in Queries(client).events("acme") if e.type == "toast" and "team" in e.text]) == 3


# --- bad input: refused before anything is enqueued ----------------------------------------------


@pytest.mark.parametrize(
    ("request_fields", "error", "message"),
    [
        ({"team_id": "nope"}, UnknownTeam, "unknown team nope"),
        ({"actor_id": "vic"}, Forbidden, "viewer"),
        ({"actor_id": "ghost"}, UnknownUser, "ghost"),
        ({"team_id": "hollow"}, EmptyTeam, "no members"),
    ],
)
def test_bulk_request_refused_before_enqueue(
    engine: Engine, client: redis.Redis, request_fields: dict[str, str], error: type[Exception], message: str
) -> None:
    billing(engine)
    engine.upsert_user("acme", "vic", Role.VIEWER, NOW)
    client.sadd(engine.keys("acme").teams, "hollow")  # a team whose members were all removed
    fields = {"account_id": "acme", "team_id": "billing", "actor_id": "ana", "ticket_ids": ["t1"], **request_fields}
    with pytest.raises(error, match=message):
        start_bulk_assign(client, BulkAssignRequest.model_validate(fields))
    assert Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).count == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"ticket_ids": []},
        {"ticket_ids": [f"t{i}" for i in range(MAX_BULK_TICKETS + 1)]},
        {},
        {"ticket_ids": ["t1"], "unassigned": True},
        {"ticket_ids": ["bad id"]},
    ],
)
def test_bulk_request_shape_is_validated(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BulkAssignRequest.model_validate({"account_id": "acme", "team_id": "billing", "actor_id": "ana", **fields})


def test_a_member_who_just_came_online_joins_the_bulk_rotation_at_the_back(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    billing(engine, online=("ben",))
    run(client, ticket_ids=tickets(engine, make_ticket, 2, "x"))
    engine.set_status("acme", "cara", AgentStatus.ONLINE, "cara", NOW)
    run(client, ticket_ids=tickets(engine, make_ticket, 2, "y"))
    assert [e.agent_id for e in assigned_events(client)][-2:] == ["ben", "cara"]
