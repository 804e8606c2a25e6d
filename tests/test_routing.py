"""Queue sharding: an account always lands on the same queue shard."""

from __future__ import annotations

import fakeredis
from rq import Queue

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
