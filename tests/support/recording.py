"""Scripts that record the KEYS of every call, and one call of every Lua script through its wrapper.

Used by tests/test_scripts.py and tests/test_cluster.py to check every script call touches one slot.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis

from schemas.common import Channel, WebhookSecretName
from schemas.inbound import TicketCreated
from tests.support.accounts import NOW
from worker.core.capacity import claim, set_auto_assign, set_capacity
from worker.core.channels import set_agent_channels
from worker.core.decide_many import Arrival, decide_many
from worker.core.keys import AccountKeys
from worker.core.lifecycle import close_or_reopen
from worker.core.presence import expire, heartbeat, set_presence_timeout
from worker.core.reassign import customer_reply, expire_unanswered, set_reassign
from worker.core.release import run_release
from worker.core.scripts import Scripts, TicketArgs
from worker.core.webhook_secrets import set_webhook_secret

NOW_ISO = "2026-11-24T15:00:00.000Z"
"""``NOW`` as the scripts take it."""


class RecordingScripts(Scripts):
    """Records the KEYS of every call, so tests can check them (Redis itself is real)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self.calls: list[tuple[str, list[str]]] = []

    def _call(self, name: str, keys: list[str], args: list[Any]) -> list[Any]:
        self.calls.append((name, keys))
        return super()._call(name, keys, args)


def exercise(
    scripts: Scripts,
    account: str | AccountKeys,
    *,
    users: tuple[str, str] = ("boss", "ana"),
    tickets: tuple[str, str] = ("t1", "t2"),
    team: str = "billing",
    job: str = "job1",
    late: tuple[str, str] = ("t3", "t4"),
) -> None:
    """One call of every wrapper, in an order where each succeeds (two tickets: a variadic tail repeats)."""
    keys = account if isinstance(account, AccountKeys) else AccountKeys.for_account(account)
    boss, ana = users
    scripts.set_user(keys, boss, "owner", NOW_ISO, "e1")
    scripts.set_user(keys, ana, "agent", NOW_ISO, "e2")
    scripts.set_round_robin(keys, boss, "on", NOW, "e3")
    _, version = scripts.set_office_hours(keys, boss, '{"timezone":"UTC","weekly":{},"closed_dates":[]}', NOW_ISO, "e4")
    scripts.set_status(keys, ana, "online", ana, NOW, "e5")
    scripts.decide_ticket(
        keys,
        TicketArgs(tickets[0], "email", NOW_ISO, int(NOW.timestamp() * 1000)),
        now_iso=NOW_ISO,
        office_hours_version="",
        open_at_arrival=True,
        available_at_iso="",
        event_ids=("e6", "e7"),
        now=NOW,
        enqueued_ms=1,
    )
    scripts.trim_events(keys.partition_events, horizon_ms=1)
    scripts.set_team(keys, team, [ana], boss, NOW_ISO, "e8")
    scripts.bulk_assign(keys, team, job, list(tickets), 0, NOW)
    scripts.bulk_finish(keys, team, job, NOW, 60)
    scripts.record_first_reply(keys, tickets[0], ana, NOW, NOW)
    close_or_reopen(scripts, keys, tickets[0], "close", NOW)
    close_or_reopen(scripts, keys, tickets[0], "reopen", NOW)
    set_capacity(scripts, keys, 5, None, boss, NOW)
    set_auto_assign(scripts, keys, True, boss, NOW)
    now_ms = int(NOW.timestamp() * 1000)
    for n, ticket_id in enumerate(late):  # webchat after hours, their opening already past: promoted, released
        scripts.decide_ticket(
            keys,
            TicketArgs(ticket_id, "webchat", NOW_ISO, now_ms - 1000 + n),
            now_iso=NOW_ISO,
            office_hours_version=version,
            open_at_arrival=False,
            available_at_iso=NOW_ISO,
            available_at_ms=now_ms - 1,
            event_ids=(f"e9-{n}", f"e10-{n}"),
            now=NOW,
        )
    claim(scripts, keys, NOW)
    run_release(scripts, keys, lambda: NOW)
    set_presence_timeout(scripts, keys, 60, boss, NOW)
    heartbeat(scripts, keys, ana, NOW)
    expire(scripts, keys, ana, NOW + timedelta(seconds=61))  # no heartbeat for a minute: Offline
    scripts.set_status(keys, ana, "online", ana, NOW, "e11")  # and back, as callers expect her
    set_reassign(scripts, keys, "away", ("on", "0"), boss, NOW)
    set_reassign(scripts, keys, "unanswered", ("60", "1"), boss, NOW)
    customer_reply(scripts, keys, tickets[0], NOW, NOW)
    expire_unanswered(scripts, keys, tickets[0], NOW + timedelta(minutes=5))
    set_agent_channels(scripts, keys, ana, (Channel.EMAIL,), boss, NOW)  # per-channel pools on
    set_webhook_secret(scripts, keys, WebhookSecretName.WEBCHAT, "s3cret", boss, NOW)
    _decide_a_batch(scripts, keys, tickets)


def _decide_a_batch(scripts: Scripts, keys: AccountKeys, tickets: tuple[str, str]) -> None:
    """``decide_batch`` through the burst intake's own caller: the first ticket again (a duplicate), the second."""
    from worker.core.engine import Engine  # the engine builds its own Scripts; this one records

    engine = Engine(scripts.client)
    engine.scripts = scripts
    arrivals = [
        Arrival(TicketCreated(account_id=keys.account_id, ticket_id=ticket_id, channel=Channel.SMS, created_at=NOW))
        for ticket_id in tickets
    ]
    decide_many(engine, arrivals, NOW)
