"""Who may do what (PRODUCT.md, "Accounts, users, roles"), and accounts never leaking into each other.

1. ``test_permission``: every role (plus ``unknown``: an actor who is not a user of the account) times
   every action, one test id per cell, on a real Redis and on fakeredis. An allowed action changes the
   state it names and emits one event carrying the actor; a refused one raises ``Forbidden`` or
   ``UnknownUser`` with a message saying why, and leaves the whole keyspace byte-for-byte unchanged.
   ``worker/core/engine.py`` has no team functions (yet), so "set team" / "bulk assign" have no cells.
2. ``test_accounts_stay_isolated``: random operations over five accounts, two pairs of which share a
   partition stream; after every operation no ticket is assigned outside its account, every event is
   on the right streams with the right ``account_id``, and each account stream is exactly its
   partition stream filtered by account, in the same order.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.common import AgentStatus, Channel, Role
from schemas.events import AgentStatusChanged, SettingsChanged, parse_event
from schemas.inbound import TicketCreated
from schemas.office_hours import OfficeHours
from tests.support import replies
from tests.support.accounts import NOW
from tests.support.backends import all_keys
from worker.core.engine import Engine
from worker.core.keys import AccountKeys, partition_of, partition_stream
from worker.core.queries import Queries
from worker.errors import Forbidden, HelpdeskError, InvalidInput, UnknownAccount, UnknownUser

BACKENDS = ("real", "fake", "cluster")
"""These tests also run on a local Redis Cluster (tests/conftest.py)."""

ONLINE, OFFLINE = AgentStatus.ONLINE, AgentStatus.OFFLINE
ACCOUNT = "acme"
ACTOR = "actor"
"""The user whose role is under test (for ``unknown`` it is never created)."""
AGENT = "ana"
"""Another user, an agent: the target of "set another user's status"."""
VIEWER = "vic"
"""Another user, a viewer: the target of "set a viewer's status"."""
BOSS = "boss"
"""A manager who prepares the state an action starts from (round robin on, office hours set, ...)."""
HOURS = OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"], ["2026-12-25"])

ROLES = ("owner", "admin", "manager", "agent", "viewer", "unknown")


def snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every key with its type, value and TTL: proves a refused action changed nothing."""
    state: dict[bytes, object] = {}
    for key in sorted(all_keys(client)):
        kind = client.type(key)
        if kind == b"hash":
            value: object = client.hgetall(key)
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"stream":
            value = client.xrange(key)
        elif kind == b"set":
            value = sorted(client.smembers(key))
        elif kind == b"list":
            value = client.lrange(key, 0, -1)
        else:
            value = client.get(key)
        state[key] = (kind, value, client.ttl(key) > 0)
    return state


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One action: how to prepare the account, how the actor performs it, and what success looks like."""

    prepare: Callable[[Engine, str], object]
    perform: Callable[[Engine, str], bool]
    check: Callable[[redis.Redis, str], None]
    """Asserts the state an allowed action leads to (``actor`` as argument)."""
    event_type: str


def _online(client: redis.Redis) -> list[str]:
    return Queries(client).online_in_rotation_order(ACCOUNT)


def _go_online(user: str) -> Callable[[Engine, str], object]:
    return lambda engine, actor: engine.set_status(ACCOUNT, user if user != "$actor" else actor, ONLINE, BOSS, NOW)


def _nothing(engine: Engine, actor: str) -> None:
    return None


def _round_robin_on(engine: Engine, actor: str) -> None:
    engine.set_round_robin(ACCOUNT, True, BOSS, NOW)


def _office_hours_set(engine: Engine, actor: str) -> None:
    engine.set_office_hours(ACCOUNT, HOURS, BOSS, NOW)


def _actor_online_if_possible(engine: Engine, actor: str) -> None:
    # Only an agent or higher can be Online; a viewer or an unknown actor starts (and stays) Offline.
    with contextlib.suppress(HelpdeskError):
        engine.set_status(ACCOUNT, actor, ONLINE, BOSS, NOW)


ACTIONS: dict[str, Action] = {
    "set_own_status_online": Action(
        _nothing,
        lambda engine, actor: engine.set_status(ACCOUNT, actor, ONLINE, actor, NOW),
        lambda client, actor: _assert(actor in _online(client)),
        "agent.status_changed",
    ),
    "set_own_status_offline": Action(
        _actor_online_if_possible,
        lambda engine, actor: engine.set_status(ACCOUNT, actor, OFFLINE, actor, NOW),
        lambda client, actor: _assert(actor not in _online(client)),
        "agent.status_changed",
    ),
    "set_other_status_online": Action(
        _nothing,
        lambda engine, actor: engine.set_status(ACCOUNT, AGENT, ONLINE, actor, NOW),
        lambda client, actor: _assert(AGENT in _online(client)),
        "agent.status_changed",
    ),
    "set_other_status_offline": Action(
        _go_online(AGENT),
        lambda engine, actor: engine.set_status(ACCOUNT, AGENT, OFFLINE, actor, NOW),
        lambda client, actor: _assert(AGENT not in _online(client)),
        "agent.status_changed",
    ),
    "set_viewer_status_online": Action(
        _nothing,
        lambda engine, actor: engine.set_status(ACCOUNT, VIEWER, ONLINE, actor, NOW),
        lambda client, actor: _assert(False, "a viewer can never go Online"),
        "agent.status_changed",
    ),
    "set_viewer_status_offline": Action(
        _nothing,
        lambda engine, actor: engine.set_status(ACCOUNT, VIEWER, OFFLINE, actor, NOW),
        lambda client, actor: _assert(VIEWER not in _online(client)),
        "agent.status_changed",
    ),
    "set_round_robin_on": Action(
        _nothing,
        lambda engine, actor: engine.set_round_robin(ACCOUNT, True, actor, NOW),
        lambda client, actor: _assert(Queries(client).settings(ACCOUNT).round_robin is True),
        "settings.changed",
    ),
    "set_round_robin_off": Action(
        _round_robin_on,
        lambda engine, actor: engine.set_round_robin(ACCOUNT, False, actor, NOW),
        lambda client, actor: _assert(Queries(client).settings(ACCOUNT).round_robin is False),
        "settings.changed",
    ),
    "set_office_hours": Action(
        _nothing,
        lambda engine, actor: engine.set_office_hours(ACCOUNT, HOURS, actor, NOW),
        lambda client, actor: _assert(Queries(client).settings(ACCOUNT).office_hours == HOURS),
        "settings.changed",
    ),
    "clear_office_hours": Action(
        _office_hours_set,
        lambda engine, actor: engine.set_office_hours(ACCOUNT, None, actor, NOW),
        lambda client, actor: _assert(Queries(client).settings(ACCOUNT).office_hours is None),
        "settings.changed",
    ),
}


def _assert(condition: bool, message: str = "") -> None:
    assert condition, message


ALLOWED, NO_OP = "allowed", "no-op"
Expected = str | tuple[type[Exception], str]
MANAGERS = ("owner", "admin", "manager")


def expected(role: str, action: str) -> Expected:
    """PRODUCT.md's rules, written out independently of the scripts."""
    if role == "unknown":
        return (UnknownUser, "unknown user")
    manages = role in MANAGERS
    if action == "set_own_status_online":
        return ALLOWED if role != "viewer" else (Forbidden, "viewer")
    if action == "set_own_status_offline":
        return ALLOWED if role != "viewer" else NO_OP  # a viewer is never Online: allowed, nothing to do
    if action == "set_viewer_status_online":  # not even a manager can put a viewer Online
        return (Forbidden, "viewer" if manages else role)
    if action == "set_viewer_status_offline":
        return NO_OP if manages else (Forbidden, role)
    return ALLOWED if manages else (Forbidden, role)


