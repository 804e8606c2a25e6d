"""Teams and bulk assignment: ``team``, ``teams``, ``bulk-assign``."""

from __future__ import annotations

import json
from typing import Any

import click

from worker.api import NothingToAssign
from worker.cli.base import Context, cli, no_worker_line, pass_context, refusals


@cli.command()
@click.argument("account")
@click.argument("team")
@click.argument("members", nargs=-1, required=True)
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def team(ctx: Context, account: str, team: str, members: tuple[str, ...], actor: str) -> None:
    """Set TEAM's members in ACCOUNT (replaces the previous members)."""
    with refusals(ctx):
        changed = ctx.helpdesk.set_team(account, team, members, actor)
        click.echo(f"team {team} in {account}: {' '.join(sorted(set(members)))}" + ("" if changed else " (unchanged)"))


@cli.command()
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def teams(ctx: Context, account: str, as_json: bool) -> None:
    """List ACCOUNT's teams, their members and who is Online."""
    with refusals(ctx):
        views = ctx.helpdesk.teams(account)
        for view in views:
            if as_json:
                click.echo(view.model_dump_json())
            else:
                online = ", ".join(view.online) or "nobody"
                click.echo(f"{view.team_id}: {' '.join(view.members)}  (online: {online})")
        if not views and not as_json:
            click.echo(f"no teams in {account}")


@cli.command("bulk-assign")
@click.argument("account")
@click.argument("tickets", nargs=-1)
@click.option("--team", "team_id", required=True, help="Team whose Online members get the tickets.")
@click.option("--unassigned", "use_unassigned", is_flag=True, help="All unassigned tickets (oldest 10,000).")
@click.option("--actor", required=True, help="Agent or higher asking for it.")
@click.option("--wait", is_flag=True, help="Show progress until the job finishes, then what it did.")
@click.option("--json", "as_json", is_flag=True, help="With --wait: the job's result as one JSON object.")
@pass_context
def bulk_assign(
    ctx: Context,
    account: str,
    tickets: tuple[str, ...],
    team_id: str,
    use_unassigned: bool,
    actor: str,
    wait: bool,
    as_json: bool,
) -> None:
    """Spread TICKETS (or --unassigned) over TEAM's Online members, as one RQ job."""
    with refusals(ctx):
        if bool(tickets) == use_unassigned:
            raise ValueError("give TICKET ids or --unassigned (exactly one)")
        try:
            job = ctx.helpdesk.bulk_assign(account, team_id, actor, tickets or None, unassigned=use_unassigned)
        except NothingToAssign as nothing:
            click.echo(str(nothing))  # not a failure: exit 0, nothing enqueued
            return
        click.echo(job.id)
        if wait:
            no_worker_line(ctx, account)
            result = ctx.helpdesk.wait_for_bulk(job, echo=lambda text: click.echo(text, err=True))
            click.echo(json.dumps(result) if as_json else bulk_summary(result))


def bulk_summary(result: dict[str, Any]) -> str:
    """A bulk job's result as one line: "6 assigned to 2 agents, 2 toasts", then what else happened
    (last: the agents it left above their capacity)."""

    def count(number: int, noun: str) -> str:
        return f"{number} {noun}{'' if number == 1 else 's'}"

    line = f"{result.get('assigned', 0)} assigned to {count(result.get('agents', 0), 'agent')}"
    line += f", {count(result.get('toasts', 0), 'toast')}"
    others = [
        (result.get("unassigned", 0), "left unassigned (no team member online)"),
        (result.get("unknown", 0), "unknown (never seen)"),
        (result.get("already_done", 0), "skipped (already handled by this job)"),
        (result.get("closed", 0), "closed (skipped, never assigned)"),
    ]
    line += "".join(f"; {number} {what}" for number, what in others if number)
    above = result.get("above_capacity") or []  # bulk ignores capacity (a manager's explicit act): say who
    return line + (f"; left above capacity: {', '.join(above)}" if above else "")
