"""Bulk team assignment: the API that starts a job, and the job's body.

The job spreads tickets over the team's Online members in the account's rotation order, in
batches (one Lua call each) sized so each call runs about ``BATCH_TARGET_US`` in Redis: Redis is
never blocked for more than a few milliseconds whatever the job's size, the team's size or the
machine's speed. ``IN_FLIGHT`` calls are kept in flight so the worker packs the next batch while
Redis runs the current one (worker/core/script_pipeline.py). The team's rotation order is kept in
a queue of the job's own (read once, refreshed a slice of ``REFRESH_SLICE`` members per call), so no
call does work in proportion to the team's size (docs/DESIGN.md, "Teams and bulk team
assignment"). It is safe to retry: the ticket list is
resolved once and kept in Redis, each ticket records the job that assigned it (so a batch re-run
after a crash skips it), and the per-agent toasts are sent once at the end.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import redis
import structlog
from redis.exceptions import AskError, MovedError, TryAgainError
from rq import Retry
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job

from producers.queue import QUEUE_NAME, SERIALIZER, ticket_queue
from schemas.inbound import MAX_BULK_TICKETS, BulkAssignRequest
from schemas.views import BulkJobView, BulkResult
from worker.core.capacity import agents_above_capacity, claim
from worker.core.engine import Engine, utc_now
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.core.scripts import BulkBatchReply
from worker.core.text import text
from worker.errors import Forbidden, HelpdeskError, InvalidInput, UnknownJob, UnknownUser

log = structlog.get_logger("helpdesk_rr.bulk")

BATCH_SIZE = 25
"""Tickets in the first Lua call (small: nothing is measured yet, and a ticket costs ~30 µs with a team
of 10 but ~90 µs with a team of 500); later calls are sized from the previous ones' duration."""
MIN_BATCH_SIZE = 10
MAX_BATCH_SIZE = 1_000
BATCH_TARGET_US: int | None = 2_000
"""Aim for calls of ~2 ms of Redis time (the ceiling is 5 ms, docs/PERFORMANCE.md, "Bulk team
assignment"; the margin absorbs noise). ``None``: every batch is ``BATCH_SIZE`` (tests use this)."""
IN_FLIGHT = 2
"""Calls sent ahead of their replies: 2 lets packing and running overlap; more only queues in Redis."""
PROGRESS_EVERY_SECONDS = 0.1
"""How often the job's progress meta is saved (each save is a round trip; --wait polls it)."""
REFRESH_SLICE = 250
"""Team members each call re-checks in the job's rotation queue (Online now? at which place?). A team
up to this size is re-checked whole on every call; a larger one a slice per call, in turn."""
MAX_AGAIN = 1_000
"""Calls that may come back ``again`` (they cleared stale queue entries instead) before the job fails."""
BULK_JOB_FUNCTION = "worker.jobs.bulk_assign"
BULK_JOB_TIMEOUT_SECONDS = 300
BOOKKEEPING_KEEP_SECONDS = 24 * 3600


class UnknownTeam(HelpdeskError):
    """The team does not exist in the account."""


class EmptyTeam(HelpdeskError):
    """The team has no members."""


class NothingToAssign(HelpdeskError):
    """``bulk_assign(..., unassigned=True)`` with no ticket waiting: nothing was enqueued. Not a
    failure (the CLI exits 0): a typed signal that there was nothing to do."""


def check_request(client: redis.Redis, request: BulkAssignRequest, partitions: int | None = None) -> None:
    """Refuse, before anything is enqueued, what the job could never do (``partitions``: the
    deployment's count, as the keys are built with it)."""
    queries = Queries(client, partitions)
    role = queries.role(request.account_id, request.actor_id)
    if role is None:
        raise UnknownUser(f"unknown user {request.actor_id} in account {request.account_id}")
    if not role.can_be_online:
        raise Forbidden(f"{request.actor_id} is a viewer; only agent or higher may bulk-assign tickets")
    keys = queries.keys(request.account_id)
    if not client.sismember(keys.teams, request.team_id):
        raise UnknownTeam(f"unknown team {request.team_id} in {request.account_id}")
    if not client.scard(keys.team(request.team_id)):
        raise EmptyTeam(f"team {request.team_id} has no members")


