"""Queue entries a worker cannot run, moved aside with their reason instead of stopping the worker.

Whoever can write to Redis can push anything onto ``rq:queue:helpdesk-rr``: an id RQ refuses
(``bad"id{x}``), an id with no job hash, a job whose data is not JSON (a pickle, planted or queued
by a pre-JSON producer) or names a function that is not one of ours. RQ raises on the first two
while dequeuing, which stops the worker, and leaves the id in the intermediate queue where every
later worker's maintenance raises again. Our queue class (worker/runtime/runner.py) checks each
entry as it is taken and, when it cannot run, removes it and records it here: a sorted set next to
RQ's keys (``keys.malformed_queue_entries``) of JSON records ``{"entry", "reason", "queue", "at"}``
scored by time, kept ``KEEP_SECONDS`` and at most ``MAX_ENTRIES``. ``helpdesk-rr failed --all``
lists them. They cannot be requeued: a bad id has no job, and data that is not JSON is never decoded.
Nothing read from Redis is ever unpickled; job data is only ever decoded as JSON.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job
from rq.queue import Queue

from producers.lanes import DRAIN_LANE
from producers.queue import (
    FAILURE_TTL_SECONDS,
    PROCESS_CLOSE,
    PROCESS_CUSTOMER_REPLY,
    PROCESS_FIRST_REPLY,
    PROCESS_RELEASE,
    PROCESS_REOPEN,
    PROCESS_TICKET,
    SERIALIZER,
)
from worker.core.bulk import BULK_JOB_FUNCTION
from worker.core.keys import malformed_queue_entries
from worker.core.text import text

log = structlog.get_logger("helpdesk_rr.malformed")

KEEP_SECONDS = FAILURE_TTL_SECONDS
"""A moved-aside entry is listed for a week, like a failed job (and the job hash of one whose data
was not JSON is kept as long, for inspection, then expires)."""
MAX_ENTRIES = 1_000
"""At most this many records are kept (the newest): a flood of bad entries costs bounded memory."""
MAX_ENTRY_CHARS = 200
"""A queue entry is shown (and stored) cut to this many characters; RQ's own ids are 36."""
MAX_REASON_CHARS = 2_000
"""A failure reason line (``failed``'s last column, here or from RQ's failed registry) is cut here."""
BENCH_NOOP = "bench.noop"
"""The benchmarks' baseline job (bench/__init__.py): does nothing, importable only from a source checkout."""
JOB_FUNCTIONS = frozenset(
    {PROCESS_TICKET, PROCESS_FIRST_REPLY, PROCESS_CLOSE, PROCESS_REOPEN, PROCESS_RELEASE, BULK_JOB_FUNCTION, BENCH_NOOP}
    | {DRAIN_LANE}
    | {PROCESS_CUSTOMER_REPLY}
)
"""The only functions a job may name (worker/jobs.py, and the benches' no-op); anything else is moved
aside unrun. With JSON data, this is what stops a planted job naming ``os.system`` from running."""
MAX_STORED_FAILURE_CHARS = 16_000
"""A failed job's stored traceback: every line cut at ``MAX_REASON_CHARS``, then only its last 16,000
characters kept (the end of a traceback says what failed)."""
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What RQ accepts as a job id (its own are uuid4 hex), with a length bound of ours."""

TRANSIENT = (RedisConnectionError, RedisTimeoutError)
"""Errors that say nothing about the entry: re-raised, never a reason to move a job aside."""

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` safe to print on a terminal as one line: ANSI escape sequences removed, every other
    control or format character (newline, carriage return, backspace, bidi overrides, ...) shown as
    its escape (``\\x1b``), and cut at ``limit`` characters (with ``…`` when cut)."""
    text = _ANSI.sub("", text)
    shown = "".join(_escaped(ch) for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _escaped(ch: str) -> str:
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def clip_traceback(text: str) -> str:
    """A traceback cut to ``MAX_STORED_FAILURE_CHARS`` (whole lines, each cut at ``MAX_REASON_CHARS``)."""
    lines = [
        line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…" for line in text.splitlines()
    ]
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line) + 1
        if size > MAX_STORED_FAILURE_CHARS:
            kept.append(f"… {len(lines) - len(kept)} earlier line(s) cut")
            break
        kept.append(line)
    return "\n".join(reversed(kept)) + ("\n" if text.endswith("\n") else "")


