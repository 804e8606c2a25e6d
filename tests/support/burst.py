"""Producers and checks for the burst-intake end-to-end tests (tests/test_burst_*.py).

Producers push through ``producers.lanes.push``/``push_many`` from threads, each its own connection, each
recording the order it pushed its tickets in. The checks read the decisions back from the accounts' event
streams (``ticket.assigned``/``ticket.unassigned``, in stream order), the only place the order is visible.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis

from producers.connection import connect
from producers.lanes import LANES, LaneKeys, push, push_many
from schemas.common import Channel
from schemas.events import TicketAssigned, TicketUnassigned
from schemas.inbound import TicketCreated
from worker.core.engine import utc_now
from worker.core.queries import Queries


@dataclass
class Producer:
    """One producer: its tickets, pushed in order, half one ``push`` each (a webhook handler), half in
    ``push_many`` chunks of random size; ``pushed_at`` records when each call returned."""

    name: str
    tickets: list[TicketCreated]
    seed: int
    pushed: list[str] = field(default_factory=list)
    pushed_at: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = None

    def run(self, redis_url: str, pause_seconds: float = 0.0) -> None:
        rng = random.Random(self.seed)
        client = connect(redis_url)
        try:
            position = 0
            while position < len(self.tickets):
                size = 1 if rng.random() < 0.5 else rng.randint(2, 40)
                chunk = self.tickets[position : position + size]
                if len(chunk) == 1:
                    push(chunk[0], client)
                else:
                    push_many(chunk, client)
                now = time.time()
                for ticket in chunk:
                    self.pushed.append(ticket.ticket_id)
                    self.pushed_at[ticket.ticket_id] = now
                position += len(chunk)
                if pause_seconds:
                    time.sleep(rng.uniform(0, pause_seconds))
        except BaseException as error:  # reported by the test that joins the thread
            self.error = error
        finally:
            client.close()


def make_producers(
    accounts: tuple[str, ...], producers: int, per_producer: int, seed: int, now: datetime | None = None
) -> list[Producer]:
    """``producers`` producers, each with ``per_producer`` tickets of the accounts, interleaved at random
    (ticket ids ``p<producer>-<n>``: unique, and naming who pushed them)."""
    rng = random.Random(seed)
    now = now or utc_now()
    channels = list(Channel)
    made = []
    for index in range(producers):
        tickets = [
            TicketCreated(
                account_id=rng.choice(accounts),
                ticket_id=f"p{index}-{n}",
                channel=channels[n % len(channels)],
                created_at=now - timedelta(seconds=rng.randint(0, 3600)),
            )
            for n in range(per_producer)
        ]
        made.append(Producer(f"p{index}", tickets, seed * 100 + index))
    return made


def run_producers(producers: list[Producer], redis_url: str, pause_seconds: float = 0.0) -> list[threading.Thread]:
    """Start every producer in its own thread (the caller joins them with :func:`join_producers`)."""
    threads = [
        threading.Thread(target=producer.run, args=(redis_url, pause_seconds), daemon=True) for producer in producers
    ]
    for thread in threads:
        thread.start()
    return threads


def join_producers(threads: list[threading.Thread], producers: list[Producer], timeout: float = 60.0) -> None:
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a producer did not finish"
    for producer in producers:
        assert producer.error is None, f"producer {producer.name} failed: {producer.error!r}"


def decisions(client: redis.Redis, account_id: str) -> list[tuple[str, float]]:
    """The account's decisions in stream order: (ticket id, when it was decided, epoch seconds)."""
    return [
        (event.ticket_id, event.occurred_at.timestamp())
        for _, event in Queries(client).events(account_id, count=None)
        if isinstance(event, TicketAssigned | TicketUnassigned)
    ]


def decided_count(client: redis.Redis, accounts: tuple[str, ...]) -> int:
    return sum(len(decisions(client, account)) for account in accounts)


def pending_count(client: redis.Redis) -> int:
    pipe = client.pipeline(transaction=False)
    for lane in range(LANES):
        pipe.llen(LaneKeys(lane).pending)
    return sum(pipe.execute())


def check_exactly_once(client: redis.Redis, accounts: tuple[str, ...], tickets: list[TicketCreated]) -> None:
    """Every ticket decided once, in its own account's stream, and nothing else decided."""
    for account in accounts:
        counts = Counter(ticket_id for ticket_id, _ in decisions(client, account))
        expected = {t.ticket_id for t in tickets if t.account_id == account}
        assert set(counts) - expected == set(), f"{account}: decisions of tickets it never had"
        missing = expected - set(counts)
        assert not missing, f"{account}: {len(missing)} tickets never decided, e.g. {sorted(missing)[:5]}"
        twice = [ticket_id for ticket_id, count in counts.items() if count > 1]
        assert not twice, f"{account}: decided twice: {twice[:5]}"


def check_order(decided: list[str], pushed: list[list[str]]) -> int:
    """``decided`` (one account's decisions, in stream order) keeps each producer's push order: for every
    producer, its tickets among ``decided`` come in the order it pushed them (producers interleave, so
    only each producer's own order is known). Returns the number of consecutive pairs checked.

    Two drains deciding one lane at once would break it: the later batch's tickets, decided by the faster
    drain, would land in the stream before the earlier batch's."""
    position = {ticket_id: index for index, ticket_id in enumerate(decided)}
    pairs = 0
    for order in pushed:
        mine = [ticket_id for ticket_id in order if ticket_id in position]
        for before, after in zip(mine, mine[1:], strict=False):
            assert position[before] < position[after], (
                f"{after} was decided before {before}, though pushed after it by the same producer"
            )
            pairs += 1
    return pairs


def check_all_orders(client: redis.Redis, accounts: tuple[str, ...], producers: list[Producer]) -> int:
    pairs = 0
    for account in accounts:
        decided = [ticket_id for ticket_id, _ in decisions(client, account)]
        pairs += check_order(decided, [producer.pushed for producer in producers])
    return pairs
