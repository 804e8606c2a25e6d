"""Waiting tickets cost memory only within bounds, and never vanish silently.

Records of unassigned tickets are kept until assigned (docs/DESIGN.md, "Retention"), so an account
nobody set up (no users: round robin can never be turned on) used to keep every ticket's record
forever, in an account the metrics do not even list. Now such a ticket is refused, and so is a ticket
that would wait while its account already has ``HELPDESK_RR_MAX_WAITING_TICKETS`` waiting: nothing is
written but a counter, and the job fails into RQ's failed registry with the reason, to be requeued.
"""

from __future__ import annotations

import contextlib

import pytest
import redis
from freezegun import freeze_time
from rq import Queue

from producers.queue import PROCESS_TICKET, QUEUE_NAME, SERIALIZER
from schemas.common import AgentStatus, Channel, Role
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.backends import all_keys
from tests.support.snapshots import snapshot
from worker.config import Retention
from worker.core.engine import Engine
from worker.core.keys import AccountKeys, partition_metrics
from worker.core.queries import Queries
from worker.errors import UnknownAccount, WaitingCeiling
from worker.ops.metrics import HelpdeskCollector
from worker.runtime.failures import list_failed, requeue
from worker.runtime.runner import make_worker


def without_metrics(client: redis.Redis) -> dict[bytes, object]:
    state = snapshot(client)
    return {key: value for key, value in state.items() if not key.endswith(b":metrics")}


def refused(client: redis.Redis) -> dict[str, float]:
    return HelpdeskCollector(client).read().refused


# --- accounts nobody set up -------------------------------------------------------------------------


def test_a_ticket_for_an_account_with_no_users_is_refused_and_writes_nothing(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    before = without_metrics(client)
    with pytest.raises(UnknownAccount, match="account ghost-co has no users") as raised:
        engine.decide(make_ticket("ghost-co"), NOW)
    assert "\n" not in str(raised.value) and "helpdesk-rr failed ghost-co --requeue" in str(raised.value)
    assert without_metrics(client) == before
    assert refused(client) == {"unknown_account": 1}


def test_many_unknown_accounts_leave_no_keys_behind(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    for n in range(50):
        with pytest.raises(UnknownAccount):
            engine.decide(make_ticket(f"ghost-{n}"), NOW)
    assert all(key.endswith(b":metrics") for key in all_keys(client)), sorted(all_keys(client))


def test_an_account_with_a_user_decides_as_before(engine: Engine, make_ticket: TicketFactory) -> None:
    engine.upsert_user("acme", "max", Role.MANAGER, NOW)
    decision = engine.decide(make_ticket(), NOW)
    assert (decision.outcome, decision.reason) == ("unassigned", "round_robin_off")


def test_the_refused_job_is_listed_with_its_reason_and_decided_once_requeued(
    real_redis: redis.Redis, make_ticket: TicketFactory
) -> None:
    client = real_redis
    ticket = make_ticket("ghost-co")
    with freeze_time(NOW):
        Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER).enqueue(
            PROCESS_TICKET, ticket.model_dump(mode="json"), meta={"account_id": "ghost-co"}
        )
        make_worker(client).work(burst=True)
        (row,) = list_failed(client, "ghost-co")
        assert "UnknownAccount" in row.reason and "has no users" in row.reason
        setup_account(Engine(client), "ghost-co", online=("ana",))
        assert requeue(client, [row]) == 1
        make_worker(client).work(burst=True)
    assert list_failed(client, "ghost-co") == []
    stored = Queries(client).ticket("ghost-co", ticket.ticket_id)
    assert stored is not None and stored["agent_id"] == "ana"
    assert refused(client) == {"unknown_account": 1}  # refused once: a refusal is not retried


# --- the per-account ceiling on waiting tickets -----------------------------------------------------


@pytest.fixture
def small(client: redis.Redis) -> Engine:
    """An engine whose accounts may have at most 3 tickets waiting."""
    return Engine(client, Retention(max_waiting_tickets=3))


def test_a_ticket_that_would_wait_beyond_the_ceiling_is_refused_and_writes_nothing(
    small: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(small, round_robin=False)
    waiting = [make_ticket() for _ in range(3)]
    for ticket in waiting:
        assert small.decide(ticket, NOW).outcome == "unassigned"
    before = without_metrics(client)
    with pytest.raises(WaitingCeiling, match="already has 3 tickets waiting") as raised:
        small.decide(make_ticket(), NOW)
    assert "HELPDESK_RR_MAX_WAITING_TICKETS" in str(raised.value) and "round_robin_off" in str(raised.value)
    assert without_metrics(client) == before
    assert refused(client) == {"waiting_ceiling": 1}
    assert small.decide(waiting[0], NOW).duplicate  # a redelivery of a waiting ticket is still answered
    assert client.zcard(AccountKeys.for_account("acme").unassigned) == 3


def test_at_the_ceiling_tickets_are_still_assigned(
    small: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(small)  # round robin on, nobody Online: every ticket waits
    for _ in range(3):
        assert small.decide(make_ticket(), NOW).reason == "no_agent_online"
    small.set_status("acme", "ana", AgentStatus.ONLINE, "ana", NOW)
    assert small.decide(make_ticket(channel=Channel.SMS), NOW).agent_id == "ana"


def test_refusals_are_exposed_as_a_counter_by_reason(
    small: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(small, round_robin=False)
    for _ in range(5):
        with contextlib.suppress(WaitingCeiling):
            small.decide(make_ticket(), NOW)
    with pytest.raises(UnknownAccount):
        small.decide(make_ticket("ghost-co"), NOW)
    assert refused(client) == {"waiting_ceiling": 2, "unknown_account": 1}
    assert client.hget(partition_metrics(AccountKeys.for_account("acme").partition), "refused:waiting_ceiling") == b"2"


def test_the_ceiling_is_a_setting_with_a_documented_default() -> None:
    assert Retention.from_env({}).max_waiting_tickets == 100_000
    assert Retention.from_env({"HELPDESK_RR_MAX_WAITING_TICKETS": "500"}).max_waiting_tickets == 500
    for bad in ("0", "-1", "lots"):
        with pytest.raises(ValueError, match="HELPDESK_RR_MAX_WAITING_TICKETS") as raised:
            Retention.from_env({"HELPDESK_RR_MAX_WAITING_TICKETS": bad})
        assert "\n" not in str(raised.value)
