"""Hand-run benchmarks (never part of the test suite). See docs/PERFORMANCE.md for how to run them.

Every bench measures a baseline in the same run and reports its figures as ratios to it: the
machines are shared and noisy, so absolute numbers only describe the run they came from.

The baseline RQ job, :func:`noop`, lives here rather than in ``bench.common`` on purpose: a forking
RQ worker imports a job's module afresh in every work horse (the parent never runs jobs), while
``worker.jobs`` is already imported by the CLI before the fork. Importing this near-empty package
in a horse costs ~1 ms here; ``bench.common`` would cost ~2.6 ms, a bias against the baseline.
"""

from typing import Any


def noop(payload: Any) -> None:
    """The baseline RQ job: takes the same payload as ``process_ticket`` and does nothing."""
    return None
