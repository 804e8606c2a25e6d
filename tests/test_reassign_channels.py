"""Reassignment (issue 16, parts 2 and 3) with per-channel pools (part 4): a reassigned ticket goes only to
an agent who takes its channel, skipping the previous assignee; nobody for the channel → it waits with
``no_agent_for_channel`` in its channel's waiting queue (away) or stays (unanswered); the pools stay exact
after every move. On a real Redis and on fakeredis."""

from __future__ import annotations

from datetime import datetime, timedelta

import redis

from schemas.common import AgentStatus, Channel
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.pools import assert_pools_exact
from tests.support.reassign import assignments, loads, record, sweep, unassignments
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.release import run_release
from worker.core.text import text

KEYS = AccountKeys.for_account("acme")
EMAIL, WEBCHAT = Channel.EMAIL, Channel.WEBCHAT


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def channel_account(engine: Engine) -> None:
    """ana (email), ben (webchat only), cara (email) Online in that order; reassign-away on."""
    setup_account(engine, online=("ana", "ben", "cara"))
    engine.set_agent_channels("acme", "ben", [WEBCHAT], "max", NOW)
    engine.set_reassign_away("acme", True, 0, "max", NOW)


def test_an_away_reassignment_skips_agents_who_do_not_take_the_channel(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    channel_account(engine)
    engine.decide(make_ticket(ticket_id="t1", channel=EMAIL), NOW)  # ana's
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", at(1))
    result = engine.customer_reply("acme", "t1", at(2), at(2))
    # ben is next in the one rotation but takes webchat only: cara gets it.
    assert (result.outcome, result.agent_id, result.previous_agent_id) == ("reassigned", "cara", "ana")
    assert assignments(client, "t1") == [("ana", None, "round_robin"), ("cara", "ana", "assignee_away")]
    assert loads(client) == {"cara": 1}
    assert_pools_exact(client, KEYS)


def test_nobody_for_the_channel_and_the_ticket_waits_in_its_channels_queue_until_someone_takes_it(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    channel_account(engine)
    engine.set_status("acme", "cara", AgentStatus.OFFLINE, "cara", NOW)
    engine.decide(make_ticket(ticket_id="t1", channel=EMAIL), NOW)  # ana's (ben cannot take email)
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", at(1))
    result = engine.customer_reply("acme", "t1", at(2), at(2))
    assert (result.outcome, result.reason, result.previous_agent_id) == ("waiting", "no_agent_for_channel", "ana")
    assert unassignments(client, "t1") == ["no_agent_for_channel"]
    assert [text(t) for t in client.zrange(KEYS.waiting_channel(EMAIL), 0, -1)] == ["t1"]
    assert [text(t) for t in client.zrange(KEYS.waiting, 0, -1)] == ["t1"]
    assert loads(client) == {}
    assert_pools_exact(client, KEYS)
    # A release (capacity and auto-assign on) gives it to cara once she is back, not to ben, naming ana.
    engine.set_capacity("acme", 5, "max", at(3))
    engine.set_auto_assign("acme", True, "max", at(3))
    engine.set_status("acme", "cara", AgentStatus.ONLINE, "cara", at(4))
    run_release(engine.scripts, KEYS, lambda: at(5))
    assert assignments(client, "t1")[-1] == ("cara", "ana", "waiting_queue")
    assert client.zcard(KEYS.waiting_channel(EMAIL)) == 0 and client.zcard(KEYS.waiting) == 0
    assert record(client, "t1")["agent_id"] == "cara"
    assert_pools_exact(client, KEYS)


def test_an_unanswered_ticket_goes_only_to_an_agent_of_its_channel_or_stays(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_agent_channels("acme", "ben", [WEBCHAT], "max", NOW)
    engine.set_reassign_unanswered("acme", 60, 1, "max", NOW)
    engine.decide(make_ticket(ticket_id="t1", channel=EMAIL), NOW)  # ana's; ben takes webchat only
    assert sweep(engine, 61) == []  # nobody else takes email: it stays, re-filed

    assert assignments(client, "t1") == [("ana", None, "round_robin")]
    assert client.zscore(KEYS.unanswered_due, "acme t1") == (NOW + timedelta(seconds=121)).timestamp() * 1000
    engine.set_status("acme", "cara", AgentStatus.ONLINE, "cara", at(100))  # takes every channel
    assert sweep(engine, 121) == [("acme", "t1", "cara")]
    assert assignments(client, "t1")[-1] == ("cara", "ana", "no_first_reply")
    assert loads(client) == {"cara": 1}
    assert_pools_exact(client, KEYS)


def test_pools_stay_exact_when_reassignments_move_load_under_capacity(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    channel_account(engine)
    engine.set_capacity("acme", 1, "max", NOW)
    engine.decide(make_ticket(ticket_id="t1", channel=EMAIL), NOW)  # ana: at capacity
    assert_pools_exact(client, KEYS)
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", at(1))
    assert engine.customer_reply("acme", "t1", at(2), at(2)).agent_id == "cara"  # cara now at capacity
    assert_pools_exact(client, KEYS)
    engine.decide(make_ticket(ticket_id="t2", channel=EMAIL), at(3))
    assert record(client, "t2")["reason"] == "all_agents_at_capacity"  # email agents Online, all full
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", at(4))
    assert_pools_exact(client, KEYS)


def test_an_unanswered_reassignment_that_frees_room_starts_the_release_of_waiting_tickets(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    """ana (email, webchat; capacity 1) holds a webchat ticket; an email ticket waits for her (ben takes webchat
    only). Her webchat ticket goes unanswered and moves to ben: she has room now, so the account owes a release
    from that moment, and the sweep that follows (sweep_due) starts it: the email ticket goes to her."""
    setup_account(engine, online=("ana", "ben"))
    engine.set_agent_channels("acme", "ben", [WEBCHAT], "max", NOW)
    engine.set_capacity("acme", 1, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    engine.set_reassign_unanswered("acme", 60, 1, "max", NOW)
    engine.decide(make_ticket(ticket_id="w1", channel=WEBCHAT), NOW)  # ana's: she is at capacity
    engine.decide(make_ticket(ticket_id="e1", channel=EMAIL), at(1))  # waits: ben does not take email
    assert record(client, "e1")["reason"] == "all_agents_at_capacity"
    assert client.zscore(KEYS.release_due, "acme") is None
    assert sweep(engine, 61) == [("acme", "w1", "ben")]
    assert client.zscore(KEYS.release_due, "acme") == at(61).timestamp() * 1000
    run_release(engine.scripts, KEYS, lambda: at(62))
    assert assignments(client, "e1") == [("ana", None, "waiting_queue")]
    assert_pools_exact(client, KEYS)
