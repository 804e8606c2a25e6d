"""Per-channel pools (issue 16, part 4): an agent restricted to some channels gets only tickets of those, in the
account's one rotation; no_agent_for_channel; the pools stay exact after every kind of change; bulk ignores
channels; turning the last restriction off restores the seed's keys and path. On a real Redis and on fakeredis.
The release of the waiting queue with pools is in tests/test_channels_release.py."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from importlib import resources

import pytest
import redis

from schemas.common import AgentStatus, Channel, Role
from schemas.events import SettingsChanged
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.pools import assert_pools_exact, decide_all
from worker.core.engine import Engine
from worker.core.keys import DEFAULT_PARTITIONS, AccountKeys
from worker.core.presence import sweep_presence
from worker.core.queries import Queries
from worker.core.script_sources import lua_prelude
from worker.core.text import text

KEYS = AccountKeys.for_account("acme")
EMAIL, WEBCHAT, SMS, SOCIAL = Channel.EMAIL, Channel.WEBCHAT, Channel.SMS, Channel.SOCIAL


def test_a_restricted_agent_gets_only_tickets_of_their_channels(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana", "ben"))
    assert engine.set_agent_channels("acme", "ben", [EMAIL], "max", NOW) is True
    assert decide_all(engine, make_ticket, [SMS, SMS, SMS, EMAIL]) == ["ana", "ana", "ana", "ben"]


def test_places_are_kept_across_channels_in_the_one_rotation(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana", "ben", "cara"))
    engine.set_agent_channels("acme", "ben", [EMAIL], "max", NOW)
    # ana takes the sms and goes to the back; the email goes to ben (he waited longer than cara), then cara.
    assert decide_all(engine, make_ticket, [SMS, EMAIL, EMAIL, EMAIL]) == ["ana", "ben", "cara", "ana"]
    # ben, restricted, waited longest now: the next email is his; an sms skips him, keeping his place.
    assert decide_all(engine, make_ticket, [SMS, EMAIL], start=5) == ["cara", "ben"]


def test_the_reasons_nobody_takes_a_ticket(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine)
    engine.set_agent_channels("acme", "ana", [EMAIL], "max", NOW)
    assert decide_all(engine, make_ticket, [SMS]) == ["no_agent_online"]
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert decide_all(engine, make_ticket, [SMS, EMAIL], start=2) == ["no_agent_for_channel", "ana"]
    engine.set_capacity("acme", 1, "max", NOW)  # ana holds one: at capacity
    assert decide_all(engine, make_ticket, [EMAIL, SMS], start=4) == ["all_agents_at_capacity", "no_agent_for_channel"]
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW)  # every channel, with room
    assert decide_all(engine, make_ticket, [SMS], start=6) == ["ben"]


def test_agents_with_the_same_channels_stay_within_one_ticket_over_a_long_stretch(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    agents = ("ana", "ben", "cara", "dan", "eve", "finn")
    setup_account(engine, agents=agents, online=agents)
    sets = {"ana": [EMAIL], "ben": [EMAIL], "cara": [EMAIL, SMS], "dan": [EMAIL, SMS], "eve": None, "finn": None}
    for agent, channels in sets.items():
        engine.set_agent_channels("acme", agent, channels, "max", NOW)
    rng = random.Random(16)
    picked = decide_all(engine, make_ticket, [rng.choice(list(Channel)) for _ in range(600)])
    counts = Counter(picked)
    assert "no_agent_for_channel" not in counts
    for group in (("ana", "ben"), ("cara", "dan"), ("eve", "finn")):
        assert abs(counts[group[0]] - counts[group[1]]) <= 1, counts
    assert_pools_exact(client, KEYS)


def test_pools_stay_exact_after_every_kind_of_change(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_agent_channels("acme", "ana", [EMAIL, WEBCHAT], "max", NOW)
    assert_pools_exact(client, KEYS)
    engine.set_capacity("acme", 2, "max", NOW)
    assert_pools_exact(client, KEYS)
    decide_all(engine, make_ticket, [EMAIL, EMAIL, EMAIL, SMS, EMAIL])  # ana and ben reach capacity
    assert_pools_exact(client, KEYS)
    engine.close_ticket("acme", "t1", NOW)
    assert_pools_exact(client, KEYS)
    engine.reopen_ticket("acme", "t1", NOW)
    assert_pools_exact(client, KEYS)
    engine.set_capacity("acme", 3, "max", NOW, agent_id="ben")
    assert_pools_exact(client, KEYS)
    engine.set_status("acme", "cara", AgentStatus.ONLINE, "cara", NOW)
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert_pools_exact(client, KEYS)
    engine.upsert_user("acme", "cara", Role.VIEWER, NOW)  # demoted while Online: out of every pool
    assert_pools_exact(client, KEYS)
    engine.set_presence_timeout("acme", 60, "max", NOW)
    sweep_presence(engine.scripts, engine.keys, DEFAULT_PARTITIONS, NOW + timedelta(minutes=5))  # ben times out
    assert_pools_exact(client, KEYS)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW + timedelta(minutes=5))
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW + timedelta(minutes=5))
    engine.set_team("acme", "desk", ["ana", "ben"], "max", NOW)
    engine.scripts.bulk_assign(KEYS, "desk", "job1", [f"t{n}" for n in range(1, 6)], 0, NOW)
    assert_pools_exact(client, KEYS)
    engine.set_capacity("acme", None, "max", NOW, agent_id="ben")
    engine.set_capacity("acme", None, "max", NOW)
    assert_pools_exact(client, KEYS)
    engine.set_agent_channels("acme", "ana", [SMS], "max", NOW)
    assert_pools_exact(client, KEYS)


def test_bulk_team_assignment_ignores_channels(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.set_agent_channels("acme", "ben", [EMAIL], "max", NOW)
    decide_all(engine, make_ticket, [SMS, SMS])  # to ana
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    engine.set_team("acme", "desk", ["ben"], "max", NOW)
    assert engine.scripts.bulk_assign(KEYS, "desk", "job1", ["t1", "t2"], 0, NOW).assigned == 2
    assert {text(client.hget(KEYS.ticket(t), "agent_id")) for t in ("t1", "t2")} == {"ben"}
    assert_pools_exact(client, KEYS)


def test_clearing_the_last_restriction_drops_the_pools_and_restores_the_seed_path(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_agent_channels("acme", "ben", [EMAIL], "max", NOW)
    engine.set_agent_channels("acme", "ana", [SMS], "max", NOW)
    assert client.exists(KEYS.agent_channels, KEYS.pool(EMAIL), KEYS.pool(SMS)) == 3
    assert decide_all(engine, make_ticket, [WEBCHAT]) == ["no_agent_for_channel"]
    assert engine.set_agent_channels("acme", "ben", None, "max", NOW) is True
    assert engine.set_agent_channels("acme", "ana", list(Channel), "max", NOW) is True  # all four: unrestricted
    assert client.exists(KEYS.agent_channels, *(KEYS.pool(channel) for channel in Channel)) == 0
    assert decide_all(engine, make_ticket, [WEBCHAT, SMS, EMAIL], start=2) == ["ana", "ben", "ana"]
    assert engine.set_agent_channels("acme", "ana", None, "max", NOW) is False  # nothing to clear


def test_a_change_is_a_settings_changed_event(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    engine.set_agent_channels("acme", "ben", [SMS, EMAIL, SMS], "max", NOW)
    engine.set_agent_channels("acme", "ben", None, "max", NOW)
    changes = [e.changes for _, e in Queries(client).events("acme", count=None) if isinstance(e, SettingsChanged)]
    assert changes[-2:] == [
        {"agent_channels": {"user_id": "ben", "channels": ["email", "sms"]}},
        {"agent_channels": {"user_id": "ben", "channels": None}},
    ]


@pytest.mark.parametrize("count", [1, 1500])
def test_turning_pools_on_files_every_online_agent(engine: Engine, client: redis.Redis, count: int) -> None:
    agents = tuple(f"a{n:04d}" for n in range(count))
    setup_account(engine, agents=agents, online=agents)
    engine.set_agent_channels("acme", agents[0], [SOCIAL], "max", NOW)
    assert client.zcard(KEYS.pool(EMAIL)) == count - 1
    assert client.zcard(KEYS.pool(SOCIAL)) == count
    assert_pools_exact(client, KEYS)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pools_stay_exact_through_a_random_day(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory, seed: int
) -> None:
    """Random status, capacity, channel, close and reopen changes between decisions: after each, the pools are
    what they must be, and every assignment went to an agent who takes the ticket's channel."""
    rng = random.Random(seed)
    agents = ("ana", "ben", "cara", "dan")
    setup_account(engine, agents=agents, online=agents[:2])
    engine.set_agent_channels("acme", "ana", [EMAIL], "max", NOW)
    decided: list[str] = []
    for step in range(120):  # one action per step, then the check
        roll, agent = rng.random(), rng.choice(agents)
        if roll < 0.15:
            status = rng.choice([AgentStatus.ONLINE, AgentStatus.OFFLINE])
            engine.set_status("acme", agent, status, agent, NOW)
        elif roll < 0.25:
            chosen = rng.sample(list(Channel), rng.randint(1, 4))
            engine.set_agent_channels("acme", agent, rng.choice([chosen, None]), "max", NOW)
        elif roll < 0.32:
            engine.set_capacity("acme", rng.choice([None, 1, 2, 3]), "max", NOW, agent_id=rng.choice([None, agent]))
        elif roll < 0.42 and decided:
            chosen_id = rng.choice(decided)
            if rng.random() < 0.7:
                engine.close_ticket("acme", chosen_id, NOW)
            else:
                engine.reopen_ticket("acme", chosen_id, NOW)
        else:
            channel = rng.choice(list(Channel))
            ticket = make_ticket(ticket_id=f"r{step}", channel=channel, created_at=NOW - timedelta(minutes=200 - step))
            lists = {text(k): text(v).split(",") for k, v in client.hgetall(KEYS.agent_channels).items()}
            decision = engine.decide(ticket, NOW)
            decided.append(ticket.ticket_id)
            if decision.agent_id:
                assert channel.value in lists.get(decision.agent_id, [c.value for c in Channel])
        assert_pools_exact(client, KEYS)


