"""The partition-stream consumer library (worker/ops/consumer.py) and ``helpdesk-rr events --all``.

Runs on a real Redis and on fakeredis (the ``client`` fixture); the CLI tests drive a subprocess
against the real server.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from structlog.testing import capture_logs

from schemas.common import AgentStatus, Channel
from schemas.events import Event, parse_event
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.cli import ok, refused
from worker.core.engine import Engine
from worker.core.keys import AccountKeys, all_partition_streams, partition_of, partition_stream
from worker.core.queries import Queries
from worker.core.scripts import Scripts
from worker.ops.consumer import EventConsumer

FAR_FUTURE_MS = 10**13
"""A trim horizon past every entry: only the groups' positions limit trimming."""


def accounts_in_distinct_partitions(count: int) -> list[str]:
    found: dict[int, str] = {}
    for n in range(1000):
        name = f"acct{n}"
        found.setdefault(partition_of(name), name)
        if len(found) == count:
            break
    return list(found.values())


ACCOUNTS = accounts_in_distinct_partitions(3)


def make_events(engine: Engine, make_ticket: TicketFactory, accounts: list[str], tickets: int = 4) -> None:
    """Some settings, status and assignment (+ toast) events in each account."""
    for account in accounts:
        setup_account(engine, account, online=("ana", "ben"))
    for i in range(tickets):
        for account in accounts:
            engine.decide(make_ticket(account, Channel.EMAIL, ticket_id=f"{account}-t{i}"), NOW)


def expected_ids(client: redis.Redis, accounts: list[str]) -> dict[str, list[str]]:
    """Each account's event ids in order, from its own stream (the reference order)."""
    queries = Queries(client)
    return {account: [event.id for _, event in queries.events(account)] for account in accounts}


