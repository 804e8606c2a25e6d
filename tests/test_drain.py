"""The burst intake's drain (worker/runtime/drain.py) and its batch decision (worker/core/decide_many.py), run
in-process on real Redis and fakeredis: order, duplicates, set-aside entries, handoff, stale office hours."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from rq import Queue, Retry, SimpleWorker

from producers.lanes import DRAIN_LANE, LaneKeys, lane_of, push_many
from producers.queue import QUEUE_NAME, SERIALIZER
from schemas.common import Channel
from schemas.events import TicketAssigned, TicketUnassigned
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.jobs import failure_reason, returned
from worker.core.decide_many import Arrival, Refusal, decide_many
from worker.core.decision import Decision
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.runtime.drain import LaneDrain
from worker.runtime.failures import list_failed, requeue


def decided_in_order(client: redis.Redis, account: str) -> list[str]:
    """The account's ticket decisions as its event stream holds them, in order."""
    return [
        event.ticket_id
        for _, event in Queries(client).events(account)
        if isinstance(event, TicketAssigned | TicketUnassigned)
    ]


def drain(client: redis.Redis, lane: int, **options: float) -> LaneDrain:
    lane_drain = LaneDrain(Engine(client), client, lane, **options)  # type: ignore[arg-type]
    lane_drain.run()
    return lane_drain


