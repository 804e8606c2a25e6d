"""Defence in depth: every engine entry re-checks what reaches Lua, even from a model that skipped validation.

``model_copy(update=...)`` and ``model_construct`` build models without validating them. Ids are
pasted into key names and into event JSON by the scripts, so one quote in a ticket id used to forge
a second ``ticket_id`` field in ``ticket.assigned`` and make the toast invalid JSON.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from schemas.common import Channel
from schemas.inbound import AgentFirstReply, BulkAssignRequest
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.snapshots import snapshot
from worker.core.engine import Engine
from worker.errors import InvalidInput

FORGED = 'x","ticket_id":"evil'


def test_a_ticket_id_that_bypassed_validation_is_refused_before_lua(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    forged = make_ticket().model_copy(update={"ticket_id": FORGED})
    before = snapshot(client)
    with pytest.raises(InvalidInput, match="ticket_id"):
        engine.decide(forged, NOW)
    assert snapshot(client) == before


def test_a_channel_that_bypassed_validation_is_refused(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    forged = make_ticket().model_copy(update={"channel": 'email","x":"y'})
    before = snapshot(client)
    with pytest.raises(InvalidInput, match="channel"):
        engine.decide(forged, NOW)
    assert snapshot(client) == before


def test_an_account_id_that_bypassed_validation_is_refused(engine: Engine, make_ticket: TicketFactory) -> None:
    with pytest.raises(InvalidInput, match="account_id"):
        engine.decide(make_ticket().model_copy(update={"account_id": "a}b"}), NOW)


def test_a_valid_ticket_still_decides(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    assert engine.decide(make_ticket(ticket_id="a.b@c+d-e_f"), NOW).agent_id == "ana"


def test_a_first_reply_with_a_bypassed_ticket_id_is_refused(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine, online=("ana",))
    reply = AgentFirstReply(account_id="acme", ticket_id="t1", agent_id="ana", replied_at=NOW - timedelta(minutes=1))
    before = snapshot(client)
    with pytest.raises(InvalidInput, match="ticket_id"):
        engine.record_first_reply(reply.model_copy(update={"ticket_id": "t:1"}), NOW)
    assert snapshot(client) == before


def test_a_status_or_role_that_is_not_one_of_ours_is_refused_naming_the_field(engine: Engine) -> None:
    setup_account(engine)
    with pytest.raises(InvalidInput, match="status"):
        engine.set_status("acme", "ana", "busy", "ana", NOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="role"):
        engine.upsert_user("acme", "zoe", 'agent"', NOW)  # type: ignore[arg-type]


def test_office_hours_that_bypassed_validation_are_refused(engine: Engine, client: redis.Redis) -> None:
    setup_account(engine)
    hours = OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"])
    before = snapshot(client)
    with pytest.raises(InvalidInput, match="timezone"):
        engine.set_office_hours("acme", hours.model_copy(update={"timezone": "Not/AZone"}), "max", NOW)
    assert snapshot(client) == before


def test_a_bulk_request_with_a_bypassed_ticket_id_is_refused_naming_it(engine: Engine) -> None:
    request = BulkAssignRequest(account_id="acme", team_id="support", actor_id="max", ticket_ids=["t1", "t2"])
    engine.check_bulk_request(request)
    with pytest.raises(InvalidInput, match=r"ticket_ids\[1\]"):
        engine.check_bulk_request(request.model_copy(update={"ticket_ids": ["t1", FORGED]}))
    with pytest.raises(InvalidInput, match="team_id"):
        engine.check_bulk_request(request.model_copy(update={"team_id": "a:b"}))


def test_channel_member_accepts_the_enum_and_its_value(engine: Engine, make_ticket: TicketFactory) -> None:
    setup_account(engine, online=("ana",))
    as_text = make_ticket().model_copy(update={"channel": "sms"})
    assert engine.decide(as_text, NOW).channel is Channel.SMS
