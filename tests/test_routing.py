"""Queue sharding: an account always lands on the same queue shard."""

from __future__ import annotations

import json

import fakeredis
from rq import Queue

from producers.lanes import LaneKeys, lane_of
from producers.queue import QUEUE_NAME
from producers.routing import QueueRouter, shard_of
from tests.support.accounts import TicketFactory


def test_router_sends_each_account_to_its_own_shard(make_ticket: TicketFactory) -> None:
    shards = [fakeredis.FakeRedis(server=fakeredis.FakeServer()) for _ in range(3)]
    router = QueueRouter(shards)
    accounts = [f"acct{n}" for n in range(12)]
    events = [make_ticket(account_id=account) for account in accounts for _ in range(2)]
    router.enqueue_many(events[:-1])
    router.enqueue(events[-1])
    for index, shard in enumerate(shards):
        expected = 2 * sum(shard_of(account, 3) == index for account in accounts)
        assert Queue(QUEUE_NAME, connection=shard).count == expected
    assert router.for_account("acct1") is shards[shard_of("acct1", 3)]


def test_router_pushes_each_account_onto_its_shards_lanes_in_order(make_ticket: TicketFactory) -> None:
    shards = [fakeredis.FakeRedis(server=fakeredis.FakeServer()) for _ in range(3)]
    router = QueueRouter(shards)
    accounts = [f"acct{n}" for n in range(12)]
    tickets = [make_ticket(account_id=accounts[n % len(accounts)]) for n in range(36)]
    pushed = router.push_many(tickets)
    assert [(p.account_id, p.ticket_id) for p in pushed] == [(t.account_id, t.ticket_id) for t in tickets]
    for account in accounts:
        shard = shards[shard_of(account, len(shards))]
        entries = [json.loads(raw)["ticket"] for raw in shard.lrange(LaneKeys(lane_of(account)).pending, 0, -1)]
        mine = [entry["ticket_id"] for entry in entries if entry["account_id"] == account]
        assert mine == [t.ticket_id for t in tickets if t.account_id == account]
        for other in (s for s in shards if s is not shard):
            held = [
                json.loads(raw)["ticket"]["account_id"]
                for raw in other.lrange(LaneKeys(lane_of(account)).pending, 0, -1)
            ]
            assert account not in held
    assert router.push(make_ticket(account_id="acct0")).lane == lane_of("acct0")