def start_bulk_assign(
    client: redis.Redis, request: BulkAssignRequest, queue: redis.Redis | None = None, partitions: int | None = None
) -> Job:
    """Check the request against the state Redis ``client`` and enqueue one bulk-assign job on
    ``queue`` (the account's queue shard; default: the same Redis). The Python API integrations use."""
    check_request(client, request, partitions)
    job: Job = ticket_queue(queue if queue is not None else client).enqueue(  # JSON job, like every producer's
        BULK_JOB_FUNCTION,
        request.model_dump(mode="json"),
        job_timeout=BULK_JOB_TIMEOUT_SECONDS,
        result_ttl=BOOKKEEPING_KEEP_SECONDS,
        failure_ttl=7 * 24 * 3600,
        retry=Retry(max=3),
        meta={"account_id": request.account_id, "team_id": request.team_id, "progress": {"done": 0, "total": None}},
        description=f"bulk-assign {request.account_id} team {request.team_id}",
    )
    log.info("bulk.enqueued", account_id=request.account_id, team_id=request.team_id, job_id=job.id, queue=QUEUE_NAME)
    return job


def resolve_tickets(engine: Engine, job: Job, request: BulkAssignRequest) -> list[str]:
    """The job's ticket list, fixed on its first attempt (in a Redis list) so a retry works on the
    same tickets even if the unassigned set has changed since."""
    key = engine.keys(request.account_id).bulk_tickets(job.id)
    saved: Any = engine.client.lrange(key, 0, -1)
    if saved:
        return [text(t) for t in saved]
    if request.ticket_ids is not None:
        tickets = list(request.ticket_ids)
    else:
        unassigned = engine.keys(request.account_id).unassigned
        members: Any = engine.client.zrange(unassigned, 0, MAX_BULK_TICKETS - 1)
        tickets = [text(t) for t in members]
    if tickets:
        pipe = engine.client.pipeline(transaction=True)
        pipe.rpush(key, *tickets)
        pipe.expire(key, BOOKKEEPING_KEEP_SECONDS)
        pipe.execute()
    return tickets


def call_duration_us(redis_us: int, sent_at: float, previous_reply_at: float, reply_at: float) -> int:
    """How long a call ran: Redis's own measure, or, where scripts see a frozen clock (``redis_us``
    0), the client's: from when Redis could start it (it was sent, and the call before it had
    replied) to its reply. That includes the network and errs long, i.e. towards smaller batches."""
    if redis_us > 0:
        return redis_us
    return max(1, int((reply_at - max(sent_at, previous_reply_at)) * 1_000_000))


def next_batch_size(size: int, redis_us: int, current: int) -> int:
    """The size of the next batch, from the last measured one (``size`` tickets in ``redis_us``):
    scaled to ``BATCH_TARGET_US``, at most doubling per step (one fast call proves little) but
    shrinking at once (a slow call is what we must not repeat), within the min/max bounds."""
    if BATCH_TARGET_US is None:
        return BATCH_SIZE
    if redis_us <= 0 or size <= 0:  # a frozen script clock measures nothing: keep the size
        return current
    wanted = size * BATCH_TARGET_US // redis_us
    return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, 2 * current, wanted))


RESUMABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, MovedError, AskError, TryAgainError)
"""Errors after which the job goes on from its first unconfirmed batch (a dropped connection, a
failover or a slot moved in a cluster): batches are idempotent, so one that did run is skipped."""
MAX_RESUMES = 3
RESUME_BACKOFF_SECONDS = 0.1
"""Pause before resuming: 0.2 s, 0.4 s, 0.8 s (a failover takes about that long to settle)."""


def team_slices(engine: Engine, keys: AccountKeys, team_id: str) -> list[list[str]]:
    """The team's members, read once per job attempt in bounded pages (SSCAN), in slices of
    ``REFRESH_SLICE``: the member lists the job's calls carry, in turn."""
    members: Any = engine.client.sscan_iter(keys.team(team_id), count=500)
    ordered = sorted(text(m) for m in members)
    return [ordered[i : i + REFRESH_SLICE] for i in range(0, len(ordered), REFRESH_SLICE)] or [[]]


