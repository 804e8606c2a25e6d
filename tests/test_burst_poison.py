"""Burst intake, poison (issue 18): a lane entry that is not JSON, one with no ticket, an invalid ticket and a
ticket the decision refuses (an account with no users), in the middle of a lane shared by three accounts, hold
back none of the tickets behind them: a real worker process decides those, in order, and sets the four aside
as failed ticket jobs with their reasons (``helpdesk-rr failed``). Once the account has users, ``failed
ACCOUNT --requeue`` runs the refused ticket as an ordinary ticket job: decided once, however often requeued."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
import redis

from producers.lanes import LaneKeys, lane_of, push, push_many
from schemas.common import Channel
from schemas.inbound import TicketCreated
from tests.support import cli
from tests.support.accounts import setup_account
from tests.support.burst import check_exactly_once, check_order, decisions, pending_count
from worker.core.engine import Engine, utc_now
from worker.runtime.failures import list_failed

pytestmark = pytest.mark.slow

GOOD = ("acme", "hooli")
REFUSED = "tyrell"
"""An account nobody set up (no users), in the same lane as ``GOOD``."""


def run_burst_worker(redis_url: str) -> None:
    command = [sys.executable, "-m", "worker.cli", "--redis-url", redis_url, "worker", "--burst"]
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-2000:]


def tickets(prefix: str, count: int) -> list[TicketCreated]:
    now = utc_now()
    return [
        TicketCreated(
            account_id=GOOD[n % 2], ticket_id=f"{prefix}{n}", channel=Channel.EMAIL, created_at=now - timedelta(hours=1)
        )
        for n in range(count)
    ]


def test_poisoned_entries_block_nothing_and_go_to_failed_with_their_reason(
    real_redis: redis.Redis, redis_url: str
) -> None:
    engine = Engine(real_redis)
    for account in GOOD:
        setup_account(engine, account, online=("ana", "ben"))
    assert {lane_of(account) for account in (*GOOD, REFUSED)} == {lane_of("acme")}, "one lane for all three"
    pending = LaneKeys(lane_of("acme")).pending
    before, after = tickets("b", 40), tickets("a", 40)
    refused = TicketCreated(account_id=REFUSED, ticket_id="r1", channel=Channel.SMS, created_at=utc_now())
    push_many(before[:20], real_redis)
    real_redis.rpush(pending, "{not json")  # entries that bypassed producers (the drain validates again)
    push_many(before[20:], real_redis)
    real_redis.rpush(pending, json.dumps([1, 2]))
    invalid = {"account_id": "acme", "ticket_id": "bad id!", "channel": "pigeon", "created_at": "yesterday"}
    real_redis.rpush(pending, json.dumps({"ticket": invalid, "enqueued_ms": 1}))
    push(refused, real_redis)
    push_many(after, real_redis)

    run_burst_worker(redis_url)

    assert pending_count(real_redis) == 0
    good = before + after
    check_exactly_once(real_redis, GOOD, good)
    for account in GOOD:
        check_order([ticket_id for ticket_id, _ in decisions(real_redis, account)], [[t.ticket_id for t in good]])
    assert decisions(real_redis, REFUSED) == []

    everything = {row.reason.split(" (got")[0]: row for row in list_failed(real_redis)}
    assert set(everything) == {
        "InvalidJob: lane entry is not JSON",
        "InvalidJob: lane entry has no ticket object",
        *(reason for reason in everything if reason.startswith("InvalidJob: invalid ticket.created event")),
        *(reason for reason in everything if reason.startswith("UnknownAccount")),
    }
    assert len(everything) == 4, sorted(everything)
    [invalid_row] = list_failed(real_redis, "acme")
    assert invalid_row.ticket_id == "bad id!" and invalid_row.reason.startswith("InvalidJob: invalid ticket.created")
    [refused_row] = list_failed(real_redis, REFUSED)
    assert refused_row.ticket_id == "r1" and refused_row.reason.startswith("UnknownAccount: ")
    assert refused_row.requeueable
    shown = cli.ok(redis_url, "failed", REFUSED)
    assert "tyrell/r1" in shown and "UnknownAccount" in shown

    setup_account(engine, REFUSED, online=("ana",))  # fixed: the account has users now
    assert "requeued 1 job(s)" in cli.ok(redis_url, "failed", REFUSED, "--requeue")
    run_burst_worker(redis_url)
    assert [ticket_id for ticket_id, _ in decisions(real_redis, REFUSED)] == ["r1"]
    assert list_failed(real_redis, REFUSED) == []

    push(refused, real_redis)  # delivered again through the lane: a duplicate, nothing new
    run_burst_worker(redis_url)
    assert [ticket_id for ticket_id, _ in decisions(real_redis, REFUSED)] == ["r1"]
    assert len(list_failed(real_redis)) == 3, "only the three malformed entries stay"
