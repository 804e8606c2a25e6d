"""The terminal rendering of a Report (``helpdesk-rr report`` without ``--json``): plain text tables.

One function per section, in the order they print; ``format_text`` only joins them. The wording
shared with the HTML page (durations, hours, depths) is ``display``.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.report import (
    AgentLoad,
    AssignmentSpread,
    CapacityReport,
    ReassignmentReport,
    Report,
    Spike,
    TtfrReport,
    TtfrStats,
    UnassignedQueue,
)
from worker.reports.display import (
    IDLE_SHOWN,
    capacity_shown,
    capacity_summary,
    capacity_text,
    depth_text,
    duration,
    estimate,
    holders_outside,
    hour_label,
    live_by_agent,
    moment_label,
    online_text,
    queue_runs,
    rr_comparison,
    spike_peak,
    spike_runs,
    ttfr_label,
    waiting_counts,
    zone_note,
)
from worker.reports.reassign import reason_rows, reassignments_shown, time_rows
from worker.reports.unassigned import SPIKE_LEVEL_FACTOR, SPIKE_LEVEL_MIN, peak_of

MAX_QUEUE_ROWS = 100
"""A terminal shows at most this many queue rows; --json and --html carry every hour."""


def _header(report: Report) -> list[str]:
    lines = [
        f"Report for {report.account_id}: {report.day_from.isoformat()} .. {report.day_to.isoformat()} "
        f"(UTC days, inclusive; generated {moment_label(report.generated_at, report.time_zone)})",
        f"  ({zone_note(report.time_zone)}; arrivals and first replies are filed by when the ticket arrived, "
        "decisions, assignments and the queue by when they happened in helpdesk-rr)",
    ]
    lines += [f"warning: {warning}" for warning in report.warnings]
    return lines


def _live(live: Mapping[str, AgentLoad] | None, agent: str) -> str:
    """The LOAD NOW and CAP NOW cells of an agent's row ('' when the account has no capacity)."""
    if live is None:
        return ""
    row = live.get(agent)
    return f"  {row.load if row else 0:>8}  {capacity_text(row):>7}"


def _idle_rows(spread: AssignmentSpread, live: Mapping[str, AgentLoad] | None) -> list[str]:
    """Agents Online in the period who got no ticket: listed with 0 (the first ``IDLE_SHOWN``)."""
    idle = spread.online_without_tickets
    lines = [
        f"  {agent:<20} {0:>8} {0.0:>5.1f}%  {'':>7}  {'-':>8}  {'-':>8}{_live(live, agent)}"
        for agent in idle[:IDLE_SHOWN]
    ]
    if len(idle) > IDLE_SHOWN:
        lines.append(f"  ... and {len(idle) - IDLE_SHOWN:,} more agents Online with no ticket (see --json)")
    if idle:
        lines.append(f"  {len(idle)} agent(s) were Online in the period and got no ticket (listed with 0)")
    return lines


def _holder_rows(report: Report, live: Mapping[str, AgentLoad] | None) -> list[str]:
    """Agents holding open tickets or an own capacity now, not otherwise in the table: listed with 0."""
    holders = holders_outside(report.assignments, report.capacity)
    lines = [
        f"  {row.agent_id:<20} {0:>8} {0.0:>5.1f}%  {'':>7}  {'-':>8}  {'-':>8}{_live(live, row.agent_id)}"
        for row in holders[:IDLE_SHOWN]
    ]
    if len(holders) > IDLE_SHOWN:
        lines.append(f"  ... and {len(holders) - IDLE_SHOWN:,} more (see --json)")
    if holders:
        lines.append(
            f"  {len(holders)} agent(s) hold open tickets or their own capacity but got no ticket and were not "
            "seen Online in the period (listed with 0)"
        )
    return lines