CELLS = [pytest.param(role, action, id=f"{role}-{action}") for role in ROLES for action in ACTIONS]


@pytest.mark.parametrize(("role", "action"), CELLS)
def test_permission(client: redis.Redis, role: str, action: str) -> None:
    engine = Engine(client)
    engine.upsert_user(ACCOUNT, BOSS, Role.MANAGER, NOW)
    engine.upsert_user(ACCOUNT, AGENT, Role.AGENT, NOW)
    engine.upsert_user(ACCOUNT, VIEWER, Role.VIEWER, NOW)
    actor = "ghost" if role == "unknown" else ACTOR
    if role != "unknown":
        engine.upsert_user(ACCOUNT, actor, Role(role), NOW)
    spec = ACTIONS[action]
    spec.prepare(engine, actor)
    keys = AccountKeys.for_account(ACCOUNT)
    before = snapshot(client)
    events_before = client.xlen(keys.events)
    outcome = expected(role, action)

    if isinstance(outcome, tuple):
        error_type, why = outcome
        with pytest.raises(HelpdeskError) as raised:
            spec.perform(engine, actor)
        assert type(raised.value) is error_type, f"{type(raised.value).__name__}: {raised.value}"
        assert why in str(raised.value), str(raised.value)
        assert snapshot(client) == before
        return

    if outcome == NO_OP:
        assert spec.perform(engine, actor) is False
        assert snapshot(client) == before
        return

    assert spec.perform(engine, actor) is True
    spec.check(client, actor)
    assert client.xlen(keys.events) == events_before + 1
    _, event = Queries(client).events(ACCOUNT)[-1]
    assert (event.type, event.account_id) == (spec.event_type, ACCOUNT)
    assert isinstance(event, AgentStatusChanged | SettingsChanged)
    assert event.actor_id == actor
    if isinstance(event, AgentStatusChanged):
        target = AGENT if "other" in action else VIEWER if "viewer" in action else actor
        assert (event.user_id, event.status) == (target, ONLINE if action.endswith("online") else OFFLINE)
    else:
        assert set(event.changes) == {"office_hours" if "office_hours" in action else "round_robin"}
    (_, last_shared), *_ = reversed(replies.xrange(client, keys.partition_events))
    assert last_shared[b"account_id"] == ACCOUNT.encode() and parse_event(last_shared[b"data"]) == event


