"""Reassign when the assignee is away (issue 16, part 2): a customer reply or reopen on a ticket whose
assignee is Offline (for at least the grace) sends it through the rotation again. Real Redis and fakeredis."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis

from schemas.common import AgentStatus, Role
from schemas.events import SettingsChanged, Toast
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.reassign import assignments, loads, record, unassignments
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.presence import sweep_presence
from worker.core.queries import Queries
from worker.core.release import run_release
from worker.core.text import text
from worker.errors import Forbidden, InvalidInput, UnknownTicket

KEYS = AccountKeys.for_account("acme")
LATER = NOW + timedelta(minutes=10)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def away_account(
    engine: Engine, make_ticket: TicketFactory, grace: int = 0, online: tuple[str, ...] = ("ana", "ben")
) -> None:
    """ana and ben Online (ana next), reassign-away on; t1 is ana's; ana goes Offline at NOW."""
    setup_account(engine, online=online)
    assert engine.set_reassign_away("acme", True, grace, "max", NOW) is True
    engine.decide(make_ticket(ticket_id="t1"), NOW)
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", NOW)


def test_a_reply_while_the_assignee_is_offline_reassigns_the_ticket_to_the_next_agent(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket)
    result = engine.customer_reply("acme", "t1", NOW, NOW)
    assert (result.outcome, result.agent_id, result.previous_agent_id) == ("reassigned", "ben", "ana")
    assert assignments(client, "t1") == [("ana", None, "round_robin"), ("ben", "ana", "assignee_away")]
    stored = record(client, "t1")
    assert (stored["agent_id"], stored["previous_agent_id"], stored["reason"]) == ("ben", "ana", "assignee_away")
    assert (stored["reassignments"], stored["auto"]) == ("1", "1")
    assert loads(client) == {"ben": 1}
    toasts = [e for _, e in Queries(client).events("acme", count=None) if isinstance(e, Toast)]
    assert toasts[-1].user_id == "ben" and toasts[-1].ticket_ids == ["t1"]
    stats = {text(k): text(v) for k, v in client.hgetall(KEYS.stats(NOW.strftime("%Y-%m-%d"))).items()}
    assert stats["reassigned:assignee_away"] == "1" and stats["assigned:ben"] == "1"


