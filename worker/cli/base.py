"""The CLI's frame: the ``helpdesk-rr`` group, its context and how refusals become one line.

Refused actions (permissions, validation, unknown users, unreachable Redis) exit 1 with one line on
stderr and no traceback; usage errors exit 2 (click's convention). Commands call the control API
(``worker.api.Helpdesk``) for everything that reads or changes helpdesk state.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from producers.queue import QUEUE_NAME
from schemas.common import check_id
from worker.api import Helpdesk, HelpdeskError
from worker.api.refusals import typed_refusals
from worker.config import Settings
from worker.logging import configure_logging
from worker.redaction import redacted


class Context:
    """Builds the ``Helpdesk`` on first use, so ``schemas export`` and ``--help`` never start a Redis
    server, and a bad environment variable is reported as one line by the command that needs it."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis_url = redis_url
        self._helpdesk: Helpdesk | None = None

    @property
    def helpdesk(self) -> Helpdesk:
        if self._helpdesk is None:
            self._helpdesk = Helpdesk.from_env(redis_url=self._redis_url)
        return self._helpdesk

    @property
    def settings(self) -> Settings:
        return self.helpdesk.config

    def where(self) -> str:
        """The Redis for an error message (credentials redacted), without resolving (or starting) anything."""
        if self._helpdesk is not None and self._helpdesk._topology is not None:
            return redacted(self._helpdesk.topology.state_url)
        return redacted(self._redis_url or "the configured Redis")


def fail(message: str) -> NoReturn:
    click.echo(f"error: {redacted(message)}", err=True)
    sys.exit(1)


@contextmanager
def refusals(ctx: Context | None = None) -> Iterator[None]:
    """Turn every expected failure into one line on stderr and exit status 1."""
    try:
        with typed_refusals(ctx.where if ctx is not None else lambda: "the configured Redis"):
            yield
    except HelpdeskError as error:
        fail(str(error))


def ids(**values: str) -> None:
    """Refuse a bad id before anything else is looked at (the API checks again; the order of the
    messages a user sees stays the same)."""
    for field, value in values.items():
        check_id(field, value)


def no_worker_line(ctx: Context, account: str) -> None:
    """Say at once, on stderr, when no worker serves the account's queue: its jobs would just wait."""
    if not ctx.helpdesk.workers_alive(account):
        click.echo(f"no worker is running for queue {QUEUE_NAME}; start one with `helpdesk-rr worker`", err=True)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


pass_context = click.make_pass_decorator(Context)


class OneLineErrors(click.Group):
    """click, but every usage error is one line on stderr (exit 2): an argument holding a newline
    must not spread the message over several lines, and scripts read the last line."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        try:
            super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.UsageError as error:
            click.echo("Error: " + redacted(" ".join(error.format_message().split())), err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            click.echo("error: " + redacted(" ".join(error.format_message().split())), err=True)
            sys.exit(error.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        sys.exit(0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--redis-url", envvar="REDIS_URL", default=None, help="Redis URL (default: $REDIS_URL, else embedded).")
@click.option("--log-json/--log-console", default=None, help="Log format (default: JSON unless on a terminal).")
@click.option("-v", "--verbose", is_flag=True, help="Also write info log lines on stderr (workers always do).")
@click.pass_context
def cli(click_ctx: click.Context, redis_url: str | None, log_json: bool | None, verbose: bool) -> None:
    """Round-robin assignment of helpdesk tickets to Online agents."""
    # A command prints its one human line; log lines below WARNING only on request (`worker` logs at INFO).
    configure_logging(json=log_json, level="INFO" if verbose else "WARNING")
    click_ctx.obj = Context(redis_url)
