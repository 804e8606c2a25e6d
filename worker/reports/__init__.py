"""The manager's report: figures read from the per-day aggregates, rendered as text and HTML."""

from worker.reports.figures import format_text, load_report, resolve_period
from worker.reports.html import render_html

__all__ = ["format_text", "load_report", "render_html", "resolve_period"]