def job_problem(job: Job) -> str | None:
    """Why a fetched job must not run (None: it may). Decodes its data as JSON only (the job's
    serializer must be ``producers.queue.SERIALIZER``; this never unpickles)."""
    if job.serializer is not SERIALIZER:
        raise ValueError("jobs are only ever decoded with the JSON serializer")
    try:
        func_name, instance, args, kwargs = job.func_name, job.instance, job.args, job.kwargs
    except DeserializationError:
        description = one_line(job.description or "", MAX_ENTRY_CHARS)
        return "job data is not valid JSON" + (f" (job description: {description})" if description else "")
    if func_name not in JOB_FUNCTIONS or instance is not None:
        return f"not a helpdesk-rr job: function {one_line(repr(func_name), MAX_ENTRY_CHARS)}"
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        return "job data is not [function, null, [arguments], {keyword arguments}]"
    return None


def check_entry(queue: Queue, entry: bytes | str) -> tuple[Job | None, str | None]:
    """The job a queue entry names, or why it cannot run: (job, None) or (None, reason)."""
    job_id = text(entry, "backslashreplace")
    if not JOB_ID.fullmatch(job_id):
        return None, "bad job id (an RQ job id is 1-128 letters, digits, '_' or '-')"
    try:
        job = Job.fetch(job_id, connection=queue.connection, serializer=SERIALIZER)
    except NoSuchJobError:
        return None, "no job hash for this id (never created, deleted or expired)"
    except TRANSIENT:
        raise
    except Exception as error:  # a hash that is not an RQ job: any field may be the one that breaks
        return None, f"unreadable job hash: {type(error).__name__}: {error}"
    problem = job_problem(job)
    if problem is not None:
        queue.connection.expire(Job.key_for(job_id), KEEP_SECONDS)  # kept for inspection, not forever
        return None, problem
    return job, None


def record(connection: redis.Redis, queue_name: str, entry: bytes | str, reason: str, at: datetime) -> None:
    """Add a moved-aside entry to the queue's list of them (pruned by age and count)."""
    key = malformed_queue_entries(queue_name)
    item = {
        "entry": one_line(text(entry, "backslashreplace"), MAX_ENTRY_CHARS),
        "reason": one_line(reason),
        "queue": queue_name,
        "at": at.astimezone(UTC).isoformat(),
    }
    score = int(at.timestamp() * 1000)
    pipe = connection.pipeline(transaction=True)
    pipe.zadd(key, {json.dumps(item, sort_keys=True): score})
    pipe.zremrangebyscore(key, "-inf", score - KEEP_SECONDS * 1000)
    pipe.zremrangebyrank(key, 0, -MAX_ENTRIES - 1)
    pipe.expire(key, KEEP_SECONDS)
    pipe.execute()
    log.warning("queue.entry_moved_aside", queue=queue_name, entry=item["entry"], reason=item["reason"])


def move_aside_from_intermediate(queue: Queue, entry: bytes | str, reason: str, at: datetime) -> bool:
    """Take ``entry`` out of the queue's intermediate list (where BLMOVE put it) and record it, unless
    another worker got there first. Returns whether this call moved it."""
    removed: Any = queue.connection.lrem(queue.intermediate_queue.key, 1, entry)  # type: ignore[arg-type]
    if not removed:
        return False
    record(queue.connection, queue.name, entry, reason, at)
    return True


def sweep_intermediate(queue: Queue, now: datetime) -> int:
    """Move aside every entry of the intermediate list that can never run (left there by a worker
    that stopped on it, or one that died between taking and checking it). Valid jobs stay for RQ's
    own rescue of jobs stuck there. Returns how many were moved."""
    moved = 0
    entries: Any = queue.connection.lrange(queue.intermediate_queue.key, 0, -1)
    for entry in entries:
        job, reason = check_entry(queue, entry)
        if job is None and reason is not None and move_aside_from_intermediate(queue, entry, reason, now):
            moved += 1
    return moved


@dataclass(frozen=True, slots=True)
class MalformedEntry:
    """One moved-aside entry as read back (untrusted text, made printable again when read)."""

    entry: str
    reason: str
    at: datetime | None


def list_entries(connection: redis.Redis, queue_name: str, now: datetime) -> list[MalformedEntry]:
    """The queue's moved-aside entries younger than ``KEEP_SECONDS``, oldest first."""
    since = int((now - timedelta(seconds=KEEP_SECONDS)).timestamp() * 1000)
    raw: Any = connection.zrangebyscore(malformed_queue_entries(queue_name), since, "+inf")
    rows = []
    for item in raw:
        try:
            data = json.loads(item)
            at = datetime.fromisoformat(str(data.get("at"))) if data.get("at") else None
            rows.append(
                MalformedEntry(one_line(str(data["entry"]), MAX_ENTRY_CHARS), one_line(str(data["reason"])), at)
            )
        except (ValueError, KeyError, TypeError, AttributeError):  # a planted record: shown, not trusted
            shown = one_line(text(item, "backslashreplace"), MAX_ENTRY_CHARS)
            rows.append(MalformedEntry(shown, "unreadable moved-aside record", None))
    return rows
