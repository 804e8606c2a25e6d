"""Runs RQ workers on our queue: one in-process, or N child processes that ops scale by count.

The default class is RQ's ``SimpleWorker`` (jobs run in the worker process): measured several
times faster than the forking ``Worker`` for our millisecond jobs (docs/PERFORMANCE.md). Process
isolation buys little here: a job is one Lua call, and a crashed process loses nothing (its job is
requeued by RQ's abandoned-job handling, and the decision is idempotent).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta
from types import FrameType
from typing import Any

from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.utils import now
from rq.worker import BaseWorker

from producers.queue import JOB_TIMEOUT_SECONDS, QUEUE_NAME
from worker.config import Settings, child_environment
from worker.core.engine import utc_now
from worker.jobs import configure, engine_for
from worker.runtime.connection import connect
from worker.runtime.maintenance import maybe_trim
from worker.runtime.topology import use_state_client

# Crash recovery, tuned so a ticket whose worker died is decided again within 60 s (RQ's defaults
# allow ~90 s of heartbeat plus up to 600 s between maintenance passes). See docs/RELIABILITY.md.
HEARTBEAT_MARGIN_SECONDS = 5
"""A running job's entry in the started registry expires its timeout + this long after it started
(RQ adds a fixed 60 s): 15 s for a ticket job, which cannot outlive its 10 s timeout anyway."""
MAINTENANCE_INTERVAL_SECONDS = 5
"""How often some worker sweeps the registries (requeues abandoned jobs). RQ's default: 600 s."""
WORKER_TTL_SECONDS = 20
"""Worker liveness key TTL; RQ blocks on the queue for ``WORKER_TTL - 15`` s, so idle workers
still wake every 5 s to run maintenance."""
MAINTENANCE_LOCK_SECONDS = 20
"""RQ holds the sweep lock for 899 s: a worker killed while sweeping would stop all sweeps for
15 minutes. Ours expires after 20 s."""
STUCK_IN_INTERMEDIATE_SECONDS = 10
"""A job taken off the queue (BLMOVE) but never started: its worker died in between. RQ waits a
minute before rescuing it; a live worker starts a job within milliseconds."""


class HelpdeskQueue(Queue):
    def acquire_maintenance_lock(self) -> bool:
        return bool(self.connection.set(self.registry_cleaning_key, 1, nx=True, ex=MAINTENANCE_LOCK_SECONDS))


class CrashRecoveryMixin:
    """Short heartbeats and a fast rescue of jobs stuck between dequeue and start."""

    queues: list[Queue]

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # SimpleWorker does not heartbeat while a job runs, so the entry must outlive the job's own
        # timeout (a bulk job may run up to its 300 s); ticket jobs: 10 s + 5 s.
        timeout = job.timeout if job.timeout and job.timeout > 0 else JOB_TIMEOUT_SECONDS
        return int(timeout) + HEARTBEAT_MARGIN_SECONDS

    def clean_registries(self) -> None:
        super().clean_registries()  # type: ignore[misc]
        for queue in self.queues:
            self._rescue_stuck_jobs(queue)
        engine = engine_for(self.queues[0].connection)  # the state Redis (worker/runtime/topology.py)
        maybe_trim(engine.client, engine.scripts, engine.scripts.retention, utc_now(), engine.partitions)

    def _rescue_stuck_jobs(self, queue: Queue) -> None:
        intermediate = queue.intermediate_queue
        for job_id in intermediate.get_job_ids():
            if job_id in queue.started_job_registry:
                continue
            first_seen = intermediate.get_first_seen(job_id)
            if first_seen is None:
                intermediate.set_first_seen(job_id)
                continue
            if now() - first_seen < timedelta(seconds=STUCK_IN_INTERMEDIATE_SECONDS):
                continue
            job = queue.fetch_job(job_id)
            if job is not None:
                self.handle_job_failure(job, queue, exc_string="worker died between dequeue and start")  # type: ignore[attr-defined]
            intermediate.remove(job_id)


class HelpdeskWorker(CrashRecoveryMixin, SimpleWorker):
    """RQ's SimpleWorker with crash recovery tuned for millisecond jobs (the default)."""


class HelpdeskForkWorker(CrashRecoveryMixin, Worker):
    """RQ's forking Worker with the same tuning (measured ~4x slower; kept for comparison)."""


WORKER_CLASSES: dict[str, type[BaseWorker]] = {"simple": HelpdeskWorker, "fork": HelpdeskForkWorker}


def make_worker(connection: Any, worker_class: str = "simple") -> BaseWorker:
    queue = HelpdeskQueue(QUEUE_NAME, connection=connection)
    return WORKER_CLASSES[worker_class](
        [queue],
        connection=connection,
        queue_class=HelpdeskQueue,
        worker_ttl=WORKER_TTL_SECONDS,
        maintenance_interval=MAINTENANCE_INTERVAL_SECONDS,
    )


def run_one(
    url: str,
    *,
    burst: bool,
    worker_class: str = "simple",
    max_jobs: int | None = None,
    state: Any = None,
    settings: Settings | None = None,
) -> bool:
    """One worker in this process on the queue at ``url``; decisions go to ``state`` (default: the
    same Redis). Returns RQ's ``work()`` result (True if it did any job)."""
    settings = settings or Settings()
    connection = connect(url, settings.redis_retries)
    return run_on(connection, burst=burst, worker_class=worker_class, max_jobs=max_jobs, state=state, settings=settings)


def run_on(
    connection: Any,
    *,
    burst: bool,
    worker_class: str = "simple",
    max_jobs: int | None = None,
    state: Any = None,
    settings: Settings | None = None,
) -> bool:
    """``run_one`` on a client the caller already has (the control API's ``drain``)."""
    configure(settings or Settings())
    use_state_client(state)
    worker = make_worker(connection, worker_class)
    return bool(worker.work(burst=burst, logging_level="WARNING", max_jobs=max_jobs))


def run_many(
    url: str | None,
    *,
    processes: int,
    burst: bool,
    worker_class: str = "simple",
    log_json: bool | None = None,
    shards: int = 1,
) -> int:
    """``processes`` worker processes (spread over ``shards`` queue shards, process i on shard
    i % shards); SIGINT/SIGTERM are passed on. Returns the worst exit code. ``url=None`` lets each
    child read the split topology from the environment (REDIS_STATE_URL, REDIS_QUEUE_URLS).

    ``url`` reaches the children as ``REDIS_URL`` in their environment, never on their command line:
    a URL may hold a password, and any local user can read a process's argv (``ps``); its environment
    only its owner and root can (docs/SECURITY.md)."""
    log_flag = [] if log_json is None else ["--log-json" if log_json else "--log-console"]
    base = [sys.executable, "-m", "worker.cli", *log_flag]
    env = child_environment(redis_url=url) if url else None
    children = []
    for index in range(processes):
        command = [*base, "worker", "--processes", "1", "--worker-class", worker_class]
        command += ["--shard", str(index % shards)] if shards > 1 else []
        command += ["--burst"] if burst else []
        children.append(subprocess.Popen(command, env=env))

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max(codes, default=0)
