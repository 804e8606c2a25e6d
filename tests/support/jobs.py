"""What a finished RQ job left behind: its return value, or why it failed.

RQ types both as optional (a job may not have run yet); a test that asks has just drained the queue, so
a missing result fails the test here, with the job's id, rather than as a ``None`` subscript.
"""

from __future__ import annotations

from typing import Any

from rq.job import Job


def returned(job: Job) -> dict[str, Any]:
    """The JSON object the job returned (every job of worker.jobs returns one)."""
    value = job.return_value()
    assert isinstance(value, dict), (job.id, value)
    return value


def failure_reason(job: Job) -> str:
    """The traceback of the job's latest, failed, execution."""
    result = job.latest_result()
    assert result is not None and result.exc_string is not None, (job.id, result)
    return result.exc_string