def test_the_table_covers_every_role_and_action() -> None:
    assert len(CELLS) == len(ROLES) * len(ACTIONS) == 60
    outcomes = [expected(role, action) for role in ROLES for action in ACTIONS]
    assert {outcome[0] for outcome in outcomes if isinstance(outcome, tuple)} == {Forbidden, UnknownUser}


# --- isolation property ------------------------------------------------------------------------


def _accounts_sharing_partitions() -> tuple[str, ...]:
    """Five account ids: two pairs that each share a partition, and one on a partition of its own."""
    by_partition: dict[int, list[str]] = {}
    for n in range(1000):
        by_partition.setdefault(partition_of(f"acct{n}"), []).append(f"acct{n}")
    shared = [ids[:2] for ids in by_partition.values() if len(ids) >= 2][:2]
    alone = next(
        ids[0] for p, ids in by_partition.items() if all(partition_of(a) != p for pair in shared for a in pair)
    )
    return (*shared[0], *shared[1], alone)


ACCOUNTS = _accounts_sharing_partitions()
USER_SLOTS = 4
"""Users are ``<account>.u0`` .. ``<account>.u3``: a leak of one account's agent into another shows."""
TICKETS = tuple(f"t{n}" for n in range(8))
"""Ticket ids are shared by every account: the idempotency record must be per account."""
STATUS_ROLES = (Role.AGENT, Role.AGENT, Role.MANAGER, Role.OWNER, Role.VIEWER)
ISOLATION_HOURS = (None, HOURS, OfficeHours.from_specs("UTC", ["daily 00:00-24:00"]))


def test_the_isolation_accounts_share_partitions() -> None:
    partitions = [partition_of(a) for a in ACCOUNTS]
    assert partitions[0] == partitions[1] and partitions[2] == partitions[3]
    assert len(set(partitions)) == 3


Pick = Callable[[Sequence[Any]], Any]


