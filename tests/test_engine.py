"""The engine suite: one test per rule of PRODUCT.md, each run on a real Redis and on fakeredis."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import redis

from schemas.common import AgentStatus, Channel, Role
from schemas.events import parse_event
from schemas.office_hours import OfficeHours
from tests.support import replies
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.office_hours import BERLIN_WEEKDAYS, berlin
from tests.support.snapshots import snapshot
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.errors import Forbidden, UnknownUser

BACKENDS = ("real", "fake", "cluster")
"""These tests also run on a local Redis Cluster (tests/conftest.py)."""

ONLINE, OFFLINE = AgentStatus.ONLINE, AgentStatus.OFFLINE


def assign(engine: Engine, make_ticket: TicketFactory, n: int, **kwargs: object) -> list[str | None]:
    return [engine.decide(make_ticket(**kwargs), NOW).agent_id for _ in range(n)]


def event_types(client: redis.Redis, account: str = "acme") -> list[str]:
    return [event.type for _, event in Queries(client).events(account)]


# --- the round-robin setting -----------------------------------------------------------------


def test_round_robin_is_off_until_a_manager_turns_it_on(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",), round_robin=False)
    decision = engine.decide(make_ticket(), NOW)
    assert (decision.outcome, decision.reason) == ("unassigned", "round_robin_off")


def test_round_robin_off_again_leaves_new_tickets_unassigned(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    assert engine.decide(make_ticket(), NOW).agent_id == "ana"
    engine.set_round_robin("acme", False, "max", NOW)
    assert engine.decide(make_ticket(), NOW).reason == "round_robin_off"


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MANAGER])
def test_owner_admin_manager_may_turn_round_robin_on(engine: Engine, role: Role) -> None:
    engine.upsert_user("acme", "boss", role, NOW)
    assert engine.set_round_robin("acme", True, "boss", NOW) is True


@pytest.mark.parametrize("role", [Role.AGENT, Role.VIEWER])
def test_agent_and_viewer_may_not_turn_round_robin_on(engine: Engine, client: redis.Redis, role: Role) -> None:
    engine.upsert_user("acme", "someone", role, NOW)
    before = snapshot(client)
    with pytest.raises(Forbidden, match="only owner, admin or manager"):
        engine.set_round_robin("acme", True, "someone", NOW)
    assert snapshot(client) == before


# --- the rotation ------------------------------------------------------------------------------


def test_tickets_rotate_over_online_agents_least_recently_assigned_first(
    engine: Engine, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben", "cara"))
    assert assign(engine, make_ticket, 6) == ["ana", "ben", "cara", "ana", "ben", "cara"]


def test_only_one_agent_online_gets_every_ticket(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ben",))
    assert assign(engine, make_ticket, 4) == ["ben"] * 4


def test_no_agent_online_leaves_ticket_unassigned(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine)
    decision = engine.decide(make_ticket(), NOW)
    assert (decision.outcome, decision.reason, decision.agent_id) == ("unassigned", "no_agent_online", None)


def test_offline_agent_never_gets_a_ticket(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana", "ben"))
    engine.set_status("acme", "ben", OFFLINE, "ben", NOW)
    assert set(assign(engine, make_ticket, 5)) == {"ana"}


def test_agent_toggling_offline_keeps_their_place(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana", "ben", "cara"))
    assert assign(engine, make_ticket, 1) == ["ana"]  # ben is next
    engine.set_status("acme", "ben", OFFLINE, "ben", NOW)
    assert assign(engine, make_ticket, 2) == ["cara", "ana"]
    engine.set_status("acme", "ben", ONLINE, "ben", NOW)
    # ben waited longest: he is served first, then the rotation carries on - he skipped no turn.
    assert assign(engine, make_ticket, 3) == ["ben", "cara", "ana"]


def test_agent_toggling_cannot_jump_the_line(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana", "ben", "cara"))
    assert assign(engine, make_ticket, 1) == ["ana"]
    engine.set_status("acme", "ana", OFFLINE, "ana", NOW)
    engine.set_status("acme", "ana", ONLINE, "ana", NOW)
    assert assign(engine, make_ticket, 3) == ["ben", "cara", "ana"]


def test_never_assigned_agent_joins_at_the_back_of_the_line(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana", "ben"))
    assert assign(engine, make_ticket, 1) == ["ana"]
    engine.set_status("acme", "cara", ONLINE, "cara", NOW)  # never assigned: behind ben and ana
    assert assign(engine, make_ticket, 3) == ["ben", "ana", "cara"]


def test_agents_who_join_together_are_served_in_the_order_they_went_online(
    engine: Engine, make_ticket: TicketFactory
) -> None:
    # Places are unique (each join or assignment takes the next number), so there are no ties to break
    # by user id: "zed" went Online before "abe" and is served first.
    setup_account(engine, agents=("zed", "abe"), online=("zed", "abe"))
    assert assign(engine, make_ticket, 2) == ["zed", "abe"]


def test_counts_differ_by_at_most_one_while_online_set_is_fixed(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, agents=("a1", "a2", "a3", "a4", "a5"), online=("a1", "a2", "a3"))
    assign(engine, make_ticket, 7)
    engine.set_status("acme", "a4", ONLINE, "a4", NOW)
    engine.set_status("acme", "a1", OFFLINE, "a1", NOW)
    for window in range(1, 40):
        counts = Counter(assign(engine, make_ticket, window))
        assert max(counts.values()) - min(counts.get(a, 0) for a in ("a2", "a3", "a4")) <= 1


def test_going_offline_does_not_move_assigned_tickets(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    ticket = make_ticket()
    engine.decide(ticket, NOW)
    engine.set_status("acme", "ana", OFFLINE, "ana", NOW)
    assert Queries(client).ticket("acme", ticket.ticket_id)["agent_id"] == "ana"  # type: ignore[index]
    assert event_types(client)[-1] == "agent.status_changed"


def test_nobody_goes_online_automatically(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    engine.set_office_hours("acme", OfficeHours.from_specs("UTC", ["daily 00:00-24:00"]), "max", NOW)
    assert all(view.status is OFFLINE for view in Queries(client).users("acme"))


def test_new_user_starts_offline(engine: Engine, client: redis.Redis) -> None:
    engine.upsert_user("acme", "nina", Role.AGENT, NOW)
    (view,) = Queries(client).users("acme")
    assert (view.user_id, view.status, view.place) == ("nina", OFFLINE, None)


# --- status and roles --------------------------------------------------------------------------


def test_agent_sets_their_own_status(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    assert engine.set_status("acme", "ana", ONLINE, "ana", NOW) is True
    assert Queries(client).online_in_rotation_order("acme") == ["ana"]


def test_agent_may_not_set_another_users_status(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    before = snapshot(client)
    with pytest.raises(Forbidden, match="ben is an agent"):
        engine.set_status("acme", "ana", ONLINE, "ben", NOW)
    assert snapshot(client) == before


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MANAGER])
def test_manager_or_higher_may_set_another_users_status(engine: Engine, client: redis.Redis, role: Role) -> None:
    setup_account(engine)
    engine.upsert_user("acme", "boss", role, NOW)
    engine.set_status("acme", "ana", ONLINE, "boss", NOW)
    _, event = Queries(client).events("acme")[-1]
    assert (event.type, event.user_id, event.actor_id) == ("agent.status_changed", "ana", "boss")  # type: ignore[union-attr]


def test_viewer_can_never_go_online(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    engine.upsert_user("acme", "vic", Role.VIEWER, NOW)
    before = snapshot(client)
    for actor in ("vic", "max"):
        with pytest.raises(Forbidden, match="viewer"):
            engine.set_status("acme", "vic", ONLINE, actor, NOW)
    assert snapshot(client) == before


def test_manager_can_be_in_the_pool(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, agents=())
    engine.set_status("acme", "max", ONLINE, "max", NOW)
    assert assign(engine, make_ticket, 1) == ["max"]


def test_demoting_an_online_agent_to_viewer_takes_them_out_of_the_pool(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    assert engine.upsert_user("acme", "ana", Role.VIEWER, NOW) == (Role.AGENT, True)
    assert set(assign(engine, make_ticket, 3)) == {"ben"}
    offline = [e for _, e in Queries(client).events("acme") if e.type == "agent.status_changed" and e.status is OFFLINE]
    assert offline[-1].actor_id is None


def test_unknown_user_or_actor_is_refused(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    before = snapshot(client)
    with pytest.raises(UnknownUser, match="ghost"):
        engine.set_status("acme", "ghost", ONLINE, "max", NOW)
    with pytest.raises(UnknownUser, match="ghost"):
        engine.set_status("acme", "ana", ONLINE, "ghost", NOW)
    with pytest.raises(UnknownUser, match="ghost"):
        engine.set_round_robin("acme", True, "ghost", NOW)
    assert snapshot(client) == before


def test_setting_the_same_status_again_changes_and_emits_nothing(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine, online=("ana",))
    before = snapshot(client)
    assert engine.set_status("acme", "ana", ONLINE, "ana", NOW) is False
    assert engine.set_status("acme", "ben", OFFLINE, "ben", NOW) is False
    assert engine.set_round_robin("acme", True, "max", NOW) is False
    assert snapshot(client) == before


# --- office hours (webchat only) ---------------------------------------------------------------


def test_webchat_arriving_after_hours_waits_with_next_opening(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    decision = engine.decide(make_ticket(channel=Channel.WEBCHAT, created_at=berlin(20, 18)), NOW)  # Friday 18:00
    assert (decision.outcome, decision.reason) == ("unassigned", "after_hours")
    assert decision.available_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 CET


def test_webchat_inside_office_hours_is_assigned(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    assert engine.decide(make_ticket(channel=Channel.WEBCHAT, created_at=berlin(24, 10)), NOW).agent_id == "ana"


def test_webchat_on_a_closed_date_waits(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    christmas = berlin(25, 11, month=12)
    decision = engine.decide(make_ticket(channel=Channel.WEBCHAT, created_at=christmas), christmas)
    assert (decision.reason, decision.available_at) == ("after_hours", datetime(2026, 12, 28, 8, 0, tzinfo=UTC))


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS, Channel.SOCIAL])
def test_other_channels_are_assigned_at_any_hour(engine: Engine, make_ticket: TicketFactory, channel: Channel) -> None:
    setup_account(engine, online=("ana",))
    engine.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    assert engine.decide(make_ticket(channel=channel, created_at=berlin(22, 3)), NOW).agent_id == "ana"


def test_office_hours_are_judged_at_arrival_not_at_processing(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    late_night = berlin(23, 23, 30)
    processed_next_morning = berlin(24, 10)
    decision = engine.decide(make_ticket(channel=Channel.WEBCHAT, created_at=late_night), processed_next_morning)
    assert decision.reason == "after_hours"


def test_no_office_hours_means_webchat_always_open(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    assert engine.decide(make_ticket(channel=Channel.WEBCHAT, created_at=berlin(22, 3)), NOW).agent_id == "ana"


def test_office_hours_change_reaches_a_worker_with_an_older_copy(
    client: redis.Redis, make_ticket: TicketFactory
) -> None:
    manager_side, worker_side = Engine(client), Engine(client)
    setup_account(manager_side, online=("ana",))
    manager_side.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    sunday = berlin(22, 12)
    assert worker_side.decide(make_ticket(channel=Channel.WEBCHAT, created_at=sunday), NOW).reason == "after_hours"
    manager_side.set_office_hours("acme", OfficeHours.from_specs("Europe/Berlin", ["daily 00:00-24:00"]), "max", NOW)
    assert worker_side.decide(make_ticket(channel=Channel.WEBCHAT, created_at=sunday), NOW).agent_id == "ana"
    manager_side.set_office_hours("acme", None, "max", NOW)
    assert worker_side.decide(make_ticket(channel=Channel.WEBCHAT, created_at=sunday), NOW).outcome == "assigned"


def test_agent_may_not_change_office_hours(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    before = snapshot(client)
    with pytest.raises(Forbidden):
        engine.set_office_hours("acme", BERLIN_WEEKDAYS, "ana", NOW)
    assert snapshot(client) == before


# --- idempotency -------------------------------------------------------------------------------


def test_same_ticket_twice_assigns_once_and_emits_once(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana", "ben"))
    ticket = make_ticket()
    first = engine.decide(ticket, NOW)
    before = snapshot(client)
    again = engine.decide(ticket, NOW + timedelta(minutes=5))
    assert (again.agent_id, again.duplicate, first.duplicate) == ("ana", True, False)
    assert snapshot(client) == before
    assert assign(engine, make_ticket, 1) == ["ben"]  # the duplicate did not advance the rotation


def test_duplicate_of_an_unassigned_ticket_returns_its_reason(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    ticket = make_ticket(channel=Channel.WEBCHAT, created_at=berlin(22, 3))
    first = engine.decide(ticket, NOW)
    again = engine.decide(ticket, NOW)
    assert (again.reason, again.available_at, again.duplicate) == ("after_hours", first.available_at, True)


# --- the unassigned set ----------------------------------------------------------------------


def test_unassigned_set_lists_oldest_first_with_reason(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, round_robin=False)
    engine.decide(make_ticket(ticket_id="late", created_at=NOW - timedelta(minutes=1)), NOW)
    engine.decide(make_ticket(ticket_id="early", channel=Channel.SMS, created_at=NOW - timedelta(hours=1)), NOW)
    engine.set_round_robin("acme", True, "max", NOW)
    engine.decide(make_ticket(ticket_id="middle", created_at=NOW - timedelta(minutes=30)), NOW)
    rows = Queries(client).unassigned("acme")
    assert [(r.ticket_id, r.channel.value, r.reason.value) for r in rows] == [
        ("early", "sms", "round_robin_off"),
        ("middle", "email", "no_agent_online"),
        ("late", "email", "round_robin_off"),
    ]
    assert rows[0].created_at == NOW - timedelta(hours=1) and rows[0].available_at is None


# --- events --------------------------------------------------------------------------------


def test_assignment_emits_ticket_assigned_and_a_toast_for_the_assignee(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    ticket = make_ticket(channel=Channel.SMS)
    engine.decide(ticket, NOW)
    (_, assigned), (_, toast) = Queries(client).events("acme")[-2:]
    assert assigned.type == "ticket.assigned" and toast.type == "toast"
    assert (assigned.ticket_id, assigned.channel, assigned.agent_id, assigned.reason.value) == (
        ticket.ticket_id,
        Channel.SMS,
        "ana",
        "round_robin",
    )
    assert (assigned.previous_agent_id, assigned.team_id) == (None, None)
    assert (toast.user_id, toast.ticket_ids) == ("ana", [ticket.ticket_id])
    assert assigned.occurred_at == NOW and assigned.account_id == "acme" and assigned.schema_version == "1"


def test_unassigned_ticket_emits_ticket_unassigned_without_toast(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine)
    engine.decide(make_ticket(), NOW)
    assert event_types(client)[-1] == "ticket.unassigned"
    assert "toast" not in event_types(client)


def test_every_event_has_the_common_fields_and_parses(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    engine.decide(make_ticket(), NOW)
    engine.decide(make_ticket(channel=Channel.WEBCHAT, created_at=berlin(22, 3)), NOW)
    raw = replies.xrange(client, AccountKeys.for_account("acme").events)
    types = set()
    ids = set()
    for _, fields in raw:
        event = parse_event(fields[b"data"])
        types.add(event.type)
        ids.add(event.id)
        assert event.account_id == "acme" and event.occurred_at.tzinfo is not None
    assert types == {"agent.status_changed", "settings.changed", "ticket.assigned", "toast", "ticket.unassigned"}
    assert len(ids) == len(raw)


def test_events_reach_the_partition_stream_in_account_order(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    setup_account(engine, "globex", agents=("gus",), online=("gus",))
    for account in ("acme", "globex", "acme"):
        engine.decide(make_ticket(account_id=account), NOW)
    for account in ("acme", "globex"):
        keys = AccountKeys.for_account(account)
        own = [fields[b"data"] for _, fields in replies.xrange(client, keys.events)]
        shared = [
            f[b"data"] for _, f in replies.xrange(client, keys.partition_events) if f[b"account_id"] == account.encode()
        ]
        assert shared == own


def test_accounts_never_share_agents_or_events(engine: Engine, client: redis.Redis, make_ticket: TicketFactory) -> None:
    setup_account(engine, "acme", online=("ana",))
    setup_account(engine, "globex", agents=("gus",), online=())
    decision = engine.decide(make_ticket(account_id="globex"), NOW)
    assert decision.reason == "no_agent_online"
    assert all(e.account_id == "globex" for _, e in Queries(client).events("globex"))
    assert "ticket.unassigned" not in event_types(client, "acme")


def test_settings_read_back_as_configured(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    engine.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    settings = Queries(client).settings("acme")
    assert settings.round_robin is True and settings.office_hours == BERLIN_WEEKDAYS
    engine.set_office_hours("acme", None, "max", NOW)
    assert Queries(client).settings("acme").office_hours is None


def test_duplicate_reports_the_channel_the_ticket_first_arrived_on(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="same", channel=Channel.WEBCHAT), NOW)
    assert engine.decide(make_ticket(ticket_id="same", channel=Channel.EMAIL), NOW).channel is Channel.WEBCHAT
