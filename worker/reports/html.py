"""``helpdesk-rr report --html``: one self-contained page (inline CSS and SVG, no scripts, no network).

This module assembles the page: head, one function per section in page order, and the tables. The
charts it embeds are ``charts``; the wording shared with the terminal text is ``display``. The
markup is well-formed XML as well as HTML, so tests (and any XML tool) can parse it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from schemas.report import (
    AgentLoad,
    AssignmentSpread,
    CapacityReport,
    ReassignmentReport,
    Report,
    TtfrReport,
    TtfrStats,
    UnassignedQueue,
)
from worker.reports.charts import agent_bars_svg, queue_svg, ttfr_svg, waited_svg
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
    ttfr_label,
    waiting_counts,
    zone_note,
)
from worker.reports.reassign import SECTION_NOTE, reason_rows, reassignments_shown, time_rows
from worker.reports.unassigned import SPIKE_LEVEL_FACTOR, SPIKE_LEVEL_MIN, peak_of

NUMERIC = ' class="n"'
SPIKE_ROW = ' class="spike"'

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1000px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.meta, p.note { color: #555; margin: 0.3em 0; }
p.warn { color: #a00; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f6f6f6; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.spike td { background: #fdecea; }
td:first-child, td.t { white-space: nowrap; }
svg { display: block; margin: 0.6em 0; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg text.axis-title { font-style: italic; fill: #555; }
.side { display: flex; gap: 2em; flex-wrap: wrap; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """A table whose every cell is escaped; the ``numeric`` columns are right-aligned."""
    head = "".join(f"<th{NUMERIC if i in numeric else ''}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f"<td{NUMERIC if i in numeric else ''}>{_e(v)}</td>" for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _sentence(text: str) -> str:
    """``text`` with its first letter upper-case (``str.capitalize`` would lower-case a zone name)."""
    return text[:1].upper() + text[1:]


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _head(report: Report) -> list[str]:
    title = f"helpdesk-rr report: {report.account_id}, {report.day_from.isoformat()} to {report.day_to.isoformat()}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">UTC days, inclusive. Generated {_e(moment_label(report.generated_at, report.time_zone))}; '
        f"later hours are not shown. {_e(_sentence(zone_note(report.time_zone)))}. Arrivals and first replies "
        "are filed by when the ticket arrived; decisions, assignments and the queue by when they happened in "
        "helpdesk-rr. See docs/REPORTS.md for what each figure means.</p>",
    ]
    parts += [f'<p class="warn">warning: {_e(w)}</p>' for w in report.warnings]
    return parts


def _idle_note(spread: AssignmentSpread) -> str:
    idle = spread.online_without_tickets
    if not idle:
        return ""
    more = (
        f" ({len(idle) - IDLE_SHOWN:,} more not listed here; the JSON has them all)" if len(idle) > IDLE_SHOWN else ""
    )
    return _note(f"{len(idle)} agent(s) were Online in the period and got no ticket: listed with 0{more}.")


def _live_cells(live: Mapping[str, AgentLoad] | None, agent: str) -> list[object]:
    """The "load now" and "capacity now" cells of an agent's row (none when the account has no capacity)."""
    if live is None:
        return []
    row = live.get(agent)
    return [row.load if row else 0, capacity_text(row)]


def _agent_rows(report: Report, live: Mapping[str, AgentLoad] | None) -> list[list[object]]:
    """Agents with assignments, then those Online with none, then (with a capacity) those only holding
    open tickets or their own capacity: the latter two listed with 0, ``IDLE_SHOWN`` of each at most."""
    spread = report.assignments
    ttfr_of = {s.dim.partition(":")[2]: s for s in report.ttfr.per_agent}
    rows: list[list[object]] = []
    for agent in spread.agents:
        stats = ttfr_of.get(agent.agent_id)
        rows.append(
            [
                agent.agent_id,
                agent.assigned,
                f"{100 * agent.assigned / spread.total:.1f}%",
                stats.count if stats else 0,
                estimate(stats.median_seconds, stats.median_capped, "\u2264") if stats else "-",
                estimate(stats.p90_seconds, stats.p90_capped, "\u2264") if stats else "-",
                *_live_cells(live, agent.agent_id),
            ]
        )
    idle = spread.online_without_tickets[:IDLE_SHOWN]
    holders = [row.agent_id for row in holders_outside(spread, report.capacity)[:IDLE_SHOWN]]
    rows += [[agent, 0, "0.0%", 0, "-", "-", *_live_cells(live, agent)] for agent in [*idle, *holders]]
    return rows


