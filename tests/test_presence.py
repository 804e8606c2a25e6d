"""Presence timeout (issue 16, part 1): heartbeats, the account's timeout and the sweep that sets Offline
the agents whose heartbeats stopped. On a real Redis and on fakeredis."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from schemas.common import AgentStatus, Role
from schemas.events import AgentStatusChanged, SettingsChanged
from tests.support.accounts import NOW, TicketFactory, setup_account
from worker.core.engine import Engine
from worker.core.keys import DEFAULT_PARTITIONS, AccountKeys, presence_member
from worker.core.presence import sweep_presence
from worker.core.queries import Queries
from worker.core.text import text
from worker.errors import Forbidden, InvalidInput, UnknownUser

KEYS = AccountKeys.for_account("acme")


def sweep(engine: Engine, seconds_after: float) -> list[tuple[str, str]]:
    return sweep_presence(engine.scripts, engine.keys, DEFAULT_PARTITIONS, NOW + timedelta(seconds=seconds_after))


def online(client: redis.Redis) -> list[str]:
    return [text(agent) for agent in client.zrange(KEYS.online, 0, -1)]


def status_events(client: redis.Redis) -> list[tuple[str, str, str | None, str]]:
    return [
        (event.user_id, event.status.value, event.actor_id, event.reason.value)
        for _, event in Queries(client).events("acme", count=None)
        if isinstance(event, AgentStatusChanged)
    ]


def test_an_agent_without_a_heartbeat_for_the_timeout_goes_offline_and_keeps_tickets_and_place(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.decide(make_ticket(ticket_id="t1"), NOW)  # ana's
    assert engine.set_presence_timeout("acme", 60, "max", NOW) is True
    assert engine.heartbeat("acme", "ben", NOW + timedelta(seconds=30)) is True
    assert sweep(engine, 59) == []
    assert sweep(engine, 60) == [("acme", "ana")]  # Online at NOW counts as her heartbeat
    assert online(client) == ["ben"]
    assert sweep(engine, 89) == []
    assert sweep(engine, 90) == [("acme", "ben")]
    assert status_events(client)[-2:] == [
        ("ana", "offline", None, "presence_timeout"),
        ("ben", "offline", None, "presence_timeout"),
    ]
    assert Queries(client).ticket("acme", "t1")["agent_id"] == "ana"  # type: ignore[index]
    assert {u.user_id: u.load for u in Queries(client).users("acme")}["ana"] == 1
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW + timedelta(minutes=5))
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW + timedelta(minutes=5))
    assert online(client) == ["ben", "ana"]  # ana was assigned last: she kept her place behind ben
    assert sweep(engine, 300) == []


def test_a_heartbeat_never_sets_anyone_online(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    engine.set_presence_timeout("acme", 60, "max", NOW)
    assert engine.heartbeat("acme", "ana", NOW) is False
    assert online(client) == []
    assert client.zcard(KEYS.presence_due) == 0
    with pytest.raises(UnknownUser):
        engine.heartbeat("acme", "ghost", NOW)


def test_without_a_timeout_nobody_is_swept(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine, online=("ana",))
    assert sweep(engine, 86_400) == []
    engine.set_presence_timeout("acme", 60, "max", NOW)
    assert client.zscore(KEYS.presence_due, presence_member("acme", "ana")) is not None
    engine.set_presence_timeout("acme", None, "max", NOW)  # cleared: out of the sweep at once
    assert client.zcard(KEYS.presence_due) == 0
    assert sweep(engine, 86_400) == []
    assert online(client) == ["ana"]


def test_a_new_timeout_counts_from_each_agents_last_heartbeat(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.heartbeat("acme", "ben", NOW + timedelta(seconds=100))
    engine.set_presence_timeout("acme", 120, "max", NOW + timedelta(seconds=110))
    assert sweep(engine, 119) == []
    assert sweep(engine, 120) == [("acme", "ana")]  # Online at NOW
    assert sweep(engine, 220) == [("acme", "ben")]  # heartbeat at +100
    engine.set_presence_timeout("acme", 600, "max", NOW)
    assert client.zcard(KEYS.presence_due) == 0  # nobody Online: nothing filed


def test_going_offline_by_hand_or_by_demotion_leaves_the_sweep_and_says_why(
    engine: Engine, client: redis.Redis
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_presence_timeout("acme", 60, "max", NOW)
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    engine.upsert_user("acme", "ben", Role.VIEWER, NOW)
    assert client.zcard(KEYS.presence_due) == 0
    assert sweep(engine, 3600) == []
    assert status_events(client)[-2:] == [("ana", "offline", "ana", "manual"), ("ben", "offline", None, "role_change")]


def test_a_timed_out_agent_leaves_the_capacity_pool(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine, online=("ana",))
    engine.set_capacity("acme", 2, "max", NOW)
    engine.set_presence_timeout("acme", 60, "max", NOW)
    assert [text(a) for a in client.zrange(KEYS.ready, 0, -1)] == ["ana"]
    sweep(engine, 61)
    assert client.zcard(KEYS.ready) == 0


def test_the_timeout_is_a_managers_setting_and_a_settings_event(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    with pytest.raises(Forbidden, match="ana is an agent; only owner, admin or manager may set the presence timeout"):
        engine.set_presence_timeout("acme", 60, "ana", NOW)
    for bad in (0, -5, True, 1.5):
        with pytest.raises(InvalidInput, match="at least 1"):
            engine.set_presence_timeout("acme", bad, "max", NOW)  # type: ignore[arg-type]
    assert engine.set_presence_timeout("acme", 900, "max", NOW) is True
    assert engine.set_presence_timeout("acme", 900, "max", NOW) is False
    assert engine.set_presence_timeout("acme", None, "max", NOW) is True
    changes = [event.changes for _, event in Queries(client).events("acme") if isinstance(event, SettingsChanged)]
    assert changes[-2:] == [{"presence_timeout_seconds": 900}, {"presence_timeout_seconds": None}]
    assert text(client.hget(KEYS.settings, "presence_timeout") or b"") == ""


def test_sweeps_racing_on_one_agent_set_them_offline_once(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine, online=("ana",))
    engine.set_presence_timeout("acme", 60, "max", NOW)
    first, second = Engine(client), Engine(client)  # two workers' sweeps
    later = NOW + timedelta(seconds=61)
    assert sweep_presence(first.scripts, first.keys, DEFAULT_PARTITIONS, later) == [("acme", "ana")]
    assert sweep_presence(second.scripts, second.keys, DEFAULT_PARTITIONS, later) == []
    timeouts = [e for e in status_events(client) if e[3] == "presence_timeout"]
    assert timeouts == [("ana", "offline", None, "presence_timeout")]
