"""Reassignments in the report (issue 16): tickets that left their assignee by reason (``reassigned:<reason>``)
and how many of them waited instead (``reassign_waiting:<reason>``), how long a ticket sat with the previous
assignee (``reassign_held`` histogram), the time from the last reassignment to the first reply
(``after_reassign``), and time to first reply split by whether the ticket was reassigned (TTFR dims
``reassigned:yes`` / ``reassigned:no``). Field names: docs/STATS.md; parsed by ``stats_fields``.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.report import ReassignmentReport, TtfrStats, WaitTimes
from worker.reports.capacity import duration_stats
from worker.reports.display import duration, estimate
from worker.reports.stats_fields import ParsedStats


def _figures(parsed: ParsedStats, name: str) -> WaitTimes | None:
    durations = parsed.durations[name]
    figures = duration_stats(durations.buckets, durations.total, durations.count, durations.largest)
    return figures if figures.count else None


def reassignment_report(parsed: ParsedStats, ttfr_of: Callable[[str], TtfrStats]) -> ReassignmentReport:
    """The section from the period's parsed stats; ``ttfr_of(dim)`` is the report's TTFR figure of one dim."""
    yes, no = ttfr_of("reassigned:yes"), ttfr_of("reassigned:no")
    return ReassignmentReport(
        by_reason={reason: n for reason, n in sorted(parsed.reassigned.items()) if n},
        to_waiting_queue={reason: n for reason, n in sorted(parsed.reassign_waiting.items()) if n},
        held=_figures(parsed, "reassign_held"),
        reply_after=_figures(parsed, "after_reassign"),
        ttfr_reassigned=yes if yes.count else None,
        ttfr_not_reassigned=no if no.count else None,
    )


def reassignments_shown(report: ReassignmentReport) -> bool:
    """The renderings show the section only when the period had a reassignment."""
    return bool(report.by_reason)


REASON_WORDS = {
    "assignee_away": "assignee away (customer wrote or reopened)",
    "no_first_reply": "no first reply in time",
}


def reason_rows(report: ReassignmentReport) -> list[list[object]]:
    """[reason in words, tickets that left their assignee, of those waited] per reason (text and HTML)."""
    return [
        [REASON_WORDS.get(reason, reason), n, report.to_waiting_queue.get(reason, 0)]
        for reason, n in report.by_reason.items()
    ]


def time_rows(report: ReassignmentReport, at_most: str) -> list[list[object]]:
    """[figure in words, tickets, median, p90, mean] for the section's durations (text and HTML); an estimate
    capped at the largest value filed is marked with ``at_most`` (docs/REPORTS.md)."""
    figures: list[tuple[str, WaitTimes | TtfrStats | None]] = [
        ("with the previous assignee", report.held),
        ("reassignment to first reply", report.reply_after),
        ("TTFR, reassigned tickets", report.ttfr_reassigned),
        ("TTFR, never reassigned", report.ttfr_not_reassigned),
    ]
    return [
        [
            label,
            f.count,
            estimate(f.median_seconds, f.median_capped, at_most),
            estimate(f.p90_seconds, f.p90_capped, at_most),
            duration(f.mean_seconds),
        ]
        for label, f in figures
        if f is not None
    ]


SECTION_NOTE = (
    "Tickets that left their assignee in the period, by reason (waited: nobody else was available, so the ticket "
    "went to the waiting queue); how long they had sat with the previous assignee (assignment to reassignment); "
    "the time from the last reassignment to the first reply; and time to first reply (creation to first reply) "
    "of reassigned tickets against the others. Median and p90 are estimated from the buckets, never above the "
    "largest value filed (\u2264 marks one capped there); the mean is exact."
)