class _Again(Exception):
    """A call cleared stale entries of the rotation queue and touched no ticket: go on from there."""


class _Progress:
    """What the job has confirmed so far, and its ``meta["progress"]`` (saved at most every 0.1 s)."""

    def __init__(self, job: Job, total: int, totals: dict[str, int]) -> None:
        self.job, self.total, self.totals = job, total, totals
        self.done = self.batches = self.longest_us = 0
        self.warm = False
        """Whether the rotation queue has seen every slice of the team (ticket calls may start)."""
        self._saved_at = 0.0

    def confirm(self, count: int, reply: BulkBatchReply) -> None:
        self.totals["assigned"] += reply.assigned
        self.totals["unassigned"] += reply.unassigned
        self.totals["unknown"] += reply.unknown
        self.totals["already_done"] += reply.already_done
        self.totals["closed"] += reply.closed
        self.batches += 1
        self.longest_us = max(self.longest_us, reply.redis_us)
        self.done += count
        if time.monotonic() - self._saved_at >= PROGRESS_EVERY_SECONDS or self.done == self.total:
            self.job.meta["progress"] = {"done": self.done, "total": self.total, **self.totals}
            self.job.save_meta()  # type: ignore[no-untyped-call]
            self._saved_at = time.monotonic()


def _assign_batches(
    engine: Engine,
    keys: AccountKeys,
    request: BulkAssignRequest,
    job_id: str,
    tickets: list[str],
    progress: _Progress,
    slices: list[list[str]],
) -> None:
    """From the first unconfirmed ticket to the end: ``IN_FLIGHT`` calls at a time on one connection.
    Until the queue is warm, the first ``len(slices) - 1`` calls only file team slices (no ticket)."""
    scripts = engine.scripts
    size, sent, made = BATCH_SIZE, progress.done, 0
    warmup = 0 if progress.warm else len(slices) - 1
    last_reply_at = time.perf_counter()
    with scripts.pipeline("bulk_assign", keys.online, depth=IN_FLIGHT) as calls:
        while progress.done < len(tickets):
            while sent < len(tickets) and calls.in_flight < IN_FLIGHT:
                batch = [] if made < warmup else tickets[sent : sent + size]
                call_keys, args = scripts.bulk_assign_call(keys, request.team_id, job_id, batch, sent, utc_now())
                args += scripts.bulk_refresh_tail(slices[made % len(slices)], BOOKKEEPING_KEEP_SECONDS)
                calls.send(call_keys, args, tag=(len(batch), time.perf_counter()))
                sent, made = sent + len(batch), made + 1
            (count, sent_at), raw = calls.receive()
            reply_at = time.perf_counter()
            reply = BulkBatchReply.from_reply(raw)
            if reply.again:
                raise _Again()
            duration_us = call_duration_us(reply.redis_us, sent_at, last_reply_at, reply_at)
            last_reply_at = reply_at
            if count:
                progress.warm = True
                size = next_batch_size(count, duration_us, size)
                progress.confirm(count, reply)


