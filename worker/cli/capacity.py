"""Capacity and the waiting queue's release: ``capacity`` and ``auto-assign`` (docs/CLI.md).

``capacity`` reads N itself rather than as a click ``int``: a negative number would otherwise be taken for
an unknown option, and 0, ``-2``, ``2.5`` or ``five`` each deserve their own plain refusal (exit 1, like
every refused value), not click's usage message.
"""

from __future__ import annotations

import re

import click

from schemas.plain import shown
from worker.cli.base import Context, cli, ids, pass_context, refusals

GOOD = "a whole number of at least 1, e.g. 5"


def capacity_value(values: tuple[str, ...], clear: bool) -> int | None:
    """The capacity the arguments ask for (None: ``--clear``); a mistake is a ValueError in plain words."""
    unknown = [value for value in values if value.startswith("--")]
    if unknown:
        raise click.UsageError(f"No such option: {unknown[0]}")
    if clear and values:
        raise ValueError(f"give a capacity N or --clear, not both (got {shown(values[0])} and --clear)")
    if clear:
        return None
    if not values:
        raise ValueError(f"give a capacity N ({GOOD}) or --clear to remove the limit")
    if len(values) > 1:
        raise ValueError(f"give one capacity N (got {len(values)}: {' '.join(values)})")
    text = values[0]
    if not re.fullmatch(r"-?[0-9]+", text):
        raise ValueError(f"capacity: {shown(text)} is not a whole number; use {GOOD}")
    number = int(text)
    if number == 0:
        raise ValueError(f"capacity: 0 would let an agent take no ticket at all; use {GOOD} (or --clear: no limit)")
    if number < 0:
        raise ValueError(f"capacity: {number} is negative; use {GOOD} (or --clear: no limit)")
    return number


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("account")
@click.argument("value", nargs=-1, metavar="(N | --clear)")
@click.option("--clear", is_flag=True, help="Remove the capacity (an --agent's: the account's applies again).")
@click.option("--agent", default=None, help="Set or clear this agent's own capacity, overriding the account's.")
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def capacity(ctx: Context, account: str, value: tuple[str, ...], clear: bool, agent: str | None, actor: str) -> None:
    """Set ACCOUNT's capacity: the most open tickets an agent may hold (N ≥ 1), or --clear it. With
    --agent, that agent's own capacity (a part-timer gets fewer)."""
    with refusals(ctx):
        number = capacity_value(value, clear)
        ids(account=account, actor=actor, **({"agent": agent} if agent is not None else {}))
        changed = ctx.helpdesk.set_capacity(account, number, actor, agent_id=agent)
        click.echo(capacity_line(account, agent, number) + ("" if changed else " (unchanged)"))


def capacity_line(account: str, agent: str | None, number: int | None) -> str:
    """``capacity for acme: 5 open tickets per agent``, ``capacity for ben in acme: 2 open tickets``, or cleared."""
    if agent is None:
        if number is None:
            return f"capacity for {account} cleared (no limit for agents without their own)"
        return f"capacity for {account}: {number} open tickets per agent"
    if number is None:
        return f"capacity for {agent} in {account} cleared (the account's capacity applies)"
    return f"capacity for {agent} in {account}: {number} open ticket{'' if number == 1 else 's'}"


@cli.command("auto-assign")
@click.argument("account")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def auto_assign(ctx: Context, account: str, state: str, actor: str) -> None:
    """Turn the automatic release of ACCOUNT's waiting tickets on or off (needs a capacity): waiting
    tickets go, oldest first, to the agents below capacity whenever one has room."""
    with refusals(ctx):
        changed = ctx.helpdesk.set_auto_assign(account, state == "on", actor)
        click.echo(f"auto-assign {state} for {account}" + ("" if changed else " (unchanged)"))