def test_a_drain_decides_its_lane_in_push_order_and_gives_it_up(
    client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(Engine(client), online=("ana", "ben"))
    tickets = [make_ticket(channel=[Channel.EMAIL, Channel.SMS][n % 2]) for n in range(120)]
    lane = push_many(tickets[:70], client)[0].lane
    push_many(tickets[70:], client)
    result = drain(client, lane).result
    assert (result.decided, result.set_aside, result.ended) == (120, 0, "empty")
    assert result.batches >= 2  # sized batches, not one call
    assert decided_in_order(client, "acme") == [t.ticket_id for t in tickets]
    keys = LaneKeys(lane)
    assert client.exists(keys.pending, keys.lease, keys.bell) == 0
    assigned = [Queries(client).ticket("acme", t.ticket_id)["agent_id"] for t in tickets]  # type: ignore[index]
    assert assigned == ["ana", "ben"] * 60  # the rotation, exactly as one at a time


def test_tickets_pushed_twice_or_already_decided_are_decided_once(
    client: redis.Redis, make_ticket: TicketFactory
) -> None:
    engine = Engine(client)
    setup_account(engine, online=("ana", "ben"))
    tickets = [make_ticket() for _ in range(6)]
    engine.decide(tickets[0], utc_now())  # the per-ticket path decided it first
    lane = push_many([*tickets, tickets[2], tickets[0]], client)[0].lane
    assert drain(client, lane).result.decided == 8
    assert decided_in_order(client, "acme") == [t.ticket_id for t in tickets]  # no second decision, no event


def test_what_cannot_be_decided_is_set_aside_and_holds_nobody_back(
    client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(Engine(client), online=("ana",))
    lane = lane_of("acme")
    ghost = next(f"ghost{n}" for n in range(1000) if lane_of(f"ghost{n}") == lane)  # nobody set it up
    good = [make_ticket() for _ in range(3)]
    refused = make_ticket(account_id=ghost)
    push_many(good[:1], client)
    pending = LaneKeys(lane).pending
    client.rpush(pending, "not json")
    client.rpush(pending, json.dumps({"ticket": {"account_id": "acme", "ticket_id": "bad id!"}, "enqueued_ms": 1}))
    push_many([refused, *good[1:]], client)

    result = drain(client, lane).result
    assert (result.decided, result.set_aside) == (3, 3)
    assert decided_in_order(client, "acme") == [t.ticket_id for t in good]
    rows = {row.ticket_id: row for row in list_failed(client)}
    assert rows[refused.ticket_id].account_id == ghost
    assert rows[refused.ticket_id].reason.startswith(f"UnknownAccount: account {ghost} has no users")
    assert rows["bad id!"].reason.startswith("InvalidJob: invalid ticket.created event: ")
    assert rows[None].reason == "InvalidJob: lane entry is not JSON (got 'not json')"

    client.rpush(pending, "not json")  # set aside again (a drain that died before confirming): one row still
    drain(client, lane)
    assert len(list_failed(client)) == 3

    setup_account(Engine(client), ghost, online=("ana",))  # fixed: requeued, decided as any ticket job
    assert requeue(client, [rows[refused.ticket_id]]) == 1
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    SimpleWorker([queue], connection=client, serializer=SERIALIZER).work(burst=True)
    assert Queries(client).ticket(ghost, refused.ticket_id)["agent_id"] == "ana"  # type: ignore[index]


def test_a_ticket_whose_state_breaks_the_script_is_set_aside_and_the_rest_decided_in_order(
    client: redis.Redis, make_ticket: TicketFactory
) -> None:
    engine = Engine(client)
    setup_account(engine, online=("ana", "ben"))
    tickets = [make_ticket() for _ in range(6)]
    client.set(engine.keys("acme").ticket(tickets[3].ticket_id), "not a hash")  # corrupt: WRONGTYPE in the script
    lane = push_many(tickets, client)[0].lane
    result = drain(client, lane).result
    assert (result.decided, result.set_aside, result.ended) == (5, 1, "empty")
    assert decided_in_order(client, "acme") == [t.ticket_id for n, t in enumerate(tickets) if n != 3]
    (row,) = list_failed(client, "acme")
    assert row.ticket_id == tickets[3].ticket_id and "WRONGTYPE" in row.reason


def test_transient_errors_are_not_poison() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ReadOnlyError, ResponseError

    from worker.errors import InvalidInput, StaleOfficeHours
    from worker.runtime.drain import is_poison

    assert is_poison(ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    assert is_poison(ResponseError("Error running script (call to f_1): @user_script:9: bad"))
    assert is_poison(InvalidInput("ticket_id: bad"))
    for transient in (
        RedisConnectionError("gone"),
        ReadOnlyError("READONLY You can't write against a read only replica."),
        ResponseError("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."),
        ResponseError("OOM command not allowed when used memory > 'maxmemory'."),
        StaleOfficeHours("7"),
    ):
        assert not is_poison(transient), transient


def test_a_drain_past_its_budget_hands_the_lane_to_a_new_job(client: redis.Redis, make_ticket: TicketFactory) -> None:
    setup_account(Engine(client), online=("ana",))
    tickets = [make_ticket() for _ in range(50)]
    lane = push_many(tickets, client)[0].lane
    Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).empty()  # type: ignore[no-untyped-call]
    result = drain(client, lane, budget_seconds=0).result
    assert result.ended == "rang" and 0 < result.decided < 50
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    assert [job.func_name for job in queue.get_jobs()] == [DRAIN_LANE]
    assert client.llen(LaneKeys(lane).pending) == 50 - result.decided
    assert drain(client, lane).result.ended == "empty"
    assert decided_in_order(client, "acme") == [t.ticket_id for t in tickets]


def test_a_drain_finds_its_lane_taken_and_leaves_it_to_the_holder(
    client: redis.Redis, make_ticket: TicketFactory
) -> None:
    lane = push_many([make_ticket()], client)[0].lane
    client.set(LaneKeys(lane).lease, "another drain")
    assert drain(client, lane).result.ended == "busy"
    assert client.llen(LaneKeys(lane).pending) == 1 and client.exists(LaneKeys(lane).bell) == 0


def test_a_batch_reloads_office_hours_that_changed_under_it(client: redis.Redis, make_ticket: TicketFactory) -> None:
    engine = Engine(client)
    setup_account(engine, online=("ana",))
    now = utc_now()
    always = OfficeHours.model_validate({"timezone": "UTC", "weekly": {d: ["00:00-24:00"] for d in DAYS}})
    engine.set_office_hours("acme", always, "max", now)
    first = make_ticket(channel=Channel.WEBCHAT, created_at=now - timedelta(seconds=2))
    assert engine.decide(first, now).outcome == "assigned"  # caches them
    Engine(client).set_office_hours("acme", OfficeHours.model_validate({"timezone": "UTC", "weekly": {}}), "max", now)
    batch = [make_ticket(channel=c, created_at=now - timedelta(seconds=1)) for c in (Channel.EMAIL, Channel.WEBCHAT)]
    outcomes = decide_many(engine, [Arrival(t) for t in batch], now)
    assert [(o.outcome, o.reason) for o in outcomes if isinstance(o, Decision)] == [
        ("assigned", "round_robin"),
        ("unassigned", "after_hours"),  # decided on the new hours, not the cached ones
    ]


def test_a_batch_is_one_partition(client: redis.Redis, make_ticket: TicketFactory) -> None:
    engine = Engine(client)
    other = next(f"x{n}" for n in range(1000) if engine.keys(f"x{n}").partition != engine.keys("acme").partition)
    with pytest.raises(ValueError, match="one partition"):
        decide_many(engine, [Arrival(make_ticket()), Arrival(make_ticket(account_id=other))], NOW)
    assert client.keys("*") == []


def test_a_refusal_in_a_batch_is_returned_not_raised(client: redis.Redis, make_ticket: TicketFactory) -> None:
    engine = Engine(client)
    setup_account(engine, online=("ana",))
    ghost = next(f"g{n}" for n in range(1000) if engine.keys(f"g{n}").partition == engine.keys("acme").partition)
    outcomes = decide_many(engine, [Arrival(make_ticket(account_id=ghost)), Arrival(make_ticket())], utc_now())
    assert isinstance(outcomes[0], Refusal) and outcomes[0].reason.startswith("UnknownAccount: ")
    assert isinstance(outcomes[1], Decision) and outcomes[1].agent_id == "ana"


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"lane": "3"}, 'payload must be a JSON object with an integer lane (got {"lane": "3"})'),
        ({"lane": True}, "payload must be a JSON object with an integer lane"),
        ({"lane": 16}, "lane must be 0..15, got 16"),
        ([3], "payload must be a JSON object with an integer lane (got [3])"),
    ],
)
def test_a_bad_drain_job_fails_once_with_its_reason(client: redis.Redis, payload: object, words: str) -> None:
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    job = queue.enqueue(DRAIN_LANE, payload, retry=Retry(max=3))
    SimpleWorker([queue], connection=client, serializer=SERIALIZER).work(burst=True)
    job.refresh()  # type: ignore[no-untyped-call]
    assert job.is_failed and job.retries_left == 0
    assert words in failure_reason(job).strip().splitlines()[-1]


def test_a_drain_job_run_by_a_worker_decides_its_lane(client: redis.Redis, make_ticket: TicketFactory) -> None:
    setup_account(Engine(client), online=("ana",))
    pushed = push_many([make_ticket() for _ in range(3)], client)
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    SimpleWorker([queue], connection=client, serializer=SERIALIZER).work(burst=True)
    assert returned(queue.fetch_job(pushed[0].drain_job_id)) == {  # type: ignore[arg-type]
        "lane": pushed[0].lane,
        "decided": 3,
        "set_aside": 0,
        "batches": 1,
        "longest_call_ms": pytest.approx(0, abs=1000),
        "ended": "empty",
    }
