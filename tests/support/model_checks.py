"""Issue 16's invariants (parts 2-4) after every step of tests/test_model_based.py, on the engine's keys.

* The settings and ``users`` show the model's reassignment settings and each agent's channels.
* ``offline_since`` holds exactly the model's agents → ms they went Offline (Online agents are absent).
* ``pool:<channel>`` holds exactly the Online agents who take the channel, scored by their place (× ``POOL_FULL``
  at capacity), while any agent is restricted; no pool exists otherwise.
* ``waiting:<channel>`` holds exactly the tickets of the waiting queue of that channel, scored by their
  ``created_at`` ms (always, pools on or off), and ``waiting`` their union.
* ``unanswered_due`` holds exactly the model's timers (both accounts: they share the partition), scores
  included. The engine files entries eagerly but drops them lazily, so "exactly the qualifying tickets at their
  due" does not hold and is not asserted: an entry stays after a bulk assignment (no longer automatic), after
  the setting is turned off or its delay changed (the entry keeps the old time; the sweep re-files it at the
  true due, ``later``, or drops it), and a release files a ticket already reassigned as often as the max allows
  (the sweep drops it). What holds, and is checked: every entry is one the model filed at the time the model
  computed (automatic assignment + after, or a sweep's re-filing), every cancellation (first reply, close,
  a reassignment's own re-filing) removed it at once, and a ticket with no entry is never reassigned for no
  first reply.
"""

from __future__ import annotations

from typing import Any

import redis

from schemas.common import Channel
from tests.support.model import Model
from tests.support.model_presence import epoch_ms
from worker.core.keys import AccountKeys
from worker.core.text import text


def _zset(client: redis.Redis, key: str) -> dict[str, int]:
    entries: list[tuple[bytes, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
    return {text(member): int(score) for member, score in entries}


def check_issue16(client: redis.Redis, model: Model, account_id: str, settings: Any, users: list[Any]) -> None:
    account = model.account(account_id)
    state = account.reassign
    shown = (
        settings.reassign_away,
        settings.reassign_away_grace_seconds,
        settings.reassign_unanswered_after_seconds,
        settings.reassign_unanswered_max,
    )
    assert shown == (state.away, state.grace, state.after, state.after and state.max_times), "reassign settings"
    channels = {u.user_id: u.channels for u in users if u.channels is not None}
    restricted = {user: [Channel(c) for c in chosen] for user, chosen in account.channels.items()}
    assert settings.agent_channels == dict(sorted(restricted.items())), "settings: agent channels"
    # A viewer keeps a restriction set while they were an agent (and it keeps the pools on); users hides it.
    expected = {user: chosen for user, chosen in restricted.items() if account.roles[user].can_be_online}
    assert channels == expected, "users: agent channels"
    keys = AccountKeys.for_account(account_id)
    since = {text(user): int(ms) for user, ms in client.hgetall(keys.offline_since).items()}
    assert since == state.offline_since, "offline_since"
    pools = model.pools(account_id)
    for channel in Channel:
        assert _zset(client, keys.pool(channel.value)) == pools[channel.value], f"pool:{channel.value}"
    queue = account.queue()
    for channel in Channel:
        waiting = {row.ticket_id: epoch_ms(row.created_at) for row in queue if row.channel == channel.value}
        assert _zset(client, keys.waiting_channel(channel.value)) == waiting, f"waiting:{channel.value}"
    assert _zset(client, keys.waiting) == {row.ticket_id: epoch_ms(row.created_at) for row in queue}, "waiting"
    assert _zset(client, keys.unanswered_due) == model.unanswered_due(), "unanswered_due"
