"""Per-channel pools: ``agent-channels`` (docs/CLI.md): which channels an agent takes."""

from __future__ import annotations

import click

from schemas.common import Channel
from schemas.plain import shown
from worker.cli.base import Context, cli, ids, pass_context, refusals

GOOD = ", ".join(channel.value for channel in Channel)


def channels_value(value: str | None, every: bool) -> list[Channel] | None:
    """The channels the arguments ask for (None: ``--all``); a mistake is a ValueError in plain words."""
    if every and value is not None:
        raise ValueError(f"give channels or --all, not both (got {shown(value)} and --all)")
    if every:
        return None
    if value is None:
        raise ValueError(f"give the channels the agent takes, comma-separated ({GOOD}; e.g. email,sms), or --all")
    chosen = []
    for part in value.split(","):
        name = part.strip()
        if name not in {channel.value for channel in Channel}:
            what = "an empty name" if not name else shown(name)
            raise ValueError(f"channels: {what} is not a channel; use {GOOD} (e.g. email,sms), or --all")
        chosen.append(Channel(name))
    return chosen


def channels_line(account: str, user: str, channels: list[Channel] | None) -> str:
    """``ana in acme takes email, sms`` or ``ana in acme takes every channel``."""
    if channels is None or {channel.value for channel in channels} == {channel.value for channel in Channel}:
        return f"{user} in {account} takes every channel"
    ordered = [channel.value for channel in Channel if channel in channels]
    return f"{user} in {account} takes {', '.join(ordered)} only"


@cli.command("agent-channels")
@click.argument("account")
@click.argument("user")
@click.argument("channels", required=False, metavar="(CHANNEL[,CHANNEL...] | --all)")
@click.option("--all", "every", is_flag=True, help="The agent takes every channel again (the default).")
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def agent_channels(ctx: Context, account: str, user: str, channels: str | None, every: bool, actor: str) -> None:
    """Let USER take only tickets of CHANNELS (email, webchat, sms, social; comma-separated), or --all of
    them. Round robin then gives USER only tickets of those channels, keeping their place in the one rotation."""
    with refusals(ctx):
        chosen = channels_value(channels, every)
        ids(account=account, user=user, actor=actor)
        changed = ctx.helpdesk.set_agent_channels(account, user, chosen, actor)
        click.echo(channels_line(account, user, chosen) + ("" if changed else " (unchanged)"))