def _assignments(report: Report) -> list[str]:
    spread, live = report.assignments, live_by_agent(report.capacity)
    lines = ["", "Tickets assigned per agent"]
    if not spread.agents and not spread.online_without_tickets and not holders_outside(spread, report.capacity):
        return [*lines, "  no tickets assigned in the period"]
    ttfr_of = {s.dim.partition(":")[2]: s for s in report.ttfr.per_agent}
    heading = f"  {'AGENT':<20} {'ASSIGNED':>8} {'SHARE':>6}  {'REPLIES':>7}  {'MEDIAN':>8}  {'P90':>8}"
    lines.append(heading + (f"  {'LOAD NOW':>8}  {'CAP NOW':>7}" if live is not None else ""))
    for agent in spread.agents:
        stats = ttfr_of.get(agent.agent_id)
        share = 100 * agent.assigned / spread.total
        lines.append(
            f"  {agent.agent_id:<20} {agent.assigned:>8} {share:>5.1f}%  {stats.count if stats else 0:>7}  "
            f"{estimate(stats.median_seconds, stats.median_capped) if stats else '-':>8}  "
            f"{estimate(stats.p90_seconds, stats.p90_capped) if stats else '-':>8}{_live(live, agent.agent_id)}"
        )
    lines += _idle_rows(spread, live)
    lines += _holder_rows(report, live)
    if live is not None:
        lines.append(
            "  (LOAD NOW: open tickets assigned now; CAP NOW: capacity now, * the agent's own; not per period)"
        )
    if not spread.agents:
        return [*lines, "  no tickets assigned in the period"]
    lines.append(
        f"  total {spread.total} over {spread.counted_agents} agent(s) with >= 1 assignment "
        f"(agents with none are not counted): min {spread.min}, max {spread.max}, "
        f"spread (max - min) {spread.spread}, max/mean {spread.max_over_mean:.2f}"
    )
    return lines


def _ttfr_row(label: str, stats: TtfrStats) -> str:
    return (
        f"  {label:<28} {stats.count:>7}  {estimate(stats.median_seconds, stats.median_capped):>8}  "
        f"{estimate(stats.p90_seconds, stats.p90_capped):>8}  {duration(stats.mean_seconds):>8}"
    )


def _ttfr(ttfr: TtfrReport) -> list[str]:
    lines = [
        "",
        "Time to first reply, by the day the ticket arrived (median and p90 estimated from buckets, never above "
        "the largest reply time seen: '<=' marks one capped there; mean exact)",
        f"  {'':<28} {'REPLIES':>7}  {'MEDIAN':>8}  {'P90':>8}  {'MEAN':>8}",
    ]
    lines += [_ttfr_row(ttfr_label(stats), stats) for stats in [ttfr.overall, ttfr.rr_on, ttfr.rr_off]]
    comparison = rr_comparison(ttfr.rr_on, ttfr.rr_off)
    if comparison:
        lines.append(f"  ({comparison})")
    lines += [_ttfr_row(ttfr_label(stats), stats) for stats in [*ttfr.per_channel, *ttfr.per_agent]]
    return lines


def _waiting_queue(capacity: CapacityReport) -> list[str]:
    """Capacity and the waiting queue: shown only when the account has a capacity or the period used it."""
    if not capacity_shown(capacity):
        return []
    waited = capacity.waited
    lines = [
        "",
        "Capacity and the waiting queue (capacity and load are now; the counts are decisions made in the period)",
        f"  {capacity_summary(capacity)}",
    ]
    lines += [f"  {label:<46} {n:>7}" for label, n in waiting_counts(capacity)]
    lines += [
        "  Waiting time of the released tickets, arrival to assignment (filed when released; median and p90 "
        "estimated from buckets, mean exact)",
        f"  {'':<28} {'TICKETS':>7}  {'MEDIAN':>8}  {'P90':>8}  {'MEAN':>8}",
        f"  {'released':<28} {waited.count:>7}  {estimate(waited.median_seconds, waited.median_capped):>8}  "
        f"{estimate(waited.p90_seconds, waited.p90_capped):>8}  {duration(waited.mean_seconds):>8}",
    ]
    return lines


