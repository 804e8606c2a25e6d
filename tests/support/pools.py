"""Helpers of the per-channel pool tests: deciding a run of tickets, and the pools recomputed from scratch."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import redis

from schemas.common import Channel
from tests.support.accounts import NOW, TicketFactory
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.core.shared_constants import POOL_FULL
from worker.core.text import text


def decide_all(engine: Engine, make_ticket: TicketFactory, channels: list[Channel], start: int = 1) -> list[str]:
    """Decide one ticket per channel, a second apart (ids ``t<start>``…); returns the agent or reason of each."""
    outcomes = []
    for n, channel in enumerate(channels, start=start):
        ticket = make_ticket(ticket_id=f"t{n}", channel=channel, created_at=NOW - timedelta(hours=1, seconds=-n))
        decision = engine.decide(ticket, NOW)
        outcomes.append(decision.agent_id or str(decision.reason))
    return outcomes


def expected_pools(client: redis.Redis, keys: AccountKeys) -> dict[str, dict[str, float]]:
    """What each pool must hold, from online, ready, capacity and agent_channels (empty while no restriction)."""
    restricted = {text(k): text(v).split(",") for k, v in client.hgetall(keys.agent_channels).items()}
    if not restricted:
        return {channel.value: {} for channel in Channel}
    capped = bool(client.exists(keys.capacity))
    ready = {text(agent) for agent in client.zrange(keys.ready, 0, -1)}
    online = dict(_scored(client, keys.online))
    pools: dict[str, dict[str, float]] = {}
    for channel in Channel:
        pools[channel.value] = {
            agent: place * POOL_FULL if capped and agent not in ready else place
            for agent, place in online.items()
            if channel.value in restricted.get(agent, [c.value for c in Channel])
        }
    return pools


def assert_pools_exact(client: redis.Redis, keys: AccountKeys) -> None:
    """Every pool holds exactly what it must, at the right score; each waiting:<channel> is its channel's share
    of waiting."""
    for channel, members in expected_pools(client, keys).items():
        stored = dict(_scored(client, keys.pool(channel)))
        assert stored == members, f"pool:{channel}"
    waiting = {text(ticket) for ticket in client.zrange(keys.waiting, 0, -1)}
    for channel in Channel:
        filed = {text(ticket) for ticket in client.zrange(keys.waiting_channel(channel), 0, -1)}
        mine = {ticket for ticket in waiting if text(client.hget(keys.ticket(ticket), "channel")) == channel.value}
        assert filed == mine, f"waiting:{channel}"


def _scored(client: redis.Redis, key: str) -> list[tuple[str, float]]:
    pairs = cast("list[tuple[bytes, float]]", client.zrange(key, 0, -1, withscores=True))
    return [(text(member), float(score)) for member, score in pairs]