def _pick(client: redis.Redis, channel: Channel, skip: str = "") -> list[str]:
    """``pick_for_channel`` called on its own (the helper reassignment uses with an agent to skip)."""
    common = resources.files("worker.core").joinpath("lua", "_common.lua").read_text(encoding="utf-8")
    body = "local agent, reason = pick_for_channel(KEYS[1], KEYS[2], KEYS[3], channel_block(4), ARGV[1], " \
           "ARGV[2] ~= '' and ARGV[2] or nil)\nreturn {agent or '', reason or ''}"  # fmt: skip
    keys = [KEYS.capacity, KEYS.ready, KEYS.online, *KEYS.channel_block]
    return [text(part) for part in client.eval(lua_prelude() + common + "\n" + body, len(keys), *keys, channel, skip)]


def test_the_pick_can_skip_one_agent(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine, online=("ana", "ben"))
    assert _pick(client, SMS) == ["ana", ""]  # the seed's path: no restriction yet
    assert _pick(client, SMS, skip="ana") == ["ben", ""]
    engine.set_agent_channels("acme", "ben", [EMAIL], "max", NOW)
    assert _pick(client, SMS, skip="ana") == ["", "no_agent_for_channel"]
    assert _pick(client, EMAIL, skip="ana") == ["ben", ""]
    engine.set_capacity("acme", 1, "max", NOW, agent_id="ben")
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert _pick(client, EMAIL, skip="ben") == ["", "no_agent_online"]  # nobody Online but the skipped one