def _reassignments(report: ReassignmentReport) -> list[str]:
    """Reassignments (issue 16): shown only when the period had one."""
    if not reassignments_shown(report):
        return []
    lines = ["", "Reassignments (in the period)", f"  {'REASON':<46} {'TICKETS':>7}  {'WAITED':>7}"]
    lines += [f"  {label:<46} {n:>7}  {waited:>7}" for label, n, waited in reason_rows(report)]
    lines.append(f"  {'':<28} {'TICKETS':>7}  {'MEDIAN':>8}  {'P90':>8}  {'MEAN':>8}")
    lines += [f"  {row[0]:<28} {row[1]:>7}  {row[2]:>8}  {row[3]:>8}  {row[4]:>8}" for row in time_rows(report, "<=")]
    return lines


def _queue_table(queue: UnassignedQueue, zone: str | None) -> list[str]:
    runs = queue_runs(queue)
    if not runs:
        return ["  no hours in the period yet"]
    shown = runs[:MAX_QUEUE_ROWS]
    width = max(16, *(len(hour_label(hour, zone)) for first, last, _ in shown for hour in (first, last)))
    lines = [f"  {'FROM':<{width}}  {'TO (end of hour)':<{width}}  {'TOTAL':>5}  {'PEAK':>5}  BY CHANNEL:REASON"]
    for first, last, row in shown:
        lines.append(
            f"  {hour_label(first, zone):<{width}}  {hour_label(last, zone):<{width}}  {row.total:>5}  "
            f"{peak_of(row):>5}  {depth_text(row.depth)}"
        )
    if len(runs) > MAX_QUEUE_ROWS:
        lines.append(f"  ... {len(runs) - MAX_QUEUE_ROWS} more rows (see --json or --html)")
    return lines


def _spike_line(run: list[Spike], zone: str | None) -> str:
    """One run of spikes: its span (the end as a bare time when it is on the same day) and its top hour."""
    head, tail = run[0], run[-1]
    same_day = head.hour.date() == tail.hour.date()
    end = ""
    if len(run) > 1:
        label = hour_label(tail.hour, zone)
        end = f" .. {label[11:] if same_day else label}"  # the bare time (and local time) on the same day
    span = hour_label(head.hour, zone) + end
    top = max(run, key=spike_peak)
    return f"    {span:<{50 if zone else 36}} peak {spike_peak(top):>5}  {'+'.join(head.rules)}: {top.detail}"


def _queue(queue: UnassignedQueue, zone: str | None) -> list[str]:
    lines = [
        "",
        "Unassigned queue (TOTAL: depth at the end of each UTC hour; PEAK: the highest it reached within the hour; "
        "equal consecutive hours merged)",
    ]
    lines += _queue_table(queue, zone)
    lines.append(
        f"  median hourly peak {queue.median_total:g}; spike = peak >= {queue.level_threshold:g} "
        f"(max({SPIKE_LEVEL_MIN}, {SPIKE_LEVEL_FACTOR:g} x median)) or one channel:reason growing by "
        f">= {queue.surge_threshold} within the hour"
    )
    if queue.spikes:
        lines.append("  Spikes (consecutive hours with the same rule merged):")
        lines += [_spike_line(run, zone) for run in spike_runs(queue.spikes)]
    else:
        lines.append("  no spikes")
    lines.append(f"  now: {depth_text(queue.current)}")
    return lines


def _busiest_hours(report: Report) -> list[str]:
    lines = ["", "Busiest hours (tickets created in the hour, all channels) and who was Online"]
    if not report.busiest_hours:
        lines.append("  no arrivals in the period")
    for busy in report.busiest_hours:
        channels = ", ".join(f"{c} {n}" for c, n in busy.by_channel.items())
        online = online_text(busy.online, busy.online_count)
        lines.append(f"  {hour_label(busy.hour, report.time_zone)}  {busy.arrivals:>5} ({channels})  online: {online}")
    return lines


def _decisions(report: Report) -> list[str]:
    lines = ["", "Decisions (made in the period, whenever the tickets arrived)"]
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
            *_assignments(report),
            *_ttfr(report.ttfr),
            *_waiting_queue(report.capacity),
            *_reassignments(report.reassignments),
            *_queue(report.unassigned, report.time_zone),
            *_busiest_hours(report),
            *_decisions(report),
        ]
    )
