"""The driver of tests/test_reassign_concurrency.py: one account's agents, apps, customers and replies, acting
while four workers decide tickets, process customer replies and sweep presence and no-first-reply timers.

Each round: agents come (back) Online and their apps send heartbeats; a batch of tickets arrives; then most
open apps of the round close at once (one last heartbeat with the same time: their presence timeouts are due
at the same millisecond, which is also about when the batch's no-first-reply timers are due), and right at
that moment the customers write on the batch's tickets (and on some older ones): each reply sent two or three
times (the producer's same job), delivered again under another job id (an at-least-once redelivery), and now
and then an older reply arriving late. Meanwhile agents answer some tickets (a first reply cancels the timer)
and close a few. What the driver did is kept for the test to hold the replayed stream against.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from rq.job import Job

from producers.queue import (
    PROCESS_CUSTOMER_REPLY,
    SERIALIZER,
    customer_reply_job_id,
    enqueue_customer_reply,
    enqueue_many,
    ticket_queue,
)
from schemas.common import AgentStatus, Channel
from schemas.inbound import AgentFirstReply, CustomerReply, TicketCreated
from tests.support import replies
from tests.support.release_replay import AccountReplay
from worker.core.engine import Engine, utc_now
from worker.core.keys import AccountKeys
from worker.core.queries import Queries

ACCOUNT = "wayne"
AGENTS = tuple(f"w{n:02}" for n in range(9))
CHANNELS_OF: dict[str, tuple[Channel, ...]] = {
    "w00": (Channel.EMAIL,),
    "w01": (Channel.EMAIL,),
    "w02": (Channel.SMS,),
    "w03": (Channel.EMAIL, Channel.SMS),
    "w04": (Channel.EMAIL, Channel.SMS),
    "w05": (Channel.EMAIL, Channel.SMS),
    "w07": (Channel.EMAIL, Channel.WEBCHAT, Channel.SMS),
    "w08": (Channel.SOCIAL,),
}
"""Restricted agents (w06 takes every channel): social has two agents, so it is often nobody's."""
TICKET_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.SOCIAL)
TIMEOUT_SECONDS = 1
"""The presence timeout and reassign-unanswered's ``after``: due together."""
UNANSWERED_MAX = 2


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class Race:
    """What the driver did."""

    tickets: list[TicketCreated] = field(default_factory=list)
    stretch: Counter[str] = field(default_factory=Counter)
    """Agent → how many times the driver set them Online (their current Online stretch)."""
    last_beat: dict[tuple[str, int], datetime] = field(default_factory=dict)
    """(agent, stretch) → the last heartbeat that found them Online (going Online counts as one)."""
    ended_by_hand: set[tuple[str, int]] = field(default_factory=set)
    jobs: dict[str, Job] = field(default_factory=dict)
    """Every customer-reply job by id (the producer's repeats are one job)."""
    replies: dict[str, list[CustomerReply]] = field(default_factory=dict)
    """Ticket → every reply sent for it."""
    first_replied: dict[str, int] = field(default_factory=dict)
    """Ticket → the stream's length once its first reply was recorded: no no_first_reply after that."""
    closed: dict[str, int] = field(default_factory=dict)
    steps: Counter[str] = field(default_factory=Counter)