def test_an_online_assignee_keeps_the_ticket_and_so_does_an_account_without_the_setting(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.decide(make_ticket(ticket_id="t1"), NOW)
    engine.set_status("acme", "ana", AgentStatus.OFFLINE, "ana", NOW)
    assert engine.customer_reply("acme", "t1", at(1), at(1)).outcome == "kept"  # setting off (the default)
    engine.set_reassign_away("acme", True, 0, "max", NOW)
    engine.set_status("acme", "ana", AgentStatus.ONLINE, "ana", at(2))
    kept = engine.customer_reply("acme", "t1", at(3), at(3))
    assert (kept.outcome, kept.agent_id) == ("kept", "ana")
    assert assignments(client, "t1") == [("ana", None, "round_robin")]


def test_the_grace_counts_from_when_the_assignee_went_offline(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket, grace=60)
    assert engine.customer_reply("acme", "t1", at(59), at(59)).outcome == "kept"
    assert engine.customer_reply("acme", "t1", at(60), at(60)).outcome == "reassigned"


def test_a_reply_reported_late_is_judged_at_its_own_time(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket)
    # Written before ana went Offline, processed after: she was there when the customer wrote.
    assert engine.customer_reply("acme", "t1", NOW - timedelta(seconds=5), LATER).outcome == "kept"


def test_the_same_reply_twice_or_an_older_one_changes_nothing(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket)
    assert engine.customer_reply("acme", "t1", at(10), at(10)).outcome == "reassigned"
    engine.set_status("acme", "ben", AgentStatus.OFFLINE, "ben", at(11))
    engine.set_status("acme", "cara", AgentStatus.ONLINE, "cara", at(11))
    assert engine.customer_reply("acme", "t1", at(10), at(20)).outcome == "duplicate"
    assert engine.customer_reply("acme", "t1", at(9), at(20)).outcome == "duplicate"
    assert len(assignments(client, "t1")) == 2
    assert engine.customer_reply("acme", "t1", at(30), at(30)).agent_id == "cara"  # a new reply: ben is away now


def test_nobody_available_the_ticket_waits_and_a_release_assigns_it_naming_the_previous_assignee(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket, online=("ana",))
    engine.set_capacity("acme", 5, "max", NOW)
    engine.set_auto_assign("acme", True, "max", NOW)
    result = engine.customer_reply("acme", "t1", at(1), at(1))
    assert (result.outcome, result.reason, result.previous_agent_id) == ("waiting", "no_agent_online", "ana")
    assert unassignments(client, "t1") == ["no_agent_online"]
    stored = record(client, "t1")
    waited = (stored["status"], stored["previous_agent_id"], stored["reassign_reason"])
    assert waited == ("unassigned", "ana", "assignee_away")
    assert client.zscore(KEYS.waiting, "t1") is not None and client.zscore(KEYS.unassigned, "t1") is not None
    assert loads(client) == {}
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", at(2))
    run_release(engine.scripts, KEYS, lambda: at(3))
    assert assignments(client, "t1")[-1] == ("ben", "ana", "waiting_queue")
    assert loads(client) == {"ben": 1}


def test_agents_online_but_all_at_capacity_the_ticket_waits_with_that_reason(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket)
    engine.set_capacity("acme", 1, "max", NOW)
    engine.decide(make_ticket(ticket_id="t2"), NOW)  # ben's: he is full
    result = engine.customer_reply("acme", "t1", at(1), at(1))
    assert (result.outcome, result.reason) == ("waiting", "all_agents_at_capacity")


def test_under_capacity_the_ticket_goes_to_the_next_agent_with_room(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket, online=("ana", "ben", "cara"))
    engine.set_capacity("acme", 1, "max", NOW)
    engine.decide(make_ticket(ticket_id="t2"), NOW)  # ben's: full; cara has room
    assert engine.customer_reply("acme", "t1", at(1), at(1)).agent_id == "cara"
    assert loads(client) == {"ben": 1, "cara": 1}


def test_closed_and_unassigned_tickets_only_record_the_reply(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket)
    engine.close_ticket("acme", "t1", at(1))
    assert engine.customer_reply("acme", "t1", at(2), at(2)).outcome == "recorded"
    engine.set_round_robin("acme", False, "max", NOW)
    engine.decide(make_ticket(ticket_id="t2"), NOW)
    assert engine.customer_reply("acme", "t2", at(2), at(2)).outcome == "recorded"
    assert assignments(client, "t1") == [("ana", None, "round_robin")]


def test_round_robin_off_means_no_reassignment(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    away_account(engine, make_ticket)
    engine.set_round_robin("acme", False, "max", NOW)
    assert engine.customer_reply("acme", "t1", at(1), at(1)).outcome == "kept"


def test_a_reply_on_an_unknown_ticket_is_refused(engine: Engine, make_ticket: TicketFactory) -> None:
    away_account(engine, make_ticket)
    with pytest.raises(UnknownTicket):
        engine.customer_reply("acme", "nope", at(1), at(1))


def test_a_reopen_while_the_assignee_is_away_reassigns_the_ticket(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    away_account(engine, make_ticket)
    engine.close_ticket("acme", "t1", at(1))
    change = engine.reopen_ticket("acme", "t1", at(2))
    assert (change.agent_id, change.reassigned_from) == ("ben", "ana")
    assert assignments(client, "t1")[-1] == ("ben", "ana", "assignee_away")
    assert loads(client) == {"ben": 1}
    engine.close_ticket("acme", "t1", at(3))
    engine.set_status("acme", "ben", AgentStatus.ONLINE, "ben", at(3))
    assert engine.reopen_ticket("acme", "t1", at(4)).reassigned_from is None  # ben is there: he keeps it


def test_offline_by_presence_timeout_or_demotion_counts_as_away(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben", "cara"))
    engine.set_reassign_away("acme", True, 30, "max", NOW)
    engine.decide(make_ticket(ticket_id="t1"), NOW)  # ana's
    engine.decide(make_ticket(ticket_id="t2"), NOW)  # ben's
    engine.set_presence_timeout("acme", 60, "max", NOW)
    engine.heartbeat("acme", "ben", at(30))
    engine.heartbeat("acme", "cara", at(30))
    sweep_presence(engine.scripts, engine.keys, 16, at(60))  # ana Offline at 60
    assert engine.customer_reply("acme", "t1", at(89), at(89)).outcome == "kept"
    assert engine.customer_reply("acme", "t1", at(90), at(90)).agent_id == "cara"
    engine.upsert_user("acme", "ben", Role.VIEWER, at(91))  # demoted: Offline at 91
    assert engine.customer_reply("acme", "t2", at(121), at(121)).outcome == "reassigned"


def test_the_setting_needs_a_manager_and_a_valid_grace(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    with pytest.raises(Forbidden):
        engine.set_reassign_away("acme", True, 0, "ana", NOW)
    with pytest.raises(InvalidInput):
        engine.set_reassign_away("acme", True, -1, "max", NOW)
    assert engine.set_reassign_away("acme", True, 300, "max", NOW) is True
    assert engine.set_reassign_away("acme", True, 300, "max", NOW) is False
    changes = [e.changes for _, e in Queries(client).events("acme", count=None) if isinstance(e, SettingsChanged)]
    assert changes[-1] == {"reassign_away": True, "reassign_away_grace_seconds": 300}
    settings = Queries(client).settings("acme")
    assert (settings.reassign_away, settings.reassign_away_grace_seconds) == (True, 300)
