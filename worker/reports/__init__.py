"""The manager's report: figures read from the per-day aggregates, rendered as text and HTML.

Entry points for the CLI and the control API (``from worker.reports import ...``):
``resolve_period`` turns ``--from``/``--to`` into days, ``load_report`` reads Redis and computes the
``Report`` (schemas/report.py), ``format_text`` and ``render_html`` render it.

The room, by job:

- ``period``: the reported days (option parsing, day and hour arithmetic)
- ``stats_fields``: the per-day stats hash fields (docs/STATS.md) parsed into totals
- ``figures``: reading Redis and computing the assignment, TTFR, busiest-hour and decision figures
- ``buckets``: bucketed histograms and the one percentile estimate (TTFR, waiting time)
- ``capacity``: load and capacity now, and the waiting queue's releases, waiting time and reasons
- ``unassigned``: the unassigned-queue figure and the spike rule
- ``display``: wording shared by both renderings (durations, hours, depths, runs)
- ``text``: the terminal rendering
- ``charts``: the SVG charts
- ``html``: the HTML page around them
"""

from __future__ import annotations

from worker.reports.figures import load_report
from worker.reports.html import render_html
from worker.reports.period import resolve_period
from worker.reports.text import format_text

__all__ = ["format_text", "load_report", "render_html", "resolve_period"]
