"""Per-channel pools and the waiting queue (issue 16, part 4): a ticket waits for an agent of its own channel
only. A ticket nobody can take holds back no other channel, neither in a release nor as older_tickets_waiting;
no_agent_for_channel tickets are released when an agent for the channel has room. Real Redis and fakeredis."""

from __future__ import annotations

from datetime import datetime, timedelta

import redis

from schemas.common import AgentStatus, Channel
from schemas.events import TicketAssigned
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.pools import assert_pools_exact, decide_all
from worker.core.capacity import claim
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.core.release import run_release
from worker.core.text import text

KEYS = AccountKeys.for_account("acme")
EMAIL, WEBCHAT, SMS = Channel.EMAIL, Channel.WEBCHAT, Channel.SMS


def released(client: redis.Redis) -> list[tuple[str, str]]:
    return [
        (event.ticket_id, event.agent_id)
        for _, event in Queries(client).events("acme", count=None)
        if isinstance(event, TicketAssigned) and event.reason == "waiting_queue"
    ]


def release(engine: Engine, now: datetime = NOW) -> int:
    return run_release(engine.scripts, KEYS, lambda: now).assigned


def pooled_account(engine: Engine) -> None:
    """acme: ana takes email only, ben sms only (both Offline); capacity 2, auto-assign on."""
    setup_account(engine)
    engine.set_agent_channels("acme", "ana", [EMAIL], "max", NOW)
    engine.set_agent_channels("acme", "ben", [SMS], "max", NOW)
    engine.set_capacity("acme", 2, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)


def test_a_ticket_nobody_can_take_holds_back_no_other_channel(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    pooled_account(engine)
    assert decide_all(engine, make_ticket, [WEBCHAT, EMAIL, EMAIL, SMS]) == ["no_agent_online"] * 4
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert release(engine) == 2
    assert released(client) == [("t2", "ana"), ("t3", "ana")]  # the older webchat t1 did not block them
    assert {text(t) for t in client.zrange(KEYS.waiting, 0, -1)} == {"t1", "t4"}
    assert claim(engine.scripts, KEYS, NOW) is False  # nothing anyone with room can take: no endless release
    assert_pools_exact(client, KEYS)


def test_a_new_ticket_waits_only_behind_older_tickets_of_its_channel(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    pooled_account(engine)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert decide_all(engine, make_ticket, [WEBCHAT]) == ["no_agent_for_channel"]
    assert decide_all(engine, make_ticket, [EMAIL], start=2) == ["ana"]  # the waiting webchat ticket is no reason
    assert decide_all(engine, make_ticket, [SMS], start=3) == ["no_agent_for_channel"]
    engine.set_capacity("acme", 1, "max", NOW)  # ana is at capacity now
    assert decide_all(engine, make_ticket, [EMAIL], start=4) == ["all_agents_at_capacity"]
    engine.close_ticket("acme", "t2", NOW)  # room for ana: the release is rung for the waiting email t4
    assert decide_all(engine, make_ticket, [EMAIL], start=5) == ["older_tickets_waiting"]
    assert release(engine) == 1
    assert released(client) == [("t4", "ana")]


def test_no_agent_for_channel_tickets_go_to_the_first_agent_for_the_channel_with_room(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    pooled_account(engine)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert decide_all(engine, make_ticket, [SMS, SMS, SMS]) == ["no_agent_for_channel"] * 3
    rung: list[str] = []
    engine.on_release = rung.append
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", NOW)
    assert rung == ["acme"]
    assert release(engine) == 2  # up to ben's capacity
    assert released(client) == [("t1", "ben"), ("t2", "ben")]
    engine.set_agent_channels("acme", "ana", [EMAIL, SMS], "max", NOW)  # ana takes sms too now: room for t3
    assert release(engine) == 1
    assert released(client)[-1] == ("t3", "ana")
    assert_pools_exact(client, KEYS)


def test_closing_and_reopening_a_waiting_ticket_moves_it_in_its_channels_queue(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    pooled_account(engine)
    ticket = make_ticket(ticket_id="chat", channel=WEBCHAT, created_at=NOW - timedelta(hours=1))
    assert engine.decide(ticket, NOW).reason == "no_agent_online"
    assert [text(t) for t in client.zrange(KEYS.waiting_channel(WEBCHAT), 0, -1)] == ["chat"]
    engine.close_ticket("acme", "chat", NOW)
    assert client.zcard(KEYS.waiting_channel(WEBCHAT)) == 0
    engine.reopen_ticket("acme", "chat", NOW)
    assert [text(t) for t in client.zrange(KEYS.waiting_channel(WEBCHAT), 0, -1)] == ["chat"]
    assert_pools_exact(client, KEYS)


def test_an_after_hours_ticket_joins_its_channels_queue_at_its_opening(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    pooled_account(engine)
    engine.set_agent_channels("acme", "cara", [WEBCHAT], "max", NOW)
    engine.set_office_hours("acme", OfficeHours.from_specs("UTC", ["mon-sun 09:00-17:00"]), "max", NOW)
    evening = NOW.replace(hour=20, minute=0)  # NOW is 15:00 UTC; tomorrow opens at 09:00
    chat = make_ticket(ticket_id="night-chat", channel=WEBCHAT, created_at=evening)
    assert engine.decide(chat, evening).reason == "after_hours"
    assert client.zcard(KEYS.waiting_channel(WEBCHAT)) == 0
    opening = (evening + timedelta(days=1)).replace(hour=9)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", opening)  # email only: cannot take it
    assert release(engine, opening) == 0
    assert [text(t) for t in client.zrange(KEYS.waiting_channel(WEBCHAT), 0, -1)] == ["night-chat"]
    engine.set_status("acme", "cara", AgentStatus.ONLINE, "cara", opening)
    assert release(engine, opening) == 1
    assert released(client) == [("night-chat", "cara")]
    assert_pools_exact(client, KEYS)
