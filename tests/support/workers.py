"""Worker processes for the multi-process tests, started as ops start them (``helpdesk-rr worker``), and
the waits those tests need.

Without ``--burst`` a worker runs its release sweeper thread (worker/runtime/release_sweeper.py), which
is what restarts a release whose worker died; so the release tests start long-running workers and stop
them with SIGTERM (each by its own pid) once the queue and the releases have settled.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

import redis
from rq import Queue

from producers.queue import QUEUE_NAME, SERIALIZER
from tests.support import replies
from worker.core.keys import AccountKeys

POLL_SECONDS = 0.05


def start_worker(redis_url: str, processes: int = 1, burst: bool = False) -> subprocess.Popen[bytes]:
    """``helpdesk-rr worker`` in a child process (with ``processes`` > 1 it starts and supervises that many)."""
    command = [sys.executable, "-m", "worker.cli", "--redis-url", redis_url, "worker"]
    command += ["--processes", str(processes)] if processes > 1 else []
    command += ["--burst"] if burst else []
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_worker(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM (RQ's warm shutdown: the job under way finishes), then its exit code; SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"worker {process.pid} did not stop within {timeout} s of SIGTERM") from None


def stop_all(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Stop every worker still running (test teardown: never leave a process behind)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took. Fails naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def worker_pids(client: redis.Redis) -> dict[str, int]:
    """RQ's registered workers: name → pid."""
    pids = {}
    for key in replies.smembers(client, "rq:workers"):
        pid = client.hget(key, "pid")
        if pid is not None:
            pids[key.decode().removeprefix("rq:worker:")] = int(pid)
    return pids


def pid_running(client: redis.Redis, job_id: str) -> int | None:
    """The pid of the worker running job ``job_id`` now (None: nobody is)."""
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    pids = worker_pids(client)
    for started_id, execution_id in queue.started_job_registry.get_job_and_execution_ids(cleanup=False):
        if started_id == job_id:
            name = client.hget(f"rq:execution:{job_id}:{execution_id}", "worker_name")
            if isinstance(name, bytes) and name.decode() in pids:
                return pids[name.decode()]
    return None


def queue_idle(client: redis.Redis) -> bool:
    """No job waits on the ticket queue, and none is being taken or run."""
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    return queue.count == 0 and queue.started_job_registry.count == 0 and not queue.intermediate_queue.get_job_ids()


def releases_settled(client: redis.Redis, accounts: Iterable[AccountKeys], now_ms: int) -> bool:
    """No release of these accounts is queued or running (no lease) or due (``release_due``) now."""
    for keys in accounts:
        if client.exists(keys.release_lease):
            return False
        due = client.zscore(keys.release_due, keys.account_id)
        if due is not None and due <= now_ms:
            return False
    return True
