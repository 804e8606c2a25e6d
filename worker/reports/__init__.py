"""The manager's report: figures read from the per-day aggregates, rendered as text and HTML."""
