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
from types import FrameType

from rq import Queue, SimpleWorker, Worker
from rq.worker import BaseWorker

from producers.queue import QUEUE_NAME
from worker.connection import connect

WORKER_CLASSES: dict[str, type[BaseWorker]] = {"simple": SimpleWorker, "fork": Worker}


def run_one(url: str, *, burst: bool, worker_class: str = "simple", max_jobs: int | None = None) -> bool:
    """One worker in this process. Returns RQ's ``work()`` result (True if it did any job)."""
    connection = connect(url)
    queue = Queue(QUEUE_NAME, connection=connection)
    worker = WORKER_CLASSES[worker_class]([queue], connection=connection)
    return bool(worker.work(burst=burst, logging_level="WARNING", max_jobs=max_jobs))


def run_many(url: str, *, processes: int, burst: bool, worker_class: str = "simple") -> int:
    """``processes`` worker processes; SIGINT/SIGTERM are passed on. Returns the worst exit code."""
    command = [sys.executable, "-m", "worker.cli", "--redis-url", url, "worker", "--processes", "1"]
    command += ["--worker-class", worker_class]
    if burst:
        command.append("--burst")
    children = [subprocess.Popen(command) for _ in range(processes)]

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
