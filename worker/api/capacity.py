"""``Helpdesk.set_capacity`` and ``Helpdesk.set_auto_assign`` (a mixin of worker/api/helpdesk.py's ``Helpdesk``):
the settings of capacity and the automatic release of the waiting queue (docs/DESIGN.md, "Capacity and the
waiting queue"). One Lua call each; a call that makes room with auto-assign on rings a release, which the
host's engine enqueues on the account's queue (``Helpdesk.engine`` sets ``on_release``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import redis

from producers.queue import enqueue_release
from schemas.common import check_id
from schemas.plain import shown
from worker.api.refusals import account_checked_on_refusal, refusing
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.errors import InvalidInput


class _Host(Protocol):
    """What the mixin needs from ``Helpdesk``."""

    @property
    def engine(self) -> Engine: ...

    @property
    def queries(self) -> Queries: ...

    def redis_location(self) -> str: ...


class CapacityApi:
    """Capacity and auto-assign (docs/API.md), on a host with ``engine`` and ``queries``."""

    @refusing
    def set_capacity(
        self: _Host,
        account_id: str,
        capacity: int | None,
        actor_id: str,
        agent_id: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Set (``capacity`` ≥ 1) or clear (None) the most open tickets an agent may hold: the account's value,
        or with ``agent_id`` that agent's override (owner, admin, manager). Returns whether it changed.

        Refused with ``Refused`` when clearing the account's value while auto-assign is on; ``Forbidden``
        for an actor below manager or a target below agent; ``InvalidInput`` for a capacity below 1."""
        _ids(account=account_id, actor=actor_id, **({"agent": agent_id} if agent_id is not None else {}))
        if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
            raise InvalidInput(f"capacity must be a whole number of at least 1, e.g. 5 (got {shown(capacity)})")
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_capacity(account_id, capacity, actor_id, now or utc_now(), agent_id=agent_id)

    @refusing
    def set_auto_assign(
        self: _Host, account_id: str, enabled: bool, actor_id: str, now: datetime | None = None
    ) -> bool:
        """Turn the automatic release of the waiting queue on or off (owner, admin, manager). Returns whether it
        changed. Turning it on needs an account capacity (``Refused`` otherwise: without a cap the first agent
        Online would take the whole queue) and releases at once when tickets wait and an agent has room."""
        _ids(account=account_id, actor=actor_id)
        if not isinstance(enabled, bool):  # "off" is truthy: never read a string as on
            raise InvalidInput(f"enabled must be true or false (got {shown(enabled)})")
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_auto_assign(account_id, enabled, actor_id, now or utc_now())


def release_enqueuer(queue_for: Callable[[str], redis.Redis]) -> Callable[[str], None]:
    """The engine's ``on_release`` for the control API: a release a call rang goes on the account's queue
    (its shard when queues are split), where any worker picks it up."""

    def enqueue(account_id: str) -> None:
        enqueue_release(account_id, queue_for(account_id))

    return enqueue


def _ids(**values: str) -> None:
    """Ids become parts of key names: refuse a bad one with a message naming the field."""
    for field, value in values.items():
        check_id(field, value)
