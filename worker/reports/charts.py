"""The SVG charts of the HTML report: agent bars, the stacked unassigned-queue chart, TTFR histograms and
the waiting time of tickets released from the waiting queue.

Each chart is a function from report figures to one ``<svg>`` string (empty when there is nothing
to draw), drawn by hand rather than with a plotting library so the page stays self-contained and
well-formed XML. Page layout and tables are ``html``. Every chart titles both axes, and a legend lists
only series that have something drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from html import escape

from schemas.report import QueueHour, TtfrBucket, TtfrStats, UnassignedQueue, WaitTimes
from worker.reports.display import depth_text, hour_label, ttfr_label
from worker.reports.unassigned import peak_of

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
SPIKE_COLOUR = "#d62728"
PEAK_COLOUR = "#333333"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _f(value: float) -> str:
    """Coordinates to one decimal: enough on screen, and the markup stays short and stable."""
    return f"{value:.1f}"


def _svg_open(title: str, width: float, height: float) -> list[str]:
    """The opening tag (accessible name and size) and the title every chart carries."""
    return [
        f'<svg role="img" aria-label="{_e(title)}" width="{_f(width)}" height="{_f(height)}" '
        f'viewBox="0 0 {_f(width)} {_f(height)}">',
        f"<title>{_e(title)}</title>",
    ]


def _legend(names: Sequence[str], x: float, y: float, colours: Sequence[int] | None = None) -> list[str]:
    """One swatch per name; ``colours`` (palette indexes) when the names are not the first series in order."""
    parts = []
    for i, name in enumerate(names):
        colour = PALETTE[(colours[i] if colours is not None else i) % len(PALETTE)]
        parts.append(f'<rect x="{_f(x)}" y="{_f(y + i * 16)}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{_f(x + 14)}" y="{_f(y + i * 16 + 9)}">{_e(name)}</text>')
    return parts


def _axis_titles(x_title: str, y_title: str, x_mid: float, x_baseline: float, y_mid: float) -> list[str]:
    """The x axis title centred under the plot, the y axis title turned along the left edge."""
    return [
        f'<text class="axis-title" x="{_f(x_mid)}" y="{_f(x_baseline)}" text-anchor="middle">{_e(x_title)}</text>',
        f'<text class="axis-title" x="12" y="{_f(y_mid)}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_f(y_mid)})">{_e(y_title)}</text>',
    ]


# --- agents ----------------------------------------------------------------------------------------


def agent_bars_svg(items: Sequence[tuple[str, int]], title: str) -> str:
    """Horizontal bars, one per agent."""
    if not items:
        return ""
    label_width, bar_width, row = 160.0, 560.0, 22.0
    height = row * len(items) + 46
    top = max(value for _, value in items) or 1
    parts = _svg_open(title, label_width + bar_width + 60, height)
    parts += _axis_titles(
        "tickets assigned in the period", "agent", label_width + bar_width / 2, height - 8, (height - 30) / 2
    )
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


# --- unassigned queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _QueuePlot:
    """The queue chart's geometry: one step of ``step`` pixels per hour, y scaled to the highest total."""

    count: int
    peak_total: int
    left: float = 50.0
    right: float = 20.0
    top_pad: float = 16.0
    plot_h: float = 220.0
    plot_w: float = 700.0
    legend_w: float = 240.0

    @property
    def step(self) -> float:
        return self.plot_w / self.count

    @property
    def bottom(self) -> float:
        return self.top_pad + self.plot_h

    def y_of(self, value: float) -> float:
        return self.top_pad + self.plot_h - self.plot_h * value / self.peak_total


def _queue_areas(queue: UnassignedQueue, plot: _QueuePlot) -> tuple[list[str], list[int]]:
    """One step-shaped polygon per channel:reason, stacked on the ones before it; and the indexes of the
    series drawn (a series at 0 in every shown hour has no area, so no legend entry either)."""
    parts, drawn = [], []
    left, step, count = plot.left, plot.step, plot.count
    base = [0] * count
    for s, name in enumerate(queue.series):
        tops = [base[i] + queue.hours[i].depth.get(name, 0) for i in range(count)]
        if tops != base:
            upper = []
            for i in range(count):
                upper += [(left + i * step, plot.y_of(tops[i])), (left + (i + 1) * step, plot.y_of(tops[i]))]
            lower = []
            for i in reversed(range(count)):
                lower += [(left + (i + 1) * step, plot.y_of(base[i])), (left + i * step, plot.y_of(base[i]))]
            points = " ".join(f"{_f(x)},{_f(y)}" for x, y in upper + lower)
            parts.append(
                f'<polygon points="{points}" fill="{PALETTE[s % len(PALETTE)]}" fill-opacity="0.85">'
                f"<title>{_e(name)}</title></polygon>"
            )
            drawn.append(s)
        base = tops
    return parts, drawn