class RaceDriver:
    def __init__(self, engine: Engine, client: redis.Redis, rng: random.Random) -> None:
        self.engine, self.client, self.rng = engine, client, rng
        self.race = Race()
        self.app_open: dict[str, float] = {}
        """Agents whose app is open → when (monotonic) their next heartbeat is due."""

    def setup(self) -> None:
        engine, now = self.engine, utc_now()
        engine.set_capacity(ACCOUNT, 5, "max", now)
        engine.set_auto_assign(ACCOUNT, True, "max", now)
        for agent, channels in CHANNELS_OF.items():
            engine.set_agent_channels(ACCOUNT, agent, channels, "max", now)
        engine.set_presence_timeout(ACCOUNT, TIMEOUT_SECONDS, "max", now)
        engine.set_reassign_away(ACCOUNT, True, 0, "max", now)
        engine.set_reassign_unanswered(ACCOUNT, TIMEOUT_SECONDS, UNANSWERED_MAX, "max", now)

    def go_online(self, agent: str) -> None:
        now = utc_now()
        if self.engine.set_status(ACCOUNT, agent, AgentStatus.ONLINE, agent, now):
            self.race.stretch[agent] += 1
            self.race.last_beat[(agent, self.race.stretch[agent])] = now
            self.race.steps["online"] += 1
        self.app_open[agent] = time.monotonic() + self.rng.uniform(0.2, 0.5) * TIMEOUT_SECONDS

    def heartbeat(self, agent: str, now: datetime) -> None:
        if self.engine.heartbeat(ACCOUNT, agent, now):
            self.race.last_beat[(agent, self.race.stretch[agent])] = now

    def beat_open_apps(self) -> None:
        for agent, due in sorted(self.app_open.items()):
            if time.monotonic() >= due:
                self.heartbeat(agent, utc_now())
                self.app_open[agent] = time.monotonic() + self.rng.uniform(0.2, 0.5) * TIMEOUT_SECONDS

    def idle(self, seconds: float) -> None:
        """Heartbeats, now and then a first reply or a close, for ``seconds``."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.beat_open_apps()
            roll = self.rng.random()
            if roll < 0.15 and self.race.tickets:
                self.first_reply(self.rng.choice(self.race.tickets[-40:]).ticket_id)
            elif roll < 0.23 and self.race.tickets:  # agents close tickets: room for releases and reassignments
                self.close(self.rng.choice(self.race.tickets[-60:]).ticket_id)
            time.sleep(self.rng.uniform(0.01, 0.04))

    def stream_length(self) -> int:
        return int(self.client.xlen(self.engine.keys(ACCOUNT).events))

    def first_reply(self, ticket_id: str) -> None:
        if ticket_id in self.race.first_replied or ticket_id in self.race.closed:
            return
        record = Queries(self.client).ticket(ACCOUNT, ticket_id) or {}
        agent = record.get("agent_id")
        if not agent:
            return
        reply = AgentFirstReply(account_id=ACCOUNT, ticket_id=ticket_id, agent_id=agent, replied_at=utc_now())
        self.engine.record_first_reply(reply, utc_now())
        self.race.first_replied[ticket_id] = self.stream_length()
        self.race.steps["first_reply"] += 1

    def close(self, ticket_id: str) -> None:
        if ticket_id not in self.race.closed:
            self.engine.close_ticket(ACCOUNT, ticket_id, utc_now())
            self.race.closed[ticket_id] = self.stream_length()
            self.race.steps["close"] += 1

    def round(self, size: int) -> None:
        rng = self.rng
        for agent in AGENTS:
            if agent not in self.app_open and rng.random() < 0.7:
                self.go_online(agent)
        batch = [
            TicketCreated(
                account_id=ACCOUNT,
                ticket_id=f"x{len(self.race.tickets) + n}",
                channel=rng.choice(TICKET_CHANNELS),
                created_at=utc_now(),
            )
            for n in range(size)
        ]
        self.race.tickets += batch
        enqueue_many(batch, self.client)
        self.wait_decided(batch)
        self.idle(rng.uniform(0.05, 0.3))
        due = self.wave()
        self.idle(max(0.0, (due - utc_now()).total_seconds() - 0.05))
        self.customers_write(batch, due)  # racing the sweeps: mostly kept (the assignee was there at ``at``)
        self.idle(rng.uniform(0.8, 1.6))
        self.customers_write(rng.sample(self.race.tickets, min(len(self.race.tickets), size)), utc_now())
        self.idle(rng.uniform(0.5, 1.0))

    def wait_decided(self, batch: list[TicketCreated]) -> None:
        """A customer writes on a ticket the helpdesk knows: wait (beating) until every one has its record."""
        queries, deadline = Queries(self.client), time.monotonic() + 60
        pending = [t.ticket_id for t in batch]
        while pending:
            assert time.monotonic() < deadline, f"tickets not decided within 60 s: {pending[:5]}"
            self.beat_open_apps()
            pending = [t for t in pending if queries.ticket(ACCOUNT, t) is None]
            time.sleep(0.02)

    def wave(self) -> datetime:
        """Most open apps close after one heartbeat with the same time; one agent goes Offline by hand.
        Returns when their timeouts are due."""
        now = utc_now()
        group = [agent for agent in sorted(self.app_open) if self.rng.random() < 0.6]
        for agent in group:
            self.heartbeat(agent, now)
            del self.app_open[agent]
        self.race.steps["closed_apps"] += len(group)
        if self.app_open and self.rng.random() < 0.3:
            agent = self.rng.choice(sorted(self.app_open))
            del self.app_open[agent]
            if self.engine.set_status(ACCOUNT, agent, AgentStatus.OFFLINE, agent, utc_now()):
                self.race.ended_by_hand.add((agent, self.race.stretch[agent]))
                self.race.steps["offline_by_hand"] += 1
        return now + timedelta(seconds=TIMEOUT_SECONDS)

    def customers_write(self, tickets: list[TicketCreated], due: datetime) -> None:
        """Replies at the timeouts' due moment (many with the same ``at``) or just after; each sent several times."""
        for ticket in tickets:
            at = due if self.rng.random() < 0.3 else max(due, utc_now())
            reply = CustomerReply(account_id=ACCOUNT, ticket_id=ticket.ticket_id, at=at)
            self.send(reply, self.rng.randint(2, 3))
            self.redeliver(reply)
            if self.rng.random() < 0.3:  # an older reply arriving late: a repeat, changes nothing
                self.send(
                    CustomerReply(
                        account_id=ACCOUNT,
                        ticket_id=ticket.ticket_id,
                        at=at - timedelta(milliseconds=self.rng.randint(1, 900)),
                    ),
                    1,
                )
            self.beat_open_apps()

    def send(self, reply: CustomerReply, times: int) -> None:
        for _ in range(times):
            job = enqueue_customer_reply(reply, self.client)
            self.race.jobs[job.id] = job
            self.race.steps["reply_sent"] += 1
        self.race.replies.setdefault(reply.ticket_id, []).append(reply)

    def redeliver(self, reply: CustomerReply) -> None:
        """The same message delivered again as a job of its own (what an at-least-once transport does)."""
        job = ticket_queue(self.client).enqueue(
            PROCESS_CUSTOMER_REPLY,
            reply.model_dump(mode="json"),
            job_id=f"{customer_reply_job_id(reply)}-again{self.race.steps['redelivered']}",
            result_ttl=600,
        )
        self.race.jobs[job.id] = job
        self.race.steps["redelivered"] += 1

    def finish(self) -> None:
        """Every app closes; the timers are turned off so that the end state holds still for the comparison."""
        self.app_open.clear()
        self.engine.set_reassign_unanswered(ACCOUNT, None, UNANSWERED_MAX, "max", utc_now())

    def expected_timeouts(self) -> list[tuple[str, int]]:
        """(agent, stretch) of every Online stretch not ended by hand: each ends in exactly one timeout."""
        return sorted(key for key in self.race.last_beat if key not in self.race.ended_by_hand)


def pools_agree(client: redis.Redis, keys: AccountKeys, seen: AccountReplay) -> None:
    """While pools are on, each ``pool:<channel>`` holds the Online agents who take it; ``waiting:<channel>``
    holds the waiting tickets of that channel, always."""
    for channel, pool in seen.pools().items():
        if seen.channels:
            assert {m.decode() for m in replies.zrange(client, keys.pool(channel))} == pool, f"pool:{channel}"
        filed = {m.decode() for m in replies.zrange(client, keys.waiting_channel(channel))}
        assert filed == {t for t in seen.waiting if seen.channel_of[t] == channel}, f"waiting:{channel}"


def reply_results(race: Race, client: redis.Redis) -> list[tuple[CustomerReply, dict[str, str]]]:
    """Every customer-reply job's reply and result (the jobs all finished)."""
    results = []
    for job_id in race.jobs:
        job = Job.fetch(job_id, connection=client, serializer=SERIALIZER)
        result = job.return_value()
        assert isinstance(result, dict), f"job {job.id}: {job.get_status()} {job.exc_info}"
        results.append((CustomerReply.model_validate(job.args[0]), result))
    return results
