"""People and settings: ``user``, ``status``, ``round-robin``, ``office-hours``."""

from __future__ import annotations

import click

from schemas.common import AgentStatus, Role
from schemas.hours_spec import SpecError
from schemas.office_hours import OfficeHours
from worker.cli.base import Context, cli, ids, pass_context, refusals


@cli.command()
@click.argument("account")
@click.argument("user")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@pass_context
def user(ctx: Context, account: str, user: str, role: str) -> None:
    """Create or update USER of ACCOUNT with ROLE."""
    with refusals(ctx):
        saved = ctx.helpdesk.save_user(account, user, Role(role))
        previous = saved.previous_role
        if not saved.changed:
            click.echo(f"{user} in {account} as {role} (unchanged)")
            return
        verb = "created" if previous is None else f"updated ({previous.value} -> {role})"
        click.echo(f"{user} {verb} in {account} as {role}" + ("; now offline" if saved.went_offline else ""))


@cli.command()
@click.argument("account")
@click.argument("user")
@click.argument("status", type=click.Choice([s.value for s in AgentStatus]))
@click.option("--actor", default=None, help="Who makes the change (default: USER themself).")
@pass_context
def status(ctx: Context, account: str, user: str, status: str, actor: str | None) -> None:
    """Set USER Online or Offline."""
    with refusals(ctx):
        changed = ctx.helpdesk.set_status(account, user, AgentStatus(status), actor or user)
        click.echo(f"{user} is {status}" + ("" if changed else " (unchanged)"))


@cli.command("round-robin")
@click.argument("account")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def round_robin(ctx: Context, account: str, state: str, actor: str) -> None:
    """Turn round robin on or off for ACCOUNT."""
    with refusals(ctx):
        changed = ctx.helpdesk.set_round_robin(account, state == "on", actor)
        click.echo(f"round robin {state} for {account}" + ("" if changed else " (unchanged)"))


def _office_hours(
    timezone: str | None, hours: tuple[str, ...], closed: tuple[str, ...], clear: bool
) -> OfficeHours | None:
    """The office hours the options describe (None for --clear); a usage mistake is a ValueError."""
    if clear:
        if timezone or hours or closed:
            raise ValueError("--clear cannot be combined with --timezone/--hours/--closed")
        return None
    if not timezone:
        raise ValueError("--timezone is required (or --clear)")
    if not hours:
        raise ValueError('at least one --hours is required, e.g. --hours "mon-fri 09:00-17:00" (or --clear)')
    try:
        return OfficeHours.from_specs(timezone, list(hours), list(closed))
    except SpecError as error:  # named as the user typed it: --hours "09:00-17:00": name the days first, …
        raise ValueError(f"--{error.field} {error.shown_given}: {error.reason}") from None


@cli.command("office-hours")
@click.argument("account")
@click.option("--timezone", "timezone", default=None, help="IANA time zone, e.g. Europe/Berlin.")
@click.option("--hours", "hours", multiple=True, help='Weekly hours, e.g. "mon-fri 09:00-17:00" (repeatable).')
@click.option("--closed", multiple=True, help="Closed date YYYY-MM-DD (repeatable).")
@click.option("--clear", is_flag=True, help="Remove office hours (webchat always open).")
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def office_hours(
    ctx: Context,
    account: str,
    timezone: str | None,
    hours: tuple[str, ...],
    closed: tuple[str, ...],
    clear: bool,
    actor: str,
) -> None:
    """Set (or --clear) ACCOUNT's office hours, which gate webchat tickets."""
    with refusals(ctx):
        ids(account=account, actor=actor)
        value = _office_hours(timezone, hours, closed, clear)
        changed = ctx.helpdesk.set_office_hours(account, value, actor)
        shown = "cleared (always open)" if value is None else f"{value.timezone}: " + "; ".join(value.to_specs())
        click.echo(f"office hours for {account} {shown}" + ("" if changed else " (unchanged)"))