def by_account(events: list[Event]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for event in events:
        grouped.setdefault(event.account_id, []).append(event.id)
    return grouped


def consume_all(consumer: EventConsumer) -> list[Event]:
    seen: list[Event] = []
    consumer.drain(seen.append)
    return seen


def new_consumer(
    client: redis.Redis,
    group: str = "toasts",
    name: str = "c1",
    *,
    batch: int = 100,
    claim_idle_ms: int = 60_000,
    max_deliveries: int = 5,
) -> EventConsumer:
    """A non-blocking consumer whose group starts at the beginning of the streams."""
    consumer = EventConsumer(
        client,
        group,
        name,
        block_ms=None,
        batch=batch,
        claim_idle_ms=claim_idle_ms,
        max_deliveries=max_deliveries,
    )
    consumer.ensure_groups("0")
    return consumer


def pending(client: redis.Redis, group: str) -> int:
    return sum(int(client.xpending(stream, group)["pending"]) for stream in all_partition_streams())


def test_every_event_of_every_account_once_in_account_order(
    client: redis.Redis, engine: Engine, make_ticket: TicketFactory
) -> None:
    assert len({partition_of(a) for a in ACCOUNTS}) == len(ACCOUNTS)
    consumer = new_consumer(client, batch=3)  # small batches: several polls interleave the streams
    make_events(engine, make_ticket, ACCOUNTS)
    seen = consume_all(consumer)
    assert by_account(seen) == expected_ids(client, ACCOUNTS)
    assert len({e.id for e in seen}) == len(seen)
    assert pending(client, "toasts") == 0
    assert consume_all(consumer) == []  # acked: nothing is delivered twice


def test_delivery_carries_stream_entry_and_account(client: redis.Redis, engine: Engine) -> None:
    consumer = new_consumer(client)
    setup_account(engine, ACCOUNTS[0], online=("ana",))
    deliveries = consumer.poll()
    assert deliveries
    for delivery in deliveries:
        assert delivery.stream == AccountKeys.for_account(ACCOUNTS[0]).partition_events
        assert delivery.account_id == ACCOUNTS[0]
        assert delivery.event is not None and delivery.error is None
        assert client.xrange(delivery.stream, delivery.entry_id, delivery.entry_id)
    assert consumer.ack(deliveries) == len(deliveries)
    assert consumer.ack(deliveries) == 0


def test_a_new_group_from_dollar_sees_only_later_events(client: redis.Redis, engine: Engine) -> None:
    setup_account(engine, ACCOUNTS[0], online=("ana",))
    consumer = EventConsumer(client, "late", "c1", block_ms=None)
    consumer.ensure_groups("$")
    consumer.ensure_groups("0")  # an existing group keeps its position (BUSYGROUP ignored)
    assert consume_all(consumer) == []
    engine.set_status(ACCOUNTS[0], "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert [e.type for e in consume_all(consumer)] == ["agent.status_changed"]


def test_two_groups_each_get_everything(client: redis.Redis, engine: Engine, make_ticket: TicketFactory) -> None:
    toasts, analytics = new_consumer(client, "toasts"), new_consumer(client, "analytics")
    make_events(engine, make_ticket, ACCOUNTS[:2])
    expected = expected_ids(client, ACCOUNTS[:2])
    assert by_account(consume_all(toasts)) == expected
    assert by_account(consume_all(analytics)) == expected


def test_two_consumers_of_one_group_share_the_work_without_duplicates(
    client: redis.Redis, engine: Engine, make_ticket: TicketFactory
) -> None:
    first = new_consumer(client, name="c1", batch=2)
    second = new_consumer(client, name="c2", batch=2)
    make_events(engine, make_ticket, ACCOUNTS)
    got: dict[str, list[Event]] = {"c1": [], "c2": []}
    while True:
        progressed = False
        for consumer in (first, second):
            deliveries = consumer.poll()
            progressed = progressed or bool(deliveries)
            consumer.handle(deliveries, got[consumer.consumer].append)
        if not progressed:
            break
    assert got["c1"] and got["c2"]
    ids = [e.id for e in got["c1"] + got["c2"]]
    assert len(ids) == len(set(ids))
    expected = expected_ids(client, ACCOUNTS)
    assert Counter(ids) == Counter(i for account_ids in expected.values() for i in account_ids)


def test_a_dead_consumers_pending_entries_are_claimed_after_the_idle_time(
    client: redis.Redis, engine: Engine, make_ticket: TicketFactory
) -> None:
    dead = new_consumer(client, name="dead")
    make_events(engine, make_ticket, ACCOUNTS[:2], tickets=2)
    taken = dead.poll()  # read, then "crashes" without acking
    assert taken and pending(client, "toasts") == len(taken)

    patient = new_consumer(client, name="alive", claim_idle_ms=60_000)
    assert patient.claim_stale() == []  # not idle long enough: a slow consumer keeps its work
    assert consume_all(patient) == []  # and `>` never hands out someone else's pending entries

    rescuer = new_consumer(client, name="rescuer", claim_idle_ms=50)
    time.sleep(0.15)
    claimed = rescuer.claim_stale()
    assert [(d.stream, d.entry_id) for d in claimed] == [(d.stream, d.entry_id) for d in taken]
    assert [d.event for d in claimed] == [d.event for d in taken]
    assert rescuer.delivery_count(claimed[0]) == 2
    assert rescuer.handle(claimed, lambda event: None) == len(taken)
    assert pending(client, "toasts") == 0
    assert dead.ack(taken) == 0  # the dead consumer coming back cannot double-ack


def test_acked_entries_are_trimmable_and_unacked_ones_are_not(client: redis.Redis, engine: Engine) -> None:
    account = ACCOUNTS[0]
    stream = AccountKeys.for_account(account).partition_events
    consumer = new_consumer(client)
    setup_account(engine, account, online=("ana", "ben", "cara"))
    deliveries = consumer.poll()
    total = len(deliveries)
    assert total >= 4 and client.xlen(stream) == total
    scripts = Scripts(client)

    assert scripts.trim_events(stream, horizon_ms=FAR_FUTURE_MS)[0] == 0  # all delivered, none acked
    consumer.ack(deliveries[:2])
    removed, minid = scripts.trim_events(stream, horizon_ms=FAR_FUTURE_MS)
    assert removed == 2 and minid == deliveries[2].entry_id
    assert client.xlen(stream) == total - 2

    consumer.ack(deliveries[3:])  # a hole: the 3rd is still pending and holds everything after it
    assert scripts.trim_events(stream, horizon_ms=FAR_FUTURE_MS)[0] == 0
    consumer.ack(deliveries[2:3])
    # MINID is inclusive: the group's last-delivered entry itself stays until something follows it
    assert scripts.trim_events(stream, horizon_ms=FAR_FUTURE_MS) == (total - 3, deliveries[-1].entry_id)
    assert client.xlen(stream) == 1


def test_a_group_that_has_not_read_holds_the_stream(client: redis.Redis, engine: Engine) -> None:
    account = ACCOUNTS[0]
    stream = AccountKeys.for_account(account).partition_events
    fast, slow = new_consumer(client, "fast"), new_consumer(client, "slow")
    setup_account(engine, account, online=("ana",))
    total = len(consume_all(fast))
    assert total and Scripts(client).trim_events(stream, horizon_ms=FAR_FUTURE_MS)[0] == 0
    assert len(consume_all(slow)) == total
    assert Scripts(client).trim_events(stream, horizon_ms=FAR_FUTURE_MS)[0] == total - 1  # MINID is inclusive


def add_poison(client: redis.Redis, account: str) -> str:
    stream = partition_stream(partition_of(account))
    entry_id = client.xadd(stream, {"type": "ticket.exploded", "data": '{"nope": 1}', "account_id": account})
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def test_a_poison_entry_is_dead_lettered_after_max_deliveries(client: redis.Redis, engine: Engine) -> None:
    account = ACCOUNTS[0]
    consumer = new_consumer(client, claim_idle_ms=0, max_deliveries=3)
    poison_id = add_poison(client, account)
    setup_account(engine, account, online=("ana",))
    handled: list[Event] = []

    with capture_logs() as logs:
        first = consumer.poll()
        assert first[0].entry_id == poison_id and first[0].event is None and first[0].error
        assert first[0].account_id == account
        assert consumer.handle(first, handled.append) == len(first) - 1  # the good ones behind it go on
        assert [d.entry_id for d in consumer.claim_stale()] == [poison_id]  # delivery 2
        consumer.handle(consumer.claim_stale(), handled.append)  # delivery 3: dead-lettered
    assert len(handled) == len(first) - 1
    assert pending(client, "toasts") == 0
    events = [entry["event"] for entry in logs]
    assert events.count("consumer.unparseable") == 1
    dead = [entry for entry in logs if entry["event"] == "consumer.dead_lettered"]
    assert len(dead) == 1 and dead[0]["entry_id"] == poison_id and dead[0]["deliveries"] == 3
    assert dead[0]["account_id"] == account and "nope" in dead[0]["data"]


def test_run_redelivers_after_a_handler_failure_and_dead_letters_poison(
    client: redis.Redis, engine: Engine, make_ticket: TicketFactory
) -> None:
    consumer = EventConsumer(client, "toasts", "runner", block_ms=20, claim_idle_ms=40, max_deliveries=2)
    consumer.ensure_groups("0")
    add_poison(client, ACCOUNTS[1])
    make_events(engine, make_ticket, ACCOUNTS[:2], tickets=2)
    expected = expected_ids(client, ACCOUNTS[:2])
    total = sum(len(ids) for ids in expected.values())
    victim = expected[ACCOUNTS[0]][-1]
    calls: Counter[str] = Counter()
    handled: set[str] = set()
    stop = threading.Event()

    def handler(event: Event) -> None:
        calls[event.id] += 1
        if event.id == victim and calls[event.id] == 1:
            raise RuntimeError("toast backend down")
        handled.add(event.id)  # idempotent: a set keyed by the event id

    with capture_logs() as logs:
        thread = threading.Thread(target=consumer.run, args=(handler, stop), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (len(handled) < total or pending(client, "toasts")):
            time.sleep(0.02)
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert handled == {i for ids in expected.values() for i in ids}
    assert calls[victim] == 2
    assert pending(client, "toasts") == 0
    names = [entry["event"] for entry in logs]
    assert "consumer.handler_failed" in names and "consumer.dead_lettered" in names


def test_works_with_a_decode_responses_client(engine: Engine, client: redis.Redis) -> None:
    pool = client.connection_pool
    text_client = redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, **{**pool.connection_kwargs, "decode_responses": True}
        )
    )
    consumer = new_consumer(text_client)
    setup_account(engine, ACCOUNTS[0], online=("ana",))
    assert by_account(consume_all(consumer)) == expected_ids(client, ACCOUNTS[:1])
    text_client.close()


def test_options_are_checked(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="block_ms"):
        EventConsumer(client, "g", "c", block_ms=0)
    with pytest.raises(ValueError, match="only"):
        EventConsumer(client, "g", "c", partitions=4, only=[4])
    subset = EventConsumer(client, "g", "c", partitions=4, only=[3, 1])
    assert subset.streams == [partition_stream(1), partition_stream(3)]


def test_consumers_with_disjoint_partitions_split_by_account(
    client: redis.Redis, engine: Engine, make_ticket: TicketFactory
) -> None:
    mine = partition_of(ACCOUNTS[0])
    others = [p for p in range(16) if p != mine]
    one = EventConsumer(client, "toasts", "one", only=[mine], block_ms=None)
    rest = EventConsumer(client, "toasts", "rest", only=others, block_ms=None)
    one.ensure_groups("0")
    rest.ensure_groups("0")
    make_events(engine, make_ticket, ACCOUNTS)
    expected = expected_ids(client, ACCOUNTS)
    assert by_account(consume_all(one)) == {ACCOUNTS[0]: expected[ACCOUNTS[0]]}
    assert by_account(consume_all(rest)) == {a: expected[a] for a in ACCOUNTS[1:]}


# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> Iterator[str]:
    yield redis_url


def test_cli_events_all_prints_every_account_once_per_group(url: str, real_redis: redis.Redis) -> None:
    assert ok(url, "events", "--all", "--group", "ops", "--json") == ""  # creates the group at "now"
    engine = Engine(real_redis)
    for account in ACCOUNTS[:2]:
        setup_account(engine, account, online=("ana",))
    expected = expected_ids(real_redis, ACCOUNTS[:2])

    lines = ok(url, "events", "--all", "--group", "ops", "--json").splitlines()
    assert by_account([parse_event(line) for line in lines]) == expected
    assert ok(url, "events", "--all", "--group", "ops", "--json") == ""  # acked: nothing new
    assert pending(real_redis, "ops") == 0

    # another group sees it all again; --from-start reaches events from before it existed
    readable = ok(url, "events", "--all", "--group", "audit", "--consumer", "me", "--from-start").splitlines()
    assert len(readable) == len(lines) and all("T" in line for line in readable)
    assert ok(url, "events", ACCOUNTS[0], "--json").splitlines() == [
        line for line in lines if parse_event(line).account_id == ACCOUNTS[0]
    ]


def test_cli_events_needs_exactly_one_of_account_and_all(url: str) -> None:
    for args in ([], ["acme", "--all", "--group", "ops"]):
        message = refused(url, "events", *args)
        assert message == "error: give an ACCOUNT or --all (not both)"
    assert "needs --group" in refused(url, "events", "--all")
    assert "go with --all" in refused(url, "events", "acme", "--group", "ops")
    assert len(refused(url, "events", "--all", "--group", "bad group").splitlines()) == 1