def run_bulk_assign(engine: Engine, job: Job, request: BulkAssignRequest) -> dict[str, Any]:
    """The job's body: batches, progress in ``job.meta["progress"]``, one toast per agent at the end."""
    engine.check_bulk_request(request)
    check_request(engine.client, request, engine.partitions)
    keys = engine.keys(request.account_id)
    tickets = resolve_tickets(engine, job, request)
    totals = {"assigned": 0, "unassigned": 0, "unknown": 0, "already_done": 0, "closed": 0}
    progress = _Progress(job, len(tickets), totals)
    slices = team_slices(engine, keys, request.team_id)
    resumes = again = 0
    while progress.done < len(tickets):
        try:
            _assign_batches(engine, keys, request, job.id, tickets, progress, slices)
        except _Again:
            again += 1  # the stale entries that call removed are gone: the next one gets further
            if again > MAX_AGAIN:
                raise RuntimeError(f"bulk job {job.id}: the team's rotation queue keeps going stale") from None
        except RESUMABLE as error:
            resumes += 1
            if resumes > MAX_RESUMES:
                raise
            log.warning("bulk.resume", job_id=job.id, done=progress.done, attempt=resumes, error=str(error))
            time.sleep(RESUME_BACKOFF_SECONDS * 2**resumes)
    engine.client.unlink(keys.bulk_queue(job.id))  # UNLINK: a large queue is freed off Redis's main thread
    batches, longest_us = progress.batches, progress.longest_us
    done: Any = engine.client.lrange(keys.bulk_done(job.id), 0, -1)  # 'agent ticket' entries, every attempt's
    toasts = engine.scripts.bulk_finish(keys, request.team_id, job.id, utc_now(), BOOKKEEPING_KEEP_SECONDS)
    assignees = sorted({text(entry).partition(" ")[0] for entry in done})
    agents = len(assignees)
    above = agents_above_capacity(engine.scripts, keys, assignees)
    engine.rang(keys.account_id, claim(engine.scripts, keys, utc_now()))  # tickets it moved may have made room
    result = {
        "account_id": request.account_id,
        "team_id": request.team_id,
        "tickets": len(tickets),
        **totals,
        "agents": agents,
        "toasts": toasts,
        "above_capacity": above,
        "no_team_member_online": totals["assigned"] == 0 and totals["unassigned"] > 0,
    }
    log.info("bulk.finished", job_id=job.id, batches=batches, longest_call_ms=round(longest_us / 1000, 2), **result)
    return result


class BulkJobFailed(HelpdeskError):
    """The bulk job ended in failure (its reason is in RQ's failed registry)."""


def wait_for(job: Job, echo: Callable[[str], None], poll_seconds: float = 0.2, timeout: float = 600) -> dict[str, Any]:
    """Show a progress bar (from the job's meta) until the job finishes; returns its result."""
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        job.refresh()  # type: ignore[no-untyped-call]
        progress = job.meta.get("progress") if isinstance(job.meta, dict) else None
        progress = progress if isinstance(progress, dict) else {}  # JSON meta (never pickle) of our own shape
        done, total = progress.get("done", 0), progress.get("total")
        if isinstance(done, int) and isinstance(total, int) and total > 0:
            filled = int(30 * done / total)
            line = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"
            if line != shown:
                echo(line)
                shown = line
        if status == "finished":
            result = job.return_value()
            return result if isinstance(result, dict) else {}
        if status in ("failed", "stopped", "canceled"):
            raise BulkJobFailed(f"bulk job {job.id} {status}: see 'helpdesk-rr failed --all'")
        time.sleep(poll_seconds)
    raise BulkJobFailed(f"bulk job {job.id} still running after {int(timeout)} s (is a worker running?)")


JOB_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""RQ's job ids (ours are its uuid4 hex): anything else is refused before Redis is asked."""


def bulk_job_view(queue: redis.Redis, account_id: str, job_id: str) -> BulkJobView:
    """A bulk job of ``account_id`` on its queue's Redis, as it is now. ``UnknownJob`` in the same words for a
    job that never was, has expired (results are kept a day), is not a bulk job or is another account's."""
    if not isinstance(job_id, str) or not JOB_ID_SHAPE.fullmatch(job_id):
        raise InvalidInput(f"job id: use the id bulk-assign answered, e.g. 4f1c0d7e… (got {job_id!r:.60})")
    unknown = UnknownJob(f"no bulk job {job_id} in account {account_id} (never made, or finished over a day ago)")
    try:
        job = Job.fetch(job_id, connection=queue, serializer=SERIALIZER)
        meta = job.meta if isinstance(job.meta, dict) else {}
        if job.func_name != BULK_JOB_FUNCTION or meta.get("account_id") != account_id:
            raise unknown
        status = str(getattr(job.get_status(refresh=False), "value", None) or "queued")
        result = job.return_value() if status == "finished" else None
    except (NoSuchJobError, DeserializationError, ValueError, TypeError, KeyError):
        raise unknown from None
    progress = meta.get("progress")
    done, total = (progress.get("done", 0), progress.get("total")) if isinstance(progress, dict) else (0, None)
    return BulkJobView(
        job_id=job_id,
        team_id=str(meta.get("team_id", "")),
        status=status,
        done=done if isinstance(done, int) else 0,
        total=total if isinstance(total, int) else None,
        result=BulkResult.model_validate(result) if isinstance(result, dict) else None,
    )
