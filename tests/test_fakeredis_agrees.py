"""fakeredis stands in for Redis in fast tests only if it behaves the same: drive both with the same
random operations and compare every decision, every error and every event."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
import redis

from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from schemas.office_hours import OfficeHours
from tests.support import replies
from tests.support.accounts import NOW
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.errors import HelpdeskError

USERS = ("own", "man", "a1", "a2", "a3", "vw")
HOURS = [OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"]), None]


def run_script(client: redis.Redis, seed: int) -> list[object]:
    rng = random.Random(seed)
    engine = Engine(client)
    outcomes: list[object] = []
    for user, role in zip(USERS, ["owner", "manager", "agent", "agent", "agent", "viewer"], strict=True):
        engine.upsert_user("acme", user, Role(role), NOW)
    for step in range(300):
        op = rng.random()
        try:
            if op < 0.25:
                outcomes.append(
                    engine.set_status("acme", rng.choice(USERS), rng.choice(list(AgentStatus)), rng.choice(USERS), NOW)
                )
            elif op < 0.3:
                outcomes.append(engine.set_round_robin("acme", rng.random() < 0.8, rng.choice(USERS), NOW))
            elif op < 0.33:
                outcomes.append(engine.set_office_hours("acme", rng.choice(HOURS), rng.choice(USERS), NOW))
            elif op < 0.35:
                outcomes.append(engine.upsert_user("acme", rng.choice(USERS[2:]), rng.choice(list(Role)), NOW))
            else:
                ticket = TicketCreated(
                    account_id="acme",
                    ticket_id=f"t{rng.randrange(step + 1)}",  # repeats on purpose
                    channel=rng.choice(list(Channel)),
                    created_at=NOW - timedelta(hours=rng.randrange(200)),
                )
                decision = engine.decide(ticket, NOW)
                outcomes.append((decision.outcome, decision.agent_id, decision.reason, decision.available_at))
        except HelpdeskError as error:
            outcomes.append((type(error).__name__, str(error)))
    for _, fields in replies.xrange(client, AccountKeys.for_account("acme").events):
        event = json.loads(fields[b"data"])
        event.pop("id")
        outcomes.append(event)
    return outcomes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fakeredis_agrees_with_real_redis_on_random_operations(
    real_redis: redis.Redis, fake_redis: redis.Redis, seed: int
) -> None:
    assert run_script(fake_redis, seed) == run_script(real_redis, seed)
