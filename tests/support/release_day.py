"""A morning of capacity and the waiting queue, run through the real engine (for the report's tests).

Every step is an engine call at its own time (``at(seconds)`` after 10:00 UTC on 2026-11-24), so the
figures the report reads are the ones the Lua scripts wrote. What happens, and so what the report must say:

- 10:00:00  max (manager), ana, ben, cara (agents); ana and ben go Online; round robin on; capacity 1 for
            the account and 2 for cara (who stays Offline); auto-assign on.
- 10:00:00  t1 → ana, t2 → ben (round robin; both now at capacity), t3…t12 wait: all_agents_at_capacity (10).
- 10:00:30  capacity raised to 6; a release assigns t3…t12, 5 each: **10 tickets waited 30 s** (bucket 60).
- 10:00:40  t13, t14 wait: all_agents_at_capacity (12 in all).
- 10:04:00  t1 is closed: ana has room (the release is rung, not yet run).
- 10:04:05  t15 arrives: someone has room but older tickets wait: older_tickets_waiting (1).
- 10:04:10  a release gives t13 to ana: waited 210 s (bucket 300).
- 10:04:20  t2 is closed; a release gives t14 to ben: waited 220 s (bucket 300). t15 still waits.
- 10:05:00  t16 arrives, nobody has room: all_agents_at_capacity (13 in all). It and t15 still wait.

Totals: 12 released (buckets 60: 10, 300: 2; sum 300 + 210 + 220 = 730 s); loads now ana 6, ben 6,
cara 0; capacity 6 (the account's), cara 2 (her own); assigned in the period ana 7, ben 7.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from worker.core.engine import Engine
from worker.core.release import run_release

ACCOUNT = "acme"
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DAY = START.date()


def at(seconds: int) -> datetime:
    """``seconds`` after 10:00 UTC."""
    return START + timedelta(seconds=seconds)


def ticket(ticket_id: str, created_at: datetime) -> TicketCreated:
    return TicketCreated.model_validate(
        {"account_id": ACCOUNT, "ticket_id": ticket_id, "channel": Channel.EMAIL, "created_at": created_at},
        context={"now": created_at},
    )


def decide(engine: Engine, ticket_id: str, seconds: int) -> str:
    """A ticket created and decided ``seconds`` after 10:00; its reason."""
    return engine.decide(ticket(ticket_id, at(seconds)), at(seconds)).reason


def release(engine: Engine, seconds: int) -> int:
    """Run a release of the waiting queue at ``seconds`` after 10:00; how many it assigned."""
    return run_release(engine.scripts, engine.keys(ACCOUNT), lambda: at(seconds)).assigned


def run_release_day(engine: Engine) -> None:
    """The morning of the module docstring; asserts each step went as it says."""
    engine.upsert_user(ACCOUNT, "max", Role.MANAGER, at(0))
    for agent in ("ana", "ben", "cara"):
        engine.upsert_user(ACCOUNT, agent, Role.AGENT, at(0))
    for agent in ("ana", "ben"):
        engine.set_status(ACCOUNT, agent, AgentStatus.ONLINE, agent, at(0))
    engine.set_round_robin(ACCOUNT, True, "max", at(0))
    assert engine.set_capacity(ACCOUNT, 1, "max", at(0)) is True
    assert engine.set_capacity(ACCOUNT, 2, "max", at(0), agent_id="cara") is True
    assert engine.set_auto_assign(ACCOUNT, True, "max", at(0)) is True

    assert [decide(engine, "t1", 0), decide(engine, "t2", 0)] == ["round_robin", "round_robin"]
    assert {decide(engine, f"t{n}", 0) for n in range(3, 13)} == {"all_agents_at_capacity"}
    engine.set_capacity(ACCOUNT, 6, "max", at(30))
    assert release(engine, 30) == 10
    assert [decide(engine, "t13", 40), decide(engine, "t14", 40)] == ["all_agents_at_capacity"] * 2
    engine.close_ticket(ACCOUNT, "t1", at(240))
    assert decide(engine, "t15", 245) == "older_tickets_waiting"
    assert release(engine, 250) == 1
    engine.close_ticket(ACCOUNT, "t2", at(260))
    assert release(engine, 260) == 1
    assert decide(engine, "t16", 300) == "all_agents_at_capacity"