def _live_note(report: Report, live: Mapping[str, AgentLoad] | None) -> str:
    if live is None:
        return ""
    holders = holders_outside(report.assignments, report.capacity)
    listed = (
        f" {len(holders)} agent(s) hold open tickets or their own capacity but got no ticket and were not seen "
        "Online in the period: listed with 0."
        if holders
        else ""
    )
    return _note(
        "Load now: open tickets assigned to the agent now; capacity now: their own capacity (marked *), else the "
        f"account's. Both are as they are now, not figures of the period.{_e(listed)}"
    )


def _assignments(report: Report) -> list[str]:
    spread, live = report.assignments, live_by_agent(report.capacity)
    parts = ["<h2>Tickets assigned per agent</h2>"]
    rows = _agent_rows(report, live)
    if not rows:
        return [*parts, _note("No tickets assigned in the period.")]
    idle = spread.online_without_tickets[:IDLE_SHOWN]
    bars = [(a.agent_id, a.assigned) for a in spread.agents] + [(agent, 0) for agent in idle]
    parts.append(agent_bars_svg(bars, "Tickets assigned per agent"))
    headers = ["agent", "assigned", "share", "replies", "TTFR median", "TTFR p90"]
    headers += ["load now", "capacity now"] if live is not None else []
    parts.append(_table(headers, rows, (1, 2, 3, 4, 5, 6, 7)))
    parts.append(_idle_note(spread))
    parts.append(_live_note(report, live))
    if not spread.agents:
        return [*parts, _note("No tickets assigned in the period.")]
    parts.append(
        _note(
            f"Total {spread.total} over {spread.counted_agents} agent(s) with at least one assignment "
            f"(agents with none are not counted): min {spread.min}, max {spread.max}, spread (max &#8722; min) "
            f"{spread.spread}, max / mean {spread.max_over_mean:.2f} (1.00 = perfectly even)."
        )
    )
    return parts


def _waiting_queue(capacity: CapacityReport) -> list[str]:
    """Capacity and the waiting queue: only when the account has a capacity or the period used it."""
    if not capacity_shown(capacity):
        return []
    waited = capacity.waited
    row: list[object] = [
        "released tickets",
        waited.count,
        estimate(waited.median_seconds, waited.median_capped, "\u2264"),
        estimate(waited.p90_seconds, waited.p90_capped, "\u2264"),
        duration(waited.mean_seconds),
    ]
    return [
        "<h2>Capacity and the waiting queue</h2>",
        _note(
            f"{_e(_sentence(capacity_summary(capacity)))}. Capacity and load are as they are now; the counts and "
            "waiting times are of the period (decisions made in it; a waiting time is filed when the ticket was "
            "released). The waiting time runs from the ticket's arrival to its assignment by the release; median "
            "and 90th percentile are estimated from the buckets (linear inside a bucket), the mean is exact."
        ),
        _table(["in the period", "tickets"], waiting_counts(capacity), (1,)),
        _table(["waiting time", "tickets", "median", "p90", "mean"], [row], (1, 2, 3, 4)),
        waited_svg(waited, "Waiting time of released tickets, arrival to assignment"),
    ]


def _reassignments(report: ReassignmentReport) -> list[str]:
    """Reassignments (issue 16): only when the period had one."""
    if not reassignments_shown(report):
        return []
    return [
        "<h2>Reassignments</h2>",
        _note(_e(SECTION_NOTE)),
        _table(["reason", "tickets", "waited"], reason_rows(report), (1, 2)),
        _table(["", "tickets", "median", "p90", "mean"], time_rows(report, "\u2264"), (1, 2, 3, 4)),
    ]


def _ttfr_rows(stats: Sequence[TtfrStats]) -> list[list[object]]:
    return [
        [
            ttfr_label(s),
            s.count,
            estimate(s.median_seconds, s.median_capped, "\u2264"),
            estimate(s.p90_seconds, s.p90_capped, "\u2264"),
            duration(s.mean_seconds),
        ]
        for s in stats
    ]


