"""Decide many tickets of one partition in one Lua call (``decide_batch``), in order: the burst intake's step.

Each ticket runs exactly the decision ``Engine.decide`` runs (the same Lua body, the same KEYS and ARGV per
ticket, the same webchat gate from this process's office-hours cache), so a ticket decides the same way
whichever path brought it; what changes is that a batch pays one round trip and one script call. A refused
ticket (an account nobody set up, the waiting ceiling) does not stop the batch: it comes back as a
``Refusal`` for the caller to set aside with its reason (worker/runtime/dead_letter.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from redis.exceptions import ResponseError

from schemas.common import Channel, utc_iso
from schemas.events import new_event_id
from schemas.inbound import TicketCreated
from worker.core.checks import check_ids, member_of
from worker.core.decision import Decision, decision_of
from worker.core.scripts import TicketArgs, decide_reply
from worker.core.text import text
from worker.errors import StaleOfficeHours, from_response_error

if TYPE_CHECKING:
    from worker.core.engine import Engine

log = structlog.get_logger("helpdesk_rr.engine")

STALE_RELOADS = 5
"""Office-hours reloads one batch may need before it gives up (the job is retried): as for one ticket."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One ticket of a batch, and when its producer pushed it (ms; feeds the enqueue-to-decision metric)."""

    ticket: TicketCreated
    enqueued_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A ticket the decision refused, with the one-line reason (``UnknownAccount: ...``; nothing but its counter
    was written)."""

    account_id: str
    ticket_id: str
    reason: str


def decide_many(
    engine: Engine, arrivals: Sequence[Arrival], now: datetime, call_ms: list[float] | None = None
) -> list[Decision | Refusal]:
    """Decide ``arrivals`` (all of one partition) in order; one outcome per arrival, in the same order.
    ``call_ms`` gets how long each ``decide_batch`` call took, round trip (the drain sizes batches by it).

    Raises:
        ValueError: the arrivals span several partitions (one call must touch one Cluster slot).
        StaleOfficeHours: the office hours changed ``STALE_RELOADS`` times under one batch (retry later).
    """
    partitions = {engine.keys(arrival.ticket.account_id).partition for arrival in arrivals}
    if len(partitions) > 1:
        raise ValueError(f"decide_many takes one partition's tickets, got partitions {sorted(partitions)}")
    outcomes: list[Decision | Refusal] = []
    rest = list(arrivals)
    reloads = 0
    while rest:
        replies = _decide_batch(engine, rest, now, call_ms)
        for arrival, reply in zip(rest, replies, strict=False):
            outcome = _outcome(engine, arrival, reply)
            if outcome is None:  # stale office hours: reload, go on from this ticket
                reloads += 1
                if reloads > STALE_RELOADS:
                    raise StaleOfficeHours("changing faster than this worker can decide")
                engine.forget_office_hours(arrival.ticket.account_id)
                break
            outcomes.append(outcome)
        rest = list(arrivals[len(outcomes) :])
    return outcomes


def _outcome(engine: Engine, arrival: Arrival, reply: list[Any]) -> Decision | Refusal | None:
    ticket = arrival.ticket
    kind = text(reply[0])
    if kind == "stale":
        return None
    if kind == "refused":
        error = from_response_error(ResponseError(text(reply[1])))
        log.warning("ticket.refused", account_id=ticket.account_id, ticket_id=ticket.ticket_id, error=str(error))
        return Refusal(ticket.account_id, ticket.ticket_id, f"{type(error).__name__}: {error}")
    decided = decide_reply(reply)
    engine.rang(ticket.account_id, decided.ring)
    return decision_of(ticket.account_id, ticket.ticket_id, decided)


def _decide_batch(engine: Engine, arrivals: Sequence[Arrival], now: datetime, call_ms: list[float] | None) -> list[Any]:
    """One ``decide_batch`` call: the distinct keys once in KEYS, each ticket's as indexes into them. Only the
    call is timed into ``call_ms`` (the batch's size is about Redis's time, not ours building the arguments)."""
    now_iso = utc_iso(now)
    indexes: dict[str, int] = {}
    args: list[Any] = [len(arrivals)]
    for arrival in arrivals:
        ticket_keys, ticket_args = _ticket_call(engine, arrival, now, now_iso)
        places = [indexes.setdefault(key, len(indexes) + 1) for key in ticket_keys]
        args += [",".join(map(str, places)), *ticket_args]
    sent = time.perf_counter()
    replies = engine.scripts.call("decide_batch", list(indexes), args)
    if call_ms is not None:
        call_ms.append((time.perf_counter() - sent) * 1000)
    return replies


def _ticket_call(engine: Engine, arrival: Arrival, now: datetime, now_iso: str) -> tuple[list[str], list[Any]]:
    ticket = arrival.ticket
    keys = engine.keys(ticket.account_id)
    check_ids(ticket_id=ticket.ticket_id)
    channel = member_of(Channel, ticket.channel, "channel")
    stored, is_open, available_at, next_open = engine.webchat_gate(keys.account_id, channel.value, ticket.created_at)
    return engine.scripts.decide_ticket_call(
        keys,
        TicketArgs(
            ticket.ticket_id, channel.value, utc_iso(ticket.created_at), int(ticket.created_at.timestamp() * 1000)
        ),
        now_iso=now_iso,
        office_hours_version=stored.version,
        open_at_arrival=is_open,
        available_at_iso=available_at,
        event_ids=(new_event_id(), new_event_id()),
        available_at_ms=int(next_open.timestamp() * 1000) if next_open else None,
        now=now,
        enqueued_ms=arrival.enqueued_ms,
        office_hours_unloadable=stored.unloadable,
    )
