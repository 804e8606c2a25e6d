"""The terminal rendering of a Report (``helpdesk-rr report`` without ``--json``): plain text tables.

One function per section, in the order they print; ``format_text`` only joins them. The wording
shared with the HTML page (durations, hours, depths) is ``display``.
"""

from __future__ import annotations

from schemas.common import utc_iso
from schemas.report import AssignmentSpread, Report, Spike, TtfrReport, TtfrStats, UnassignedQueue
from worker.reports.display import (
    depth_text,
    duration,
    hour_label,
    online_text,
    queue_runs,
    rr_comparison,
    spike_runs,
    ttfr_label,
)
from worker.reports.unassigned import SPIKE_LEVEL_FACTOR, SPIKE_LEVEL_MIN

MAX_QUEUE_ROWS = 100
"""A terminal shows at most this many queue rows; --json and --html carry every hour."""


def _header(report: Report) -> list[str]:
    lines = [
        f"Report for {report.account_id}: {report.day_from.isoformat()} .. {report.day_to.isoformat()} "
        f"(UTC days, inclusive; generated {utc_iso(report.generated_at)})"
    ]
    lines += [f"warning: {warning}" for warning in report.warnings]
    return lines


def _assignments(spread: AssignmentSpread, ttfr: TtfrReport) -> list[str]:
    lines = ["", "Tickets assigned per agent"]
    if not spread.agents:
        return [*lines, "  no tickets assigned in the period"]
    ttfr_of = {s.dim.partition(":")[2]: s for s in ttfr.per_agent}
    lines.append(f"  {'AGENT':<20} {'ASSIGNED':>8} {'SHARE':>6}  {'REPLIES':>7}  {'MEDIAN':>8}  {'P90':>8}")
    for agent in spread.agents:
        stats = ttfr_of.get(agent.agent_id)
        share = 100 * agent.assigned / spread.total
        lines.append(
            f"  {agent.agent_id:<20} {agent.assigned:>8} {share:>5.1f}%  {stats.count if stats else 0:>7}  "
            f"{duration(stats.median_seconds if stats else None):>8}  "
            f"{duration(stats.p90_seconds if stats else None):>8}"
        )
    lines.append(
        f"  total {spread.total} over {spread.counted_agents} agent(s) with >= 1 assignment "
        f"(agents with none are not counted): min {spread.min}, max {spread.max}, "
        f"spread (max - min) {spread.spread}, max/mean {spread.max_over_mean:.2f}"
    )
    return lines


def _ttfr_row(label: str, stats: TtfrStats) -> str:
    return (
        f"  {label:<28} {stats.count:>7}  {duration(stats.median_seconds):>8}  {duration(stats.p90_seconds):>8}"
        f"  {duration(stats.mean_seconds):>8}"
    )


def _ttfr(ttfr: TtfrReport) -> list[str]:
    lines = [
        "",
        "Time to first reply (median and p90 estimated from buckets; mean exact)",
        f"  {'':<28} {'REPLIES':>7}  {'MEDIAN':>8}  {'P90':>8}  {'MEAN':>8}",
    ]
    lines += [_ttfr_row(ttfr_label(stats), stats) for stats in [ttfr.overall, ttfr.rr_on, ttfr.rr_off]]
    comparison = rr_comparison(ttfr.rr_on, ttfr.rr_off)
    if comparison:
        lines.append(f"  ({comparison})")
    lines += [_ttfr_row(ttfr_label(stats), stats) for stats in [*ttfr.per_channel, *ttfr.per_agent]]
    return lines


def _queue_table(queue: UnassignedQueue) -> list[str]:
    runs = queue_runs(queue)
    if not runs:
        return ["  no hours in the period yet"]
    lines = [f"  {'FROM':<16}  {'TO (end of hour)':<16}  {'TOTAL':>5}  BY CHANNEL:REASON"]
    for first, last, row in runs[:MAX_QUEUE_ROWS]:
        lines.append(f"  {hour_label(first):<16}  {hour_label(last):<16}  {row.total:>5}  {depth_text(row.depth)}")
    if len(runs) > MAX_QUEUE_ROWS:
        lines.append(f"  ... {len(runs) - MAX_QUEUE_ROWS} more rows (see --json or --html)")
    return lines


def _spike_line(run: list[Spike]) -> str:
    """One run of spikes: its span (the end as a bare time when it is on the same day) and its top hour."""
    head, tail = run[0], run[-1]
    same_day = head.hour.date() == tail.hour.date()
    end = "" if len(run) == 1 else f" .. {tail.hour:%H:%M}" if same_day else f" .. {hour_label(tail.hour)}"
    span = hour_label(head.hour) + end
    top = max(run, key=lambda spike: spike.total)
    return f"    {span:<36} max total {top.total:>4}  {'+'.join(head.rules)}: {top.detail}"


def _queue(queue: UnassignedQueue) -> list[str]:
    lines = ["", "Unassigned queue (depth at the end of each UTC hour; equal consecutive hours merged)"]
    lines += _queue_table(queue)
    lines.append(
        f"  median hourly total {queue.median_total:g}; spike = total >= {queue.level_threshold:g} "
        f"(max({SPIKE_LEVEL_MIN}, {SPIKE_LEVEL_FACTOR:g} x median)) or one channel:reason growing by "
        f">= {queue.surge_threshold} within the hour"
    )
    if queue.spikes:
        lines.append("  Spikes (consecutive hours with the same rule merged):")
        lines += [_spike_line(run) for run in spike_runs(queue.spikes)]
    else:
        lines.append("  no spikes")
    lines.append(f"  now: {depth_text(queue.current)}")
    return lines


def _busiest_hours(report: Report) -> list[str]:
    lines = ["", "Busiest hours (arrivals, all channels) and who was Online"]
    if not report.busiest_hours:
        lines.append("  no arrivals in the period")
    for busy in report.busiest_hours:
        channels = ", ".join(f"{c} {n}" for c, n in busy.by_channel.items())
        online = online_text(busy.online, busy.online_count)
        lines.append(f"  {hour_label(busy.hour)}  {busy.arrivals:>5} ({channels})  online: {online}")
    return lines


def _decisions(report: Report) -> list[str]:
    lines = ["", "Decisions"]
    if not report.decisions:
        return [*lines, "  no decisions in the period"]
    lines.append(f"  {'OUTCOME':<12} {'REASON':<24} {'COUNT':>7}")
    lines += [f"  {d.outcome:<12} {d.reason:<24} {d.count:>7}" for d in report.decisions]
    lines.append(f"  {'total':<12} {'':<24} {sum(d.count for d in report.decisions):>7}")
    return lines


def format_text(report: Report) -> str:
    """The terminal rendering: one section per figure, plain text tables."""
    return "\n".join(
        [
            *_header(report),
            *_assignments(report.assignments, report.ttfr),
            *_ttfr(report.ttfr),
            *_queue(report.unassigned),
            *_busiest_hours(report),
            *_decisions(report),
        ]
    )