def _peak_title(row: QueueHour, zone: str | None) -> str:
    return (
        f"{hour_label(row.hour, zone)}: peak {peak_of(row)} within the hour "
        f"(by channel:reason: {depth_text(row.peak)}), {row.total} at its end"
    )


def _queue_peaks(queue: UnassignedQueue, plot: _QueuePlot, zone: str | None) -> list[str]:
    """For each hour whose queue rose above its end depth, a dark bar from the end depth up to the peak
    (at least 2 px wide, so a burst shows even with many hours on the chart)."""
    parts = []
    width = max(plot.step, 2.0)
    for i, row in enumerate(queue.hours):
        peak = peak_of(row)
        if peak <= row.total:
            continue
        x = plot.left + i * plot.step + (plot.step - width) / 2
        top, bottom = plot.y_of(peak), plot.y_of(row.total)
        parts.append(
            f'<rect class="peak" x="{_f(x)}" y="{_f(top)}" width="{_f(width)}" height="{_f(bottom - top)}" '
            f'fill="{PEAK_COLOUR}" fill-opacity="0.45" stroke="{PEAK_COLOUR}" stroke-width="0.5">'
            f"<title>{_e(_peak_title(row, zone))}</title></rect>"
        )
    return parts


def _queue_axes(plot: _QueuePlot) -> list[str]:
    """Both axes, and gridlines labelled 0, half and the highest total."""
    left, top_pad, plot_w, bottom = plot.left, plot.top_pad, plot.plot_w, plot.bottom
    parts = [
        f'<line x1="{_f(left)}" y1="{_f(bottom)}" x2="{_f(left + plot_w)}" y2="{_f(bottom)}" stroke="#555"/>',
        f'<line x1="{_f(left)}" y1="{_f(top_pad)}" x2="{_f(left)}" y2="{_f(bottom)}" stroke="#555"/>',
    ]
    parts += _axis_titles(
        "hour (UTC; ticks at midnight)", "unassigned tickets", left + plot_w / 2, bottom + 32, top_pad + plot.plot_h / 2
    )
    for value in sorted({0, plot.peak_total // 2, plot.peak_total}):
        y = plot.y_of(value)
        parts.append(f'<text x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end">{value}</text>')
        parts.append(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" stroke="#eee"/>')
    return parts


def _queue_day_ticks(queue: UnassignedQueue, plot: _QueuePlot) -> list[str]:
    """A tick at each midnight; labels on at most about ten of them so they do not overlap."""
    parts = []
    days = [i for i, row in enumerate(queue.hours) if row.hour.astimezone(UTC).hour == 0 or i == 0]
    every = max(1, len(days) // 10)
    for n, i in enumerate(days):
        x = plot.left + i * plot.step
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(plot.bottom)}" x2="{_f(x)}" y2="{_f(plot.bottom + 4)}" stroke="#555"/>'
        )
        if n % every == 0:
            label = queue.hours[i].hour.astimezone(UTC).strftime("%m-%d")
            parts.append(f'<text x="{_f(x + 2)}" y="{_f(plot.bottom + 16)}">{label}</text>')
    return parts


def _queue_spike_marks(queue: UnassignedQueue, plot: _QueuePlot, zone: str | None) -> list[str]:
    """A small red triangle above each spike hour's peak, its tooltip saying why."""
    parts = []
    index = {row.hour: i for i, row in enumerate(queue.hours)}
    for spike in queue.spikes:
        position = index.get(spike.hour)
        if position is None:
            continue
        x, y = plot.left + (position + 0.5) * plot.step, plot.y_of(peak_of(queue.hours[position])) - 3
        parts.append(
            f'<polygon class="spike" points="{_f(x - 4)},{_f(y - 7)} {_f(x + 4)},{_f(y - 7)} {_f(x)},{_f(y)}" '
            f'fill="{SPIKE_COLOUR}"><title>spike {_e(hour_label(spike.hour, zone))}: {_e(spike.detail)}</title>'
            "</polygon>"
        )
    return parts


def queue_svg(queue: UnassignedQueue, title: str, zone: str | None = None) -> str:
    """Stacked step areas: the depth of each channel:reason at the end of each hour; a dark bar up to the
    hour's peak where the queue rose above its end depth within the hour; spikes marked."""
    if not queue.hours or not queue.series:
        return ""
    plot = _QueuePlot(count=len(queue.hours), peak_total=max(max(peak_of(row) for row in queue.hours), 1))
    legend_x = plot.left + plot.plot_w + plot.right + 10
    parts = _svg_open(title, plot.left + plot.plot_w + plot.right + plot.legend_w, plot.bottom + 44)
    areas, drawn = _queue_areas(queue, plot)
    peaks = _queue_peaks(queue, plot, zone)
    parts += areas + peaks
    parts += _queue_axes(plot)
    parts += _queue_day_ticks(queue, plot)
    parts += _queue_spike_marks(queue, plot, zone)
    parts += _legend([queue.series[s] for s in drawn], legend_x, plot.top_pad, drawn)
    y = plot.top_pad + 16 * len(drawn)
    if peaks:
        parts.append(
            f'<rect x="{_f(legend_x)}" y="{_f(y)}" width="10" height="10" fill="{PEAK_COLOUR}" fill-opacity="0.45"/>'
        )
        parts.append(f'<text x="{_f(legend_x + 14)}" y="{_f(y + 9)}">peak within the hour</text>')
        y += 16
    if queue.spikes:
        parts.append(f'<text x="{_f(legend_x)}" y="{_f(y + 12)}" fill="{SPIKE_COLOUR}">&#9660; spike</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# --- histograms: time to first reply, waiting time ------------------------------------------------


def short_duration(seconds: int) -> str:
    """A bucket bound as the shortest exact unit: 60 -> 1m, 7200 -> 2h, 172800 -> 2d, 90 -> 90s."""
    for unit, name in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= unit and seconds % unit == 0:
            return f"{seconds // unit}{name}"
    return f"{seconds}s"


def bucket_label(bucket: TtfrBucket, previous: int | None) -> str:
    """``≤5m`` for a bounded bucket; the unbounded one is ``>2d`` (above the previous bound)."""
    if bucket.upper_seconds is None:
        return f">{short_duration(previous)}" if previous is not None else "any"
    return f"\u2264{short_duration(bucket.upper_seconds)}"


def _bucket_labels(buckets: Sequence[TtfrBucket]) -> list[str]:
    labels, previous = [], None
    for bucket in buckets:
        labels.append(bucket_label(bucket, previous))
        previous = bucket.upper_seconds
    return labels


def ttfr_svg(series: Sequence[TtfrStats], title: str) -> str:
    """Grouped bars per TTFR bucket: the share of each series' replies in the bucket."""
    named = [(ttfr_label(s), s.count, s.buckets) for s in series]
    return histogram_svg(named, title, "time to first reply (bucket)", "share of the series' replies")


def waited_svg(waited: WaitTimes, title: str) -> str:
    """Bars per bucket: the share of the released tickets that waited that long (arrival to assignment)."""
    named = [("released tickets", waited.count, waited.buckets)]
    return histogram_svg(named, title, "waiting time, arrival to assignment (bucket)", "share of released tickets")


def histogram_svg(
    series: Sequence[tuple[str, int, Sequence[TtfrBucket]]], title: str, x_title: str, y_title: str
) -> str:
    """Grouped bars per bucket of (name, count, buckets) series, all in the same bounds: each series' share
    of its count in each bucket (series with no count are left out)."""
    shown = [s for s in series if s[1] > 0]
    if not shown:
        return ""
    buckets = shown[0][2]
    labels = _bucket_labels(buckets)
    left, top_pad, plot_h, group_w = 40.0, 16.0, 180.0, 54.0
    plot_w = group_w * len(buckets)
    bar_w = (group_w - 8) / len(shown)
    left += 16  # room for the y axis title
    parts = _svg_open(title, left + plot_w + 220, top_pad + plot_h + 56)
    parts += _axis_titles(x_title, y_title, left + plot_w / 2, top_pad + plot_h + 34, top_pad + plot_h / 2)
    parts.append(
        f'<line x1="{_f(left)}" y1="{_f(top_pad + plot_h)}" x2="{_f(left + plot_w)}" y2="{_f(top_pad + plot_h)}" '
        'stroke="#555"/>'
    )
    shares = [[b.count / total for b in bars] for _, total, bars in shown]
    top = max(max(row) for row in shares) or 1.0
    for value in (0.0, top / 2, top):
        y = top_pad + plot_h - plot_h * value / top
        parts.append(f'<text x="{_f(left - 4)}" y="{_f(y + 4)}" text-anchor="end">{value * 100:.0f}%</text>')
    for b, label in enumerate(labels):
        x0 = left + b * group_w + 4
        for s, (name, _total, bars) in enumerate(shown):
            share = shares[s][b]
            h = plot_h * share / top
            parts.append(
                f'<rect class="bar" x="{_f(x0 + s * bar_w)}" y="{_f(top_pad + plot_h - h)}" width="{_f(bar_w)}" '
                f'height="{_f(h)}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{_e(name)} {_e(label)}: '
                f"{bars[b].count} ({share * 100:.1f}%)</title></rect>"
            )
        parts.append(
            f'<text x="{_f(x0 + (group_w - 8) / 2)}" y="{_f(top_pad + plot_h + 14)}" text-anchor="middle">'
            f"{_e(label)}</text>"
        )
    parts += _legend([f"{name} (n={total})" for name, total, _ in shown], left + plot_w + 16, top_pad)
    parts.append("</svg>")
    return "\n".join(parts)
