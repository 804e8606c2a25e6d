"""The presence timeout (issue 16, part 1): ``heartbeat`` and ``presence`` (docs/CLI.md).

``presence`` takes ``--timeout DURATION`` (``90s``, ``15m``, ``2h``, ``1h30m``: ``schemas/durations.py``, the
one parser every duration option uses) or ``--off``. Giving both or neither, or a duration that is not one,
is a plain one-line refusal (exit 1, like every refused value), not click's usage message.
"""

from __future__ import annotations

import click

from schemas.durations import duration_text, parse_duration
from worker.cli.base import Context, cli, ids, pass_context, refusals

EXAMPLE = "--timeout 15m"


def timeout_value(timeout: str | None, off: bool) -> int | None:
    """The timeout in seconds the options ask for (None: ``--off``); a mistake is a ValueError in plain words."""
    if timeout is not None and off:
        raise ValueError(f"give --timeout DURATION or --off, not both (got --timeout {timeout} and --off)")
    if off:
        return None
    if timeout is None:
        raise ValueError(f"give --timeout DURATION (e.g. {EXAMPLE}) or --off to turn the presence timeout off")
    return parse_duration(timeout, "--timeout", instead_of_zero="--off to turn it off")  # a ValueError


def timeout_text(seconds: int | None) -> str:
    """How ``presence`` and ``settings`` show a timeout: ``15m``, or ``off``."""
    return "off" if seconds is None else duration_text(seconds)


@cli.command()
@click.argument("account")
@click.argument("user")
@pass_context
def heartbeat(ctx: Context, account: str, user: str) -> None:
    """Record that USER's app is open (the platform calls this while it is; going Online counts as one).
    With a presence timeout, an Online agent whose heartbeats stop that long is set Offline. A heartbeat
    never sets anyone Online."""
    with refusals(ctx):
        ids(account=account, user=user)
        online = ctx.helpdesk.heartbeat(account, user)
        state = "online" if online else "offline; a heartbeat never sets anyone online"
        click.echo(f"heartbeat from {user} in {account} ({state})")


@cli.command()
@click.argument("account")
@click.option("--timeout", metavar="DURATION", default=None, help="e.g. 90s, 15m, 2h or 1h30m (at least 1s).")
@click.option("--off", is_flag=True, help="Turn the presence timeout off: only people change a status.")
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def presence(ctx: Context, account: str, timeout: str | None, off: bool, actor: str) -> None:
    """Set ACCOUNT's presence timeout: an Online agent without a heartbeat for DURATION is set Offline
    automatically (never Online; their tickets stay theirs). --off turns it off (the default)."""
    with refusals(ctx):
        seconds = timeout_value(timeout, off)
        ids(account=account, actor=actor)
        changed = ctx.helpdesk.set_presence_timeout(account, seconds, actor)
        click.echo(f"presence timeout for {account}: {timeout_text(seconds)}" + ("" if changed else " (unchanged)"))
