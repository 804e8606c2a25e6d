"""The thread in every worker process that, every second, sets Offline the agents whose presence timed
out (worker/core/presence.py: at most ``SWEEP_EVERY_SECONDS`` late), reassigns the tickets without a first
reply in time (worker/core/reassign.py, likewise) and starts the releases that are due
(worker/core/release.py), and rings the burst intake's lanes left with tickets and no drain (worker/runtime/drain.py):
after-hours tickets reaching their opening (at most ``SWEEP_EVERY_SECONDS`` + a job late), and releases
whose worker died (their lease lapsed). Cheap when nothing is due: one ZRANGEBYSCORE per partition per
second. Several workers sweeping at once is fine: the lease lets one of them enqueue each release."""

from __future__ import annotations

import threading
from typing import Any

import structlog

from producers.queue import enqueue_release
from worker.config import Settings
from worker.core.engine import Engine, utc_now
from worker.core.keys import DEFAULT_PARTITIONS
from worker.core.presence import sweep_presence
from worker.core.reassign import sweep_unanswered
from worker.core.release import sweep_due
from worker.runtime.drain import ring_stranded_lanes

log = structlog.get_logger("helpdesk_rr.release_sweeper")

SWEEP_EVERY_SECONDS = 1.0


class ReleaseSweeper:
    """``start()`` a daemon thread sweeping ``state`` every second, enqueueing on ``queue``; ``stop()`` ends it."""

    def __init__(self, state: Any, queue: Any, settings: Settings, every: float = SWEEP_EVERY_SECONDS) -> None:
        self._engine = Engine(state, settings.retention, settings.partitions)
        self._queue = queue
        self._partitions = settings.partitions or DEFAULT_PARTITIONS
        self._every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="release-sweeper", daemon=True)

    def start(self) -> ReleaseSweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sweep_once(self) -> list[str]:
        """Set Offline the agents whose presence timed out, reassign the tickets whose first reply is overdue
        (reassign-unanswered), then start every release due now; returns the
        accounts whose release was enqueued."""
        now = utc_now()
        sweep_presence(self._engine.scripts, self._engine.keys, self._partitions, now)
        sweep_unanswered(self._engine.scripts, self._engine.keys, self._partitions, now, self._enqueue)
        ring_stranded_lanes(self._queue)
        return sweep_due(self._engine.scripts, self._engine.keys, self._partitions, now, self._enqueue)

    def _enqueue(self, account_id: str) -> None:
        enqueue_release(account_id, self._queue)

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            try:
                self.sweep_once()
            except Exception as error:  # Redis away for a moment: the next sweep tries again
                log.warning("release.sweep_failed", error=repr(error))
