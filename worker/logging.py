"""structlog set-up, done once at an entry point (CLI, worker): JSON off a terminal, readable on one."""

from __future__ import annotations

import logging
import sys

import structlog

from worker.redaction import redacted


def redact_values(_logger: object, _method: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """Every string of a log line (an exception's text included) with URL credentials redacted."""
    return {key: redacted(value) if isinstance(value, str) else value for key, value in event_dict.items()}


def configure_logging(json: bool | None = None, level: str = "INFO") -> None:
    """Route structlog (and RQ's stdlib logging) to stderr.

    Args:
        json: force JSON (True) or console (False) output; None picks by whether stderr is a TTY.
        level: minimum level for our own lines; RQ's chatter is kept at WARNING and above.
    """
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info if use_json else structlog.processors.StackInfoRenderer(),
            redact_values,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,  # entry points may reconfigure (the demo quietens it)
    )
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("rq").setLevel(logging.WARNING)
