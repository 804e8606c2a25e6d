"""``helpdesk-rr report --html``: one self-contained page (inline CSS and SVG, no scripts, no network).

The markup is well-formed XML as well as HTML, so tests (and any XML tool) can parse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from html import escape

from schemas.common import utc_iso
from schemas.report import Report, TtfrBucket, TtfrStats, UnassignedQueue
from worker.reports.figures import (
    SPIKE_LEVEL_FACTOR,
    SPIKE_LEVEL_MIN,
    depth_text,
    duration,
    hour_label,
    queue_runs,
    rr_comparison,
    ttfr_label,
)

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
SPIKE_COLOUR = "#d62728"
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
svg { display: block; margin: 0.6em 0; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
.side { display: flex; gap: 2em; flex-wrap: wrap; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}"


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{_f(x)}" y="{_f(y + i * 16)}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{_f(x + 14)}" y="{_f(y + i * 16 + 9)}">{_e(name)}</text>')
    return parts


def agent_bars_svg(items: Sequence[tuple[str, int]], title: str) -> str:
    """Horizontal bars, one per agent."""
    if not items:
        return ""
    label_width, bar_width, row = 160.0, 560.0, 22.0
    height = row * len(items) + 30
    top = max(value for _, value in items) or 1
    parts = [
        f'<svg role="img" aria-label="{_e(title)}" width="{_f(label_width + bar_width + 60)}" '
        f'height="{_f(height)}" viewBox="0 0 {_f(label_width + bar_width + 60)} {_f(height)}">',
        f"<title>{_e(title)}</title>",
    ]
    for i, (label, value) in enumerate(items):
        y = 10 + i * row
        width = bar_width * value / top
        parts.append(f'<text x="{_f(label_width - 6)}" y="{_f(y + 14)}" text-anchor="end">{_e(label)}</text>')
        parts.append(
            f'<rect x="{_f(label_width)}" y="{_f(y + 2)}" width="{_f(width)}" height="{_f(row - 6)}" '
            f'fill="{PALETTE[0]}"><title>{_e(label)}: {value}</title></rect>'
        )
        parts.append(f'<text x="{_f(label_width + width + 4)}" y="{_f(y + 14)}">{value}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def queue_svg(queue: UnassignedQueue, title: str) -> str:
    """Stacked step areas: the depth of each channel:reason at the end of each hour; spikes marked."""
    if not queue.hours or not queue.series:
        return ""
    left, right, top_pad, plot_h, plot_w = 50.0, 20.0, 16.0, 220.0, 700.0
    legend_w = 240.0
    width, height = left + plot_w + right + legend_w, top_pad + plot_h + 40
    count = len(queue.hours)
    step = plot_w / count
    peak_total = max(max(row.total for row in queue.hours), 1)

    def y_of(value: float) -> float:
        return top_pad + plot_h - plot_h * value / peak_total

    parts = [
        f'<svg role="img" aria-label="{_e(title)}" width="{_f(width)}" height="{_f(height)}" '
        f'viewBox="0 0 {_f(width)} {_f(height)}">',
        f"<title>{_e(title)}</title>",
    ]
    base = [0] * count
    for s, name in enumerate(queue.series):
        tops = [base[i] + queue.hours[i].depth.get(name, 0) for i in range(count)]
        if tops != base:
            upper = []
            for i in range(count):
                upper += [(left + i * step, y_of(tops[i])), (left + (i + 1) * step, y_of(tops[i]))]
            lower = []
            for i in reversed(range(count)):
                lower += [(left + (i + 1) * step, y_of(base[i])), (left + i * step, y_of(base[i]))]
            points = " ".join(f"{_f(x)},{_f(y)}" for x, y in upper + lower)
            parts.append(
                f'<polygon points="{points}" fill="{PALETTE[s % len(PALETTE)]}" fill-opacity="0.85">'
                f"<title>{_e(name)}</title></polygon>"
            )
        base = tops
    # axes
    parts.append(
        f'<line x1="{_f(left)}" y1="{_f(top_pad + plot_h)}" x2="{_f(left + plot_w)}" y2="{_f(top_pad + plot_h)}" '
        'stroke="#555"/>'
    )
    parts.append(
        f'<line x1="{_f(left)}" y1="{_f(top_pad)}" x2="{_f(left)}" y2="{_f(top_pad + plot_h)}" stroke="#555"/>'
    )
    for value in sorted({0, peak_total // 2, peak_total}):
        y = y_of(value)
        parts.append(f'<text x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end">{value}</text>')
        parts.append(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" stroke="#eee"/>')
    days = [i for i, row in enumerate(queue.hours) if row.hour.astimezone(UTC).hour == 0 or i == 0]
    every = max(1, len(days) // 10)
    for n, i in enumerate(days):
        x = left + i * step
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(top_pad + plot_h)}" x2="{_f(x)}" y2="{_f(top_pad + plot_h + 4)}" '
            'stroke="#555"/>'
        )
        if n % every == 0:
            label = queue.hours[i].hour.astimezone(UTC).strftime("%m-%d")
            parts.append(f'<text x="{_f(x + 2)}" y="{_f(top_pad + plot_h + 16)}">{label}</text>')
    index = {row.hour: i for i, row in enumerate(queue.hours)}
    for spike in queue.spikes:
        position = index.get(spike.hour)
        if position is None:
            continue
        x, y = left + (position + 0.5) * step, y_of(spike.total) - 3
        parts.append(
            f'<polygon points="{_f(x - 4)},{_f(y - 7)} {_f(x + 4)},{_f(y - 7)} {_f(x)},{_f(y)}" '
            f'fill="{SPIKE_COLOUR}"><title>spike {_e(hour_label(spike.hour))}: {_e(spike.detail)}</title></polygon>'
        )
    parts += _legend([*queue.series], left + plot_w + right + 10, top_pad)
    parts.append(
        f'<text x="{_f(left + plot_w + right + 10)}" y="{_f(top_pad + 16 * len(queue.series) + 12)}" '
        f'fill="{SPIKE_COLOUR}">&#9660; spike</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def short_duration(seconds: int) -> str:
    """A bucket bound as the shortest exact unit: 60 -> 1m, 7200 -> 2h, 172800 -> 2d, 90 -> 90s."""
    for unit, name in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= unit and seconds % unit == 0:
            return f"{seconds // unit}{name}"
    return f"{seconds}s"


def bucket_label(bucket: TtfrBucket, previous: int | None) -> str:
    if bucket.upper_seconds is None:
        return f">{short_duration(previous)}" if previous is not None else "any"
    return f"\u2264{short_duration(bucket.upper_seconds)}"


def ttfr_svg(series: Sequence[TtfrStats], title: str) -> str:
    """Grouped bars per TTFR bucket: the share of each series' replies in the bucket."""
    shown = [s for s in series if s.count > 0]
    if not shown:
        return ""
    buckets = shown[0].buckets
    labels, previous = [], None
    for bucket in buckets:
        labels.append(bucket_label(bucket, previous))
        previous = bucket.upper_seconds
    left, top_pad, plot_h, group_w = 40.0, 16.0, 180.0, 54.0
    plot_w = group_w * len(buckets)
    width, height = left + plot_w + 220, top_pad + plot_h + 40
    bar_w = (group_w - 8) / len(shown)
    parts = [
        f'<svg role="img" aria-label="{_e(title)}" width="{_f(width)}" height="{_f(height)}" '
        f'viewBox="0 0 {_f(width)} {_f(height)}">',
        f"<title>{_e(title)}</title>",
        f'<line x1="{_f(left)}" y1="{_f(top_pad + plot_h)}" x2="{_f(left + plot_w)}" y2="{_f(top_pad + plot_h)}" '
        'stroke="#555"/>',
    ]
    shares = [[b.count / s.count for b in s.buckets] for s in shown]
    top = max(max(row) for row in shares) or 1.0
    for value in (0.0, top / 2, top):
        y = top_pad + plot_h - plot_h * value / top
        parts.append(f'<text x="{_f(left - 4)}" y="{_f(y + 4)}" text-anchor="end">{value * 100:.0f}%</text>')
    for b, label in enumerate(labels):
        x0 = left + b * group_w + 4
        for s, stats in enumerate(shown):
            share = shares[s][b]
            h = plot_h * share / top
            parts.append(
                f'<rect x="{_f(x0 + s * bar_w)}" y="{_f(top_pad + plot_h - h)}" width="{_f(bar_w)}" height="{_f(h)}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{_e(ttfr_label(stats))} {_e(label)}: '
                f"{stats.buckets[b].count} ({share * 100:.1f}%)</title></rect>"
            )
        parts.append(
            f'<text x="{_f(x0 + (group_w - 8) / 2)}" y="{_f(top_pad + plot_h + 14)}" text-anchor="middle">'
            f"{_e(label)}</text>"
        )
    parts += _legend([f"{ttfr_label(s)} (n={s.count})" for s in shown], left + plot_w + 16, top_pad)
    parts.append("</svg>")
    return "\n".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th{NUMERIC if i in numeric else ''}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f"<td{NUMERIC if i in numeric else ''}>{_e(v)}</td>" for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _ttfr_rows(stats: Sequence[TtfrStats]) -> list[list[object]]:
    return [
        [ttfr_label(s), s.count, duration(s.median_seconds), duration(s.p90_seconds), duration(s.mean_seconds)]
        for s in stats
    ]


