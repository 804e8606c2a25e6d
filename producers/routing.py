"""Queue sharding: an account always goes to the same RQ queue shard (a standalone Redis).

RQ does not support Redis Cluster, so when one Redis is not enough the queues are spread over
several standalone instances (``REDIS_QUEUE_URLS``), while decision state and events live on a
Redis Cluster. Routing by account keeps one account's tickets in one queue (in order). Changing the
number of shards needs no data migration: jobs already queued on a shard are still drained by that
shard's workers, and a ticket routed twice is decided once (docs/OPERATIONS.md).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

import redis
from rq.job import Job

from producers.lanes import Pushed, push_many
from producers.queue import enqueue, enqueue_many
from schemas.inbound import TicketCreated


def shard_of(account_id: str, shards: int) -> int:
    """Stable account → queue shard (crc32, like the state partitions)."""
    return zlib.crc32(account_id.encode()) % shards


class QueueRouter:
    """Enqueue on the account's queue shard. With one URL it is plain ``enqueue``."""

    def __init__(self, connections: Sequence[redis.Redis]) -> None:
        if not connections:
            raise ValueError("QueueRouter needs at least one queue connection")
        self.connections = list(connections)

    def for_account(self, account_id: str) -> redis.Redis:
        return self.connections[shard_of(account_id, len(self.connections))]

    def enqueue(self, event: TicketCreated) -> Job:
        return enqueue(event, self.for_account(event.account_id))

    def enqueue_many(self, events: Iterable[TicketCreated]) -> list[Job]:
        """One pipeline per shard touched."""
        by_shard: dict[int, list[TicketCreated]] = defaultdict(list)
        for event in events:
            by_shard[shard_of(event.account_id, len(self.connections))].append(event)
        jobs: list[Job] = []
        for shard, batch in sorted(by_shard.items()):
            jobs.extend(enqueue_many(batch, self.connections[shard]))
        return jobs

    def push(self, event: TicketCreated) -> Pushed:
        """The burst intake (producers/lanes.py) on the account's shard: its lanes live there."""
        return self.push_many([event])[0]

    def push_many(self, events: Iterable[TicketCreated]) -> list[Pushed]:
        """One MULTI/EXEC per shard touched; the result keeps the order of ``events``."""
        batch = list(events)
        by_shard: dict[int, list[int]] = defaultdict(list)
        for index, event in enumerate(batch):
            by_shard[shard_of(event.account_id, len(self.connections))].append(index)
        pushed: dict[int, Pushed] = {}
        for shard, indexes in sorted(by_shard.items()):
            pushed.update(zip(indexes, push_many([batch[i] for i in indexes], self.connections[shard]), strict=True))
        return [pushed[index] for index in range(len(batch))]