def random_op(pick: Pick) -> tuple[Any, ...]:
    account = pick(ACCOUNTS)
    kind = pick(("user", "status", "status", "round_robin", "office_hours", "ticket", "ticket", "ticket"))
    user, actor = pick(range(USER_SLOTS)), pick((*range(USER_SLOTS), "ghost", "other"))
    if kind == "user":
        return (kind, account, user, pick(STATUS_ROLES))
    if kind == "status":
        return (kind, account, user, pick((ONLINE, OFFLINE)), actor)
    if kind == "round_robin":
        return (kind, account, pick((True, False)), actor)
    if kind == "office_hours":
        return (kind, account, pick(range(len(ISOLATION_HOURS))), actor)
    return (kind, account, pick(TICKETS), pick(tuple(Channel)), pick(range(0, 120)))


def user_id(account: str, slot: int | str) -> str:
    if slot == "ghost":
        return "ghost"
    if slot == "other":  # a real user - of another account
        return user_id(ACCOUNTS[(ACCOUNTS.index(account) + 1) % len(ACCOUNTS)], 0)
    return f"{account}.u{slot}"


@dataclass
class World:
    """What the test knows about each account from the calls that succeeded (no role rules modelled)."""

    users: dict[str, dict[str, Role]] = field(default_factory=lambda: {a: {} for a in ACCOUNTS})
    online: dict[str, set[str]] = field(default_factory=lambda: {a: set() for a in ACCOUNTS})
    round_robin: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(ACCOUNTS, False))
    seen: dict[str, set[str]] = field(default_factory=lambda: {a: set() for a in ACCOUNTS})


def apply(engine: Engine, world: World, op: tuple[Any, ...]) -> None:
    kind, account = op[0], op[1]
    try:
        if kind == "user":
            uid = user_id(account, op[2])
            engine.upsert_user(account, uid, op[3], NOW)
            world.users[account][uid] = op[3]
            if not op[3].can_be_online:
                world.online[account].discard(uid)
        elif kind == "status":
            uid, actor = user_id(account, op[2]), user_id(account, op[4])
            engine.set_status(account, uid, op[3], actor, NOW)
            assert uid in world.users[account] and actor in world.users[account]
            (world.online[account].add if op[3] is ONLINE else world.online[account].discard)(uid)
        elif kind == "round_robin":
            engine.set_round_robin(account, op[2], user_id(account, op[3]), NOW)
            assert user_id(account, op[3]) in world.users[account]
            world.round_robin[account] = op[2]
        elif kind == "office_hours":
            engine.set_office_hours(account, ISOLATION_HOURS[op[2]], user_id(account, op[3]), NOW)
            assert user_id(account, op[3]) in world.users[account]
        else:
            _decide(engine, world, account, ticket_id=op[2], channel=op[3], age_minutes=op[4])
    except (Forbidden, UnknownUser, UnknownAccount):  # UnknownAccount: a ticket before anybody set the account up
        pass


def _decide(engine: Engine, world: World, account: str, ticket_id: str, channel: Channel, age_minutes: int) -> None:
    created_at = NOW - timedelta(minutes=age_minutes)
    ticket = TicketCreated.model_validate(
        {"account_id": account, "ticket_id": ticket_id, "channel": channel, "created_at": created_at},
        context={"now": NOW},
    )
    decision = engine.decide(ticket, NOW)
    assert decision.account_id == account
    assert decision.duplicate == (ticket_id in world.seen[account]), "idempotency record crossed accounts"
    if decision.duplicate:
        return
    world.seen[account].add(ticket_id)
    if decision.outcome == "assigned":
        assert decision.agent_id in world.online[account], f"{decision.agent_id} is not Online in {account}"
        assert world.users[account][decision.agent_id].can_be_online
    elif channel is not Channel.WEBCHAT and world.round_robin[account] and world.online[account]:
        raise AssertionError(f"{account} had {world.online[account]} Online but left {ticket_id} {decision.reason}")