def render_html(report: Report) -> str:
    """The whole page as one string."""
    title = f"helpdesk-rr report: {report.account_id}, {report.day_from.isoformat()} to {report.day_to.isoformat()}"
    out: list[str] = [
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
        f'<p class="meta">UTC days, inclusive. Generated {_e(utc_iso(report.generated_at))}; '
        "later hours are not shown. See docs/REPORTS.md for what each figure means.</p>",
    ]
    out += [f'<p class="warn">warning: {_e(w)}</p>' for w in report.warnings]

    spread = report.assignments
    out.append("<h2>Tickets assigned per agent</h2>")
    if spread.agents:
        out.append(agent_bars_svg([(a.agent_id, a.assigned) for a in spread.agents], "Tickets assigned per agent"))
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
                    duration(stats.median_seconds if stats else None),
                    duration(stats.p90_seconds if stats else None),
                ]
            )
        out.append(_table(["agent", "assigned", "share", "replies", "TTFR median", "TTFR p90"], rows, (1, 2, 3, 4, 5)))
        out.append(
            f'<p class="note">Total {spread.total} over {spread.counted_agents} agent(s) with at least one assignment '
            f"(agents with none are not counted): min {spread.min}, max {spread.max}, spread (max &#8722; min) "
            f"{spread.spread}, max / mean {spread.max_over_mean:.2f} (1.00 = perfectly even).</p>"
        )
    else:
        out.append('<p class="note">No tickets assigned in the period.</p>')

    ttfr = report.ttfr
    out.append("<h2>Time to first reply</h2>")
    out.append(
        '<p class="note">Median and 90th percentile are estimated from the buckets (linear inside a bucket); '
        "the mean is exact.</p>"
    )
    out.append('<div class="side">')
    out.append(_table(["", "replies", "median", "p90", "mean"], _ttfr_rows([ttfr.rr_off, ttfr.rr_on]), (1, 2, 3, 4)))
    out.append("</div>")
    comparison = rr_comparison(ttfr.rr_on, ttfr.rr_off)
    if comparison:
        out.append(f'<p class="note">{_e(comparison.capitalize())} (on relative to off).</p>')
    out.append(ttfr_svg([ttfr.rr_off, ttfr.rr_on], "TTFR distribution: round robin off versus on"))
    out.append(ttfr_svg([ttfr.overall], "TTFR distribution: all replies"))
    out.append(
        _table(
            ["", "replies", "median", "p90", "mean"],
            _ttfr_rows([ttfr.overall, *ttfr.per_channel, *ttfr.per_agent]),
            (1, 2, 3, 4),
        )
    )

    queue = report.unassigned
    out.append("<h2>Unassigned queue over time</h2>")
    out.append(
        f'<p class="note">Depth at the end of each UTC hour by channel:reason (carried forward from the last '
        f"change). Median hourly total {queue.median_total:g}. A spike is an hour whose total is at least "
        f"{queue.level_threshold:g} (the larger of {SPIKE_LEVEL_MIN} and {SPIKE_LEVEL_FACTOR:g} &#215; the median), "
        f"or in which one channel:reason grew by at least {queue.surge_threshold}. "
        f"Now: {_e(depth_text(queue.current))}.</p>"
    )
    out.append(queue_svg(queue, "Unassigned depth per hour, stacked by channel:reason"))
    if queue.spikes:
        out.append(
            _table(
                ["spike hour (UTC)", "total", "rule", "why"],
                [[hour_label(s.hour), s.total, "+".join(s.rules), s.detail] for s in queue.spikes],
                (1,),
            )
        )
    else:
        out.append('<p class="note">No spikes.</p>')
    spike_hours = {s.hour for s in queue.spikes}
    runs = queue_runs(queue)
    if runs:
        body = []
        for first, last, row in runs:
            spiky = any(first <= h <= last for h in spike_hours)
            body.append(
                f"<tr{SPIKE_ROW if spiky else ''}><td>{_e(hour_label(first))}</td>"
                f"<td>{_e(hour_label(last))}</td>"
                f'<td class="n">{row.total}</td><td>{_e(depth_text(row.depth))}</td></tr>'
            )
        out.append(
            "<table><thead><tr><th>from (UTC)</th><th>to (end of hour)</th>"
            '<th class="n">total</th><th>by channel:reason</th></tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
        )

    out.append("<h2>Busiest hours and who was Online</h2>")
    if report.busiest_hours:
        out.append(
            _table(
                ["hour (UTC)", "arrivals", "by channel", "online"],
                [
                    [
                        hour_label(b.hour),
                        b.arrivals,
                        ", ".join(f"{c} {n}" for c, n in b.by_channel.items()),
                        ", ".join(b.online) or "nobody",
                    ]
                    for b in report.busiest_hours
                ],
                (1,),
            )
        )
    else:
        out.append('<p class="note">No arrivals in the period.</p>')

    out.append("<h2>Decisions</h2>")
    if report.decisions:
        out.append(
            _table(
                ["outcome", "reason", "count"],
                [[d.outcome, d.reason, d.count] for d in report.decisions]
                + [["total", "", sum(d.count for d in report.decisions)]],
                (2,),
            )
        )
    else:
        out.append('<p class="note">No decisions in the period.</p>')
    out += ["</body>", "</html>", ""]
    return "\n".join(part for part in out if part)