def _ttfr(ttfr: TtfrReport) -> list[str]:
    headers = ["", "replies", "median", "p90", "mean"]
    parts = [
        "<h2>Time to first reply</h2>",
        _note(
            "By the day the ticket arrived. Median and 90th percentile are estimated from the buckets (linear "
            "inside a bucket) and never shown above the largest reply time observed (&#8804; marks an estimate "
            "capped there); the mean is exact."
        ),
        '<div class="side">',
        _table(headers, _ttfr_rows([ttfr.rr_off, ttfr.rr_on]), (1, 2, 3, 4)),
        "</div>",
    ]
    comparison = rr_comparison(ttfr.rr_on, ttfr.rr_off)
    if comparison:
        parts.append(_note(f"{_e(comparison.capitalize())} (on relative to off)."))
    if ttfr.rr_off.count and ttfr.rr_on.count:
        parts.append(ttfr_svg([ttfr.rr_off, ttfr.rr_on], "TTFR distribution: round robin off versus on"))
    elif ttfr.overall.count:
        state = "on" if ttfr.rr_on.count else "off"
        parts.append(_note(f"Every reply was to a ticket that arrived with round robin {state}: nothing to compare."))
    parts.append(ttfr_svg([ttfr.overall], "TTFR distribution: all replies"))
    parts.append(_table(headers, _ttfr_rows([ttfr.overall, *ttfr.per_channel, *ttfr.per_agent]), (1, 2, 3, 4)))
    return parts


def _queue_runs_table(queue: UnassignedQueue, zone: str | None) -> str:
    """Every run of equal hours (no row limit, unlike the terminal); runs holding a spike are shaded."""
    runs = queue_runs(queue)
    if not runs:
        return ""
    spike_hours = {s.hour for s in queue.spikes}
    body = []
    for first, last, row in runs:
        spiky = any(first <= h <= last for h in spike_hours)
        body.append(
            f'<tr{SPIKE_ROW if spiky else ""}><td class="t">{_e(hour_label(first, zone))}</td>'
            f'<td class="t">{_e(hour_label(last, zone))}</td>'
            f'<td class="n">{row.total}</td><td class="n">{peak_of(row)}</td><td>{_e(depth_text(row.depth))}</td></tr>'
        )
    return (
        "<table><thead><tr><th>from (UTC)</th><th>to (end of hour)</th>"
        '<th class="n">total at the end</th><th class="n">peak within</th><th>by channel:reason</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _queue(queue: UnassignedQueue, zone: str | None) -> list[str]:
    parts = [
        "<h2>Unassigned queue over time</h2>",
        _note(
            f"Depth at the end of each UTC hour by channel:reason (carried forward from the last "
            f"change), and the peak: the highest total the queue reached within the hour (dark bars where it rose "
            f"above the end depth: tickets that waited and were assigned before the hour ended). Median hourly "
            f"peak {queue.median_total:g}. A spike is an hour whose peak is at least "
            f"{queue.level_threshold:g} (the larger of {SPIKE_LEVEL_MIN} and {SPIKE_LEVEL_FACTOR:g} &#215; the "
            f"median), or in which one channel:reason grew by at least {queue.surge_threshold}. "
            f"Now: {_e(depth_text(queue.current))}."
        ),
        queue_svg(queue, "Unassigned depth per hour, stacked by channel:reason, with the peak within each hour", zone),
    ]
    if queue.spikes:
        spikes = [
            [hour_label(s.hour, zone), s.total, max(s.total, s.peak_total or 0), "+".join(s.rules), s.detail]
            for s in queue.spikes
        ]
        parts.append(_table(["spike hour (UTC)", "total at the end", "peak", "rule", "why"], spikes, (1, 2)))
    else:
        parts.append(_note("No spikes."))
    parts.append(_queue_runs_table(queue, zone))
    return parts


def _busiest_hours(report: Report) -> list[str]:
    parts = ["<h2>Busiest hours and who was Online</h2>"]
    if not report.busiest_hours:
        return [*parts, _note("No arrivals in the period.")]
    rows: list[list[object]] = [
        [
            hour_label(b.hour, report.time_zone),
            b.arrivals,
            ", ".join(f"{c} {n}" for c, n in b.by_channel.items()),
            online_text(b.online, b.online_count),
        ]
        for b in report.busiest_hours
    ]
    return [*parts, _table(["hour (UTC)", "tickets created", "by channel", "online"], rows, (1,))]


def _decisions(report: Report) -> list[str]:
    parts = ["<h2>Decisions (made in the period)</h2>"]
    if not report.decisions:
        return [*parts, _note("No decisions in the period.")]
    rows: list[list[object]] = [[d.outcome, d.reason, d.count] for d in report.decisions]
    rows.append(["total", "", sum(d.count for d in report.decisions)])
    return [*parts, _table(["outcome", "reason", "count"], rows, (2,))]


def render_html(report: Report) -> str:
    """The whole page as one string; a section with nothing to draw leaves no empty line."""
    out = [
        *_head(report),
        *_assignments(report),
        *_ttfr(report.ttfr),
        *_waiting_queue(report.capacity),
        *_reassignments(report.reassignments),
        *_queue(report.unassigned, report.time_zone),
        *_busiest_hours(report),
        *_decisions(report),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(part for part in out if part)
