"""The release of an account's waiting queue (docs/DESIGN.md, "Capacity and the waiting queue").

With auto-assign on, waiting tickets are assigned oldest first to the least recently assigned Online
agent below capacity whenever room appears. The scripts that make room (an agent Online, a close, a
capacity raised, auto-assign or round robin on, a ticket behind the queue) *ring*: they take the
account's release lease and tell their caller to enqueue ``worker.jobs.process_release``, which calls
:func:`run_release`. Every step is one Lua call:

1. ``promote_later``: after-hours tickets whose opening came join the queue at their arrival time;
2. ``release_waiting``: one batch from the head of the queue, sized by its measured duration like the
   bulk job's (a few ms each), renewing the lease, until one says done;
3. ``release_toasts``: one toast per agent for what the release gave them;
4. ``end_release``: gives the lease back unless something new came meanwhile (then the release goes
   round again): so a trigger is never lost between a release's last look and its end.

Releases of one account may overlap (a retry, a sweep after a crash): a batch only takes tickets that
are still at the head of the queue, so none is assigned twice. A release whose worker died leaves its
lease to lapse (``RELEASE_LEASE_MS``); the account is still in the partition's ``release_due`` set, and
the workers' sweep (:func:`sweep_due`, every second) starts a new one. The sweep also starts releases
at after-hours openings (``release_due`` holds the next one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis
import structlog

from schemas.common import Channel, utc_iso
from schemas.events import new_event_id
from worker.core.bulk import MAX_BATCH_SIZE, MIN_BATCH_SIZE, next_batch_size
from worker.core.capacity import claim
from worker.core.keys import AccountKeys, day_of, hour_of, partition_release_due
from worker.core.scripts import Scripts
from worker.core.shared_constants import POOL_FULL, RELEASE_LEASE_MS
from worker.core.text import text

log = structlog.get_logger("helpdesk_rr.release")

FIRST_BATCH = 25
"""Tickets in a release's first batch; later ones are sized to about 2 ms of Redis time each."""
PROMOTE_SLICE = 200
"""After-hours tickets one ``promote_later`` call moves."""
TOAST_SLICE = 50
"""Agents one ``release_toasts`` call toasts."""
SWEEP_LIMIT = 100
"""Due accounts one sweep claims per partition (the rest wait for the next sweep, a second later)."""
MAX_STALE_RETRIES = 50
MAX_ROUNDS = 100
"""Rounds (batches, toasts, end) one release job makes before it leaves the rest to the sweep: bounds a job
whose account keeps getting room while it runs. Its lease lapses and the sweep starts the next one."""


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    account_id: str
    run_id: str
    assigned: int
    batches: int
    toasts: int
    longest_us: int
    """The longest batch, by Redis's clock (0 where scripts see a frozen clock)."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def promote_due(scripts: Scripts, keys: AccountKeys, now: datetime) -> int:
    """Move every after-hours ticket due at ``now`` into the waiting queue (``PROMOTE_SLICE`` per call)."""
    client, promoted = scripts.client, 0
    while True:
        due = [text(t) for t in client.zrangebyscore(keys.later, "-inf", _ms(now), start=0, num=PROMOTE_SLICE)]
        if not due:
            return promoted
        call_keys = [keys.later, keys.waiting, *keys.channel_block, *keys.tickets(due)]
        reply = scripts.call("promote_later", call_keys, [_ms(now), *due])
        promoted += int(reply[0])
        if len(due) < PROMOTE_SLICE:
            return promoted


def _batch_keys(keys: AccountKeys, now: datetime) -> list[str]:
    return [
        keys.settings, keys.online, keys.ready, keys.places, keys.seq, keys.capacity, keys.load, keys.waiting,
        keys.unassigned, keys.counts, keys.events, keys.partition_events, keys.stats(day_of(now)), keys.uq_depth,
        keys.metrics, keys.release_toasts, keys.release_due, keys.release_lease, keys.later, keys.unanswered_due,
        *keys.channel_block,
    ]  # fmt: skip


def waiting_head(client: redis.Redis, keys: AccountKeys, size: int) -> list[str]:
    """The tickets the next batch offers ``release_waiting``: the head of ``waiting``; with per-channel pools on,
    the oldest ``size`` of the heads of the ``waiting:<channel>`` zsets whose pool has an agent with room (so a
    channel nobody can take holds back no other). Reads only; the script checks the head is still the head."""
    if not client.exists(keys.agent_channels):
        return [text(t) for t in client.zrange(keys.waiting, 0, size - 1)]
    merged: list[tuple[float, str]] = []
    for channel in Channel:
        if client.zrangebyscore(keys.pool(channel), "-inf", f"({POOL_FULL}", start=0, num=1):
            head = client.zrange(keys.waiting_channel(channel), 0, size - 1, withscores=True)
            merged += [(float(score), text(ticket)) for ticket, score in cast("list[tuple[bytes, float]]", head)]
    return [ticket for _, ticket in sorted(merged)[:size]]


def _batches(
    scripts: Scripts, keys: AccountKeys, clock: Callable[[], datetime], run_id: str
) -> Iterator[tuple[int, int]]:
    """Run batches until one reports done; yields (assigned, redis_us) per batch that wrote."""
    size, position, stale, promote = FIRST_BATCH, 0, 0, True
    retention = scripts.retention
    while True:
        now = clock()
        if promote:  # at the start, and when a batch saw an after-hours ticket come due
            promote_due(scripts, keys, now)
        head = waiting_head(scripts.client, keys, size)
        args: list[Any] = [keys.account_id, utc_iso(now), _ms(now), *scripts.stream_args()]
        args += [retention.assigned_record_ttl_seconds, hour_of(now), scripts.stats_ttl(day_of(now), now)]
        args += [RELEASE_LEASE_MS, run_id, position, *head]
        reply = scripts.call("release_waiting", [*_batch_keys(keys, now), *keys.tickets(head)], args)
        assigned, done, was_stale, redis_us, due_later = (int(value) for value in reply)
        promote = due_later == 1
        if was_stale:
            stale += 1
            if stale > MAX_STALE_RETRIES:  # pragma: no cover - the head moving 50 times in a row
                raise RuntimeError(f"account {keys.account_id}: the waiting queue keeps changing under the release")
            continue
        stale = 0
        position += len(head)
        yield assigned, redis_us
        if done and not promote:
            return
        size = max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, next_batch_size(len(head) or size, redis_us, size)))


def send_toasts(scripts: Scripts, keys: AccountKeys, now: datetime, run_id: str) -> int:
    """One toast per agent for the tickets released to them and not named by a toast yet."""
    agents = sorted(text(a) for a in scripts.client.hkeys(keys.release_toasts))
    sent = 0
    head: list[Any] = [keys.account_id, utc_iso(now), *scripts.stream_args(), run_id]
    for start in range(0, len(agents), TOAST_SLICE):
        reply = scripts.call(
            "release_toasts",
            [keys.release_toasts, keys.events, keys.partition_events],
            [*head, *agents[start : start + TOAST_SLICE]],
        )
        sent += int(reply[0])
    return sent


def end_release(scripts: Scripts, keys: AccountKeys, now: datetime) -> bool:
    """Whether the release must go on (more room, tickets or toasts appeared); else it gave its lease back."""
    call_keys = [keys.settings, keys.capacity, keys.waiting, keys.later, keys.ready, keys.release_due]
    call_keys += [keys.release_lease, keys.release_toasts, *keys.channel_block]
    reply = scripts.call("end_release", call_keys, [keys.account_id, _ms(now), RELEASE_LEASE_MS])
    return int(reply[0]) == 1


def run_release(
    scripts: Scripts, keys: AccountKeys, clock: Callable[[], datetime], run_id: str | None = None
) -> ReleaseResult:
    """Release the account's waiting queue until nothing more can be assigned, send its toasts, and stop
    only when ``end_release`` agrees nothing new came meanwhile. ``clock`` gives the time of each call (a
    long release spans seconds)."""
    run_id = run_id or new_event_id()
    assigned = batches = longest = toasts = 0
    for _ in range(MAX_ROUNDS):
        for count, redis_us in _batches(scripts, keys, clock, run_id):
            assigned += count
            batches += 1
            longest = max(longest, redis_us)
        toasts += send_toasts(scripts, keys, clock(), run_id)
        if not end_release(scripts, keys, clock()):
            break
    else:  # pragma: no cover - room appearing 100 times in a row during one release
        log.warning("release.rounds_exhausted", account_id=keys.account_id, run_id=run_id)
    result = ReleaseResult(keys.account_id, run_id, assigned, batches, toasts, longest)
    log.info(
        "release.done",
        account_id=keys.account_id,
        run_id=run_id,
        assigned=assigned,
        batches=batches,
        toasts=toasts,
        longest_us=longest,
    )
    return result


def sweep_due(
    scripts: Scripts,
    keys_of: Callable[[str], AccountKeys],
    partitions: int,
    now: datetime,
    ring: Callable[[str], None],
) -> list[str]:
    """Start the releases that are due: after-hours openings, and releases whose worker died (their lease
    lapsed). Returns the accounts rung. Cheap when nothing is due: one ZRANGEBYSCORE per partition."""
    rung = []
    for partition in range(partitions):
        due = scripts.client.zrangebyscore(partition_release_due(partition), "-inf", _ms(now), start=0, num=SWEEP_LIMIT)
        for account_id in (text(a) for a in due):
            if claim(scripts, keys_of(account_id), now):
                log.info("release.swept", account_id=account_id)
                ring(account_id)
                rung.append(account_id)
    return rung