def check_isolation(client: redis.Redis) -> None:
    partition_accounts: dict[int, set[str]] = {}
    for account in ACCOUNTS:
        partition_accounts.setdefault(partition_of(account), set()).add(account)
    for account in ACCOUNTS:
        keys = AccountKeys.for_account(account)
        users = {u.decode() for u in replies.hkeys(client, keys.users)}
        for ticket_id in TICKETS:
            record = replies.hgetall(client, keys.ticket(ticket_id))
            if record.get(b"status") == b"assigned":
                assert record[b"agent_id"].decode() in users, (account, ticket_id, record)
        for agent in replies.zrange(client, keys.online):
            assert agent.decode() in users
        for agent in replies.hkeys(client, keys.counts):
            assert agent.decode() in users
        own = replies.xrange(client, keys.events)
        for _, fields in own:
            event = parse_event(fields[b"data"])
            assert event.account_id == account
            if event.type == "ticket.assigned" or event.type == "toast":
                owner = event.agent_id if event.type == "ticket.assigned" else event.user_id
                assert owner in users, (account, event)
        shared = replies.xrange(client, keys.partition_events)
        mine = [fields for _, fields in shared if fields[b"account_id"] == account.encode()]
        assert [(f[b"type"], f[b"data"]) for f in mine] == [(f[b"type"], f[b"data"]) for _, f in own]
    for partition, accounts in partition_accounts.items():
        for _, fields in replies.xrange(client, partition_stream(partition)):
            assert fields[b"account_id"].decode() in accounts
            data = json.loads(fields[b"data"])
            assert data["account_id"] == fields[b"account_id"].decode()
            assert data["type"] == fields[b"type"].decode()
    mapped = {partition_stream(p) for p in partition_accounts}
    for key in all_keys(client):
        name = key.decode()
        if name.endswith(":events") and ":a:" not in name:
            assert name in mapped, f"events on a partition no account maps to: {name}"
        elif ":a:" in name:
            tag, _, rest = name.partition(":a:")
            account = rest.split(":", 1)[0]
            assert account in ACCOUNTS and tag == AccountKeys.for_account(account).base.split(":a:")[0], name


WARMUP: list[tuple[Any, ...]] = [
    op
    for account in ACCOUNTS
    for op in (
        ("user", account, 0, Role.MANAGER),
        ("user", account, 1, Role.AGENT),
        ("round_robin", account, True, 0),
        ("status", account, 1, ONLINE, 1),
    )
]
"""Every account with a manager, an Online agent and round robin on, so runs reach assignments early."""


def run_isolation(client: redis.Redis, ops: Sequence[tuple[Any, ...]], check_every: int = 1) -> None:
    engine, world = Engine(client), World()
    for n, op in enumerate(ops, 1):
        apply(engine, world, op)  # checks every decision against the account's own Online agents
        if n % check_every == 0:
            check_isolation(client)
    check_isolation(client)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_accounts_stay_isolated(data: st.DataObject) -> None:
    length = data.draw(st.integers(10, 40), label="length")
    sequence = WARMUP if data.draw(st.booleans(), label="warm up") else []
    sequence = sequence + [random_op(lambda seq: data.draw(st.sampled_from(list(seq)))) for _ in range(length)]
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        run_isolation(client, sequence)
    finally:
        client.close()


def test_accounts_stay_isolated_on_real_redis(real_redis: redis.Redis) -> None:
    rng = random.Random(20261124)
    run_isolation(real_redis, WARMUP + [random_op(rng.choice) for _ in range(300)], check_every=5)
    assigned = {a: [e for _, e in Queries(real_redis).events(a) if e.type == "ticket.assigned"] for a in ACCOUNTS}
    assert all(assigned.values()), "the fixed run should assign tickets in every account"


# --- ids that would break the key structure -------------------------------------------------


def test_an_account_id_with_a_colon_is_refused_before_it_can_collide(client: redis.Redis) -> None:
    # "<x>:t" users hash is the key of account <x>'s ticket "users": the same key when both share a partition.
    other = next(f"a{n}" for n in range(1000) if partition_of(f"a{n}") == partition_of(f"a{n}:t"))
    assert AccountKeys.for_account(f"{other}:t").users == AccountKeys.for_account(other).ticket("users")
    engine = Engine(client)
    before = snapshot(client)
    with pytest.raises(InvalidInput):
        engine.upsert_user(f"{other}:t", "boss", Role.MANAGER, NOW)
    assert snapshot(client) == before
