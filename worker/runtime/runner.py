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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

import structlog
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.utils import get_version, now
from rq.worker import BaseWorker

from producers.queue import JOB_TIMEOUT_SECONDS, QUEUE_NAME, SERIALIZER
from worker.config import Settings, child_environment
from worker.core.engine import utc_now
from worker.errors import HelpdeskError
from worker.jobs import configure, engine_for
from worker.runtime.connection import connect
from worker.runtime.maintenance import maybe_trim
from worker.runtime.malformed import (
    TRANSIENT,
    check_entry,
    clip_traceback,
    move_aside_from_intermediate,
    record,
    sweep_intermediate,
)
from worker.runtime.release_sweeper import ReleaseSweeper
from worker.runtime.topology import use_state_client

log = structlog.get_logger("helpdesk_rr.runner")

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


class WorkerStopped(HelpdeskError):
    """The worker's loop ended on an unexpected error (RQ logs "unhandled exception, quitting" and
    returns as if done): ``helpdesk-rr worker`` exits 1 so a supervisor restarts it."""


class HelpdeskQueue(Queue):
    """RQ's queue, JSON only, where an entry that can never run is moved aside instead of stopping
    the worker (worker/runtime/malformed.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("serializer") is None:
            kwargs["serializer"] = SERIALIZER
        super().__init__(*args, **kwargs)

    def acquire_maintenance_lock(self) -> bool:
        return bool(self.connection.set(self.registry_cleaning_key, 1, nx=True, ex=MAINTENANCE_LOCK_SECONDS))

    def fetch_job(self, job_id: str) -> Job | None:
        """RQ's, but a bad id or a hash that is not a job reads as no job (RQ raises, which stops
        its registry clean-up and with it the worker). Redis being unreachable still raises: "no job"
        would make RQ's clean-up drop a valid job's id."""
        try:
            return super().fetch_job(job_id)
        except TRANSIENT:
            raise
        except Exception as error:
            log.warning("queue.unreadable_job", job_id=repr(job_id)[:200], error=type(error).__name__)
            return None

    @classmethod
    def dequeue_any(  # type: ignore[override]
        cls, queues: Iterable[Queue], timeout: int | None, connection: Any = None, **_options: Any
    ) -> tuple[Job, Queue] | None:
        """RQ's dequeue (BLMOVE into the intermediate list on one queue, else BLPOP), then each entry
        checked before RQ sees it: one that can never run is moved aside and the next is taken."""
        by_key = {queue.key: queue for queue in queues}
        keys = list(by_key)
        while True:
            if len(keys) == 1 and get_version(connection) >= (6, 2, 0):
                popped = cls.lmove(connection, keys[0], timeout)
                in_intermediate = True
            else:
                popped = cls.lpop(keys, timeout, connection=connection)
                in_intermediate = False
            if popped is None:
                return None
            queue_key, entry = popped
            queue = by_key[queue_key.decode() if isinstance(queue_key, bytes) else queue_key]
            job, reason = check_entry(queue, entry)
            if job is not None:
                return job, queue
            if in_intermediate:
                move_aside_from_intermediate(queue, entry, reason or "cannot run", utc_now())
            else:
                record(queue.connection, queue.name, entry, reason or "cannot run", utc_now())


class CrashRecoveryMixin:
    """Short heartbeats and a fast rescue of jobs stuck between dequeue and start."""

    queues: list[Queue]
    last_cleaned_at: Any  # RQ's: when this worker last swept (None: never)
    fault: Exception | None = None
    """The exception that ended RQ's work loop, if one did (see ``_noting_fault``)."""
    stopped_by: int | None = None
    """The signal (SIGINT, SIGTERM) that asked the worker to stop, if one did."""

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopped_by = signum
        super().request_stop(signum, frame)  # type: ignore[misc]

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # SimpleWorker does not heartbeat while a job runs, so the entry must outlive the job's own
        # timeout (a bulk job may run up to its 300 s); ticket jobs: 10 s + 5 s.
        timeout = job.timeout if job.timeout and job.timeout > 0 else JOB_TIMEOUT_SECONDS
        return int(timeout) + HEARTBEAT_MARGIN_SECONDS

    def clean_registries(self) -> None:
        """RQ's sweep, ours after it; entries that can never run are moved aside first (RQ's own
        sweep of the intermediate list would raise on them). A sweep that fails is logged, not
        fatal: maintenance must not stop the worker taking tickets; the next pass tries again."""
        try:
            for queue in self.queues:
                sweep_intermediate(queue, utc_now())
            super().clean_registries()  # type: ignore[misc]
            for queue in self.queues:
                self._rescue_stuck_jobs(queue)
            engine = engine_for(self.queues[0].connection)  # the state Redis (worker/runtime/topology.py)
            maybe_trim(engine.client, engine.scripts, engine.scripts.retention, utc_now(), engine.partitions)
        except Exception:
            log.exception("worker.maintenance_failed")
            self.last_cleaned_at = now()  # next pass at the usual interval, not at every loop

    def handle_job_failure(self, job: Job, queue: Queue, *args: Any, **options: Any) -> Any:
        """RQ's, with the stored traceback cut to a bounded size (worker/runtime/malformed.py)."""
        if "exc_string" in options:
            options["exc_string"] = clip_traceback(str(options["exc_string"]))
        return super().handle_job_failure(job, queue, *args, **options)  # type: ignore[misc]

    @contextmanager
    def _noting_fault(self) -> Iterator[None]:
        """Remember the exception leaving the step RQ's loop just ran (None once one returns): RQ's
        loop swallows it ("unhandled exception, quitting") and returns as if it were done."""
        try:
            yield
        except StopRequested:
            self.fault = None
            raise
        except Exception as error:
            self.fault = error
            raise
        self.fault = None

    def _noted(self, step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._noting_fault():
            return step(*args, **kwargs)

    # Every step RQ's work loop calls, so the exception that ends the loop is the one noted last.
    def check_for_suspension(self, *args: Any, **kwargs: Any) -> Any:
        return self._noted(super().check_for_suspension, *args, **kwargs)  # type: ignore[misc]

    def run_maintenance_tasks(self, *args: Any, **kwargs: Any) -> Any:
        return self._noted(super().run_maintenance_tasks, *args, **kwargs)  # type: ignore[misc]

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
        return self._noted(super().dequeue_job_and_maintain_ttl, *args, **kwargs)  # type: ignore[misc]

    def execute_job(self, *args: Any, **kwargs: Any) -> Any:
        return self._noted(super().execute_job, *args, **kwargs)  # type: ignore[misc]

    def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        return self._noted(super().heartbeat, *args, **kwargs)  # type: ignore[misc]

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
                self.handle_job_failure(job, queue, exc_string="worker died between dequeue and start")
            intermediate.remove(job_id)


class HelpdeskWorker(CrashRecoveryMixin, SimpleWorker):
    """RQ's SimpleWorker with crash recovery tuned for millisecond jobs (the default)."""


class HelpdeskForkWorker(CrashRecoveryMixin, Worker):
    """RQ's forking Worker with the same tuning (measured ~4x slower; kept for comparison)."""


WORKER_CLASSES: dict[str, type[BaseWorker]] = {"simple": HelpdeskWorker, "fork": HelpdeskForkWorker}


def make_worker(connection: Any, worker_class: str = "simple") -> BaseWorker:
    queue = HelpdeskQueue(QUEUE_NAME, connection=connection, serializer=SERIALIZER)
    return WORKER_CLASSES[worker_class](
        [queue],
        connection=connection,
        queue_class=HelpdeskQueue,
        serializer=SERIALIZER,
        worker_ttl=WORKER_TTL_SECONDS,
        maintenance_interval=MAINTENANCE_INTERVAL_SECONDS,
    )


def live_workers(connection: Any) -> int:
    """How many workers are alive on our queue at ``connection``: registered for the queue and with a
    worker key that has not expired (a live worker refreshes it every few seconds; one killed with
    SIGKILL drops out within ``WORKER_TTL_SECONDS``)."""
    queue = HelpdeskQueue(QUEUE_NAME, connection=connection, serializer=SERIALIZER)
    return len(BaseWorker.all(queue=queue, serializer=SERIALIZER))


def stop_reason(worker: BaseWorker, burst: bool) -> str:
    """Why a worker's loop ended, for the one line ``helpdesk-rr worker`` prints when it stops."""
    fault = getattr(worker, "fault", None)
    if fault is not None:
        return f"error: {type(fault).__name__}: {fault}"
    signum = getattr(worker, "stopped_by", None)
    if signum is not None:
        return f"signal {signal.Signals(signum).name}"
    return "queue drained (--burst)" if burst else "the work loop ended"


def run_one(
    url: str,
    *,
    burst: bool,
    worker_class: str = "simple",
    max_jobs: int | None = None,
    state: Any = None,
    settings: Settings | None = None,
    report: Callable[[str], None] | None = None,
) -> bool:
    """One worker in this process on the queue at ``url``; decisions go to ``state`` (default: the
    same Redis). Returns RQ's ``work()`` result (True if it did any job); raises ``WorkerStopped`` when
    the worker stopped on an unexpected error rather than on request or, with ``burst``, when done.
    ``report`` gets why the worker stopped (``stop_reason``), whatever the reason."""
    settings = settings or Settings()
    connection = connect(url, settings.redis_retries)
    return run_on(
        connection,
        burst=burst,
        worker_class=worker_class,
        max_jobs=max_jobs,
        state=state,
        settings=settings,
        report=report,
    )


def run_on(
    connection: Any,
    *,
    burst: bool,
    worker_class: str = "simple",
    max_jobs: int | None = None,
    state: Any = None,
    settings: Settings | None = None,
    report: Callable[[str], None] | None = None,
) -> bool:
    """``run_one`` on a client the caller already has (the control API's ``drain``); same result."""
    settings = settings or Settings()
    configure(settings)
    use_state_client(state)
    worker = make_worker(connection, worker_class)
    report = report or (lambda _line: None)
    sweeper = ReleaseSweeper(state if state is not None else connection, connection, settings)
    if burst:
        sweeper.sweep_once()  # a drain starts what is due now; only a long-running worker keeps sweeping
    else:
        sweeper.start()
    try:
        worked = bool(worker.work(burst=burst, logging_level="WARNING", max_jobs=max_jobs))
    except Exception as error:
        report(f"error: {type(error).__name__}: {error}")
        raise
    except BaseException:  # SystemExit: a second SIGINT/SIGTERM (RQ's cold shutdown)
        report(stop_reason(worker, burst))
        raise
    finally:
        sweeper.stop()
    report(stop_reason(worker, burst))
    fault = getattr(worker, "fault", None)
    if fault is not None:
        raise WorkerStopped(f"the worker stopped on an unexpected error: {type(fault).__name__}: {fault}") from fault
    return worked


def run_many(
    url: str | None,
    *,
    processes: int,
    burst: bool,
    worker_class: str = "simple",
    log_json: bool | None = None,
    shards: int = 1,
    report: Callable[[str], None] | None = None,
) -> int:
    """``processes`` worker processes (spread over ``shards`` queue shards, process i on shard
    i % shards); SIGINT/SIGTERM are passed on. Returns the worst exit code. ``url=None`` lets each
    child read the split topology from the environment (REDIS_STATE_URL, REDIS_QUEUE_URLS).

    ``url`` reaches the children as ``REDIS_URL`` in their environment, never on their command line:
    a URL may hold a password, and any local user can read a process's argv (``ps``); its environment
    only its owner and root can (docs/SECURITY.md). ``report`` gets why they stopped (one line for all);
    the children print no start or stop line of their own (``--child``)."""
    log_flag = [] if log_json is None else ["--log-json" if log_json else "--log-console"]
    base = [sys.executable, "-m", "worker.cli", *log_flag]
    env = child_environment(redis_url=url) if url else None
    children = []
    for index in range(processes):
        command = [*base, "worker", "--child", "--processes", "1", "--worker-class", worker_class]
        command += ["--shard", str(index % shards)] if shards > 1 else []
        command += ["--burst"] if burst else []
        children.append(subprocess.Popen(command, env=env))

    received: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    worst = max(codes, default=0)
    if report is not None:
        report(_many_stopped(received, codes, burst))
    return worst


def _many_stopped(received: list[int], codes: list[int], burst: bool) -> str:
    """Why ``run_many``'s processes stopped: a signal, a process's failure, or (burst) all drained."""
    worst = max(codes, default=0)
    failed = f"; {sum(code != 0 for code in codes)} exited with code {worst}" if worst else ""
    if received:
        return f"signal {signal.Signals(received[0]).name}, passed on to {len(codes)} processes{failed}"
    if failed:
        return f"{len(codes)} processes ended{failed}"
    return f"{len(codes)} processes, queue drained (--burst)" if burst else f"{len(codes)} processes ended"
