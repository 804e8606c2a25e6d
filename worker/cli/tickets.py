"""Tickets and what happens to them: ``ticket``, ``first-reply``, ``unassigned``, ``events``, ``failed``."""

from __future__ import annotations

from collections.abc import Callable

import click

from schemas.common import Channel, utc_iso
from schemas.events import EventOrUnreadable
from worker.api import Helpdesk, utc_now
from worker.cli.base import Context, cli, ids, no_worker_line, pass_context, refusals, stderr_is_terminal
from worker.cli.format import LocalTimes, account_zone, when


@cli.command()
@click.argument("account")
@click.argument("ticket")
@click.option("--channel", type=click.Choice([c.value for c in Channel]), required=True)
@click.option("--created-at", default=None, help="Arrival time, ISO 8601 with offset (default: now).")
@click.option("--subject", default=None)
@pass_context
def ticket(ctx: Context, account: str, ticket: str, channel: str, created_at: str | None, subject: str | None) -> None:
    """Validate and enqueue a ticket-created event (a worker decides it)."""
    with refusals(ctx):
        now = utc_now()
        fields = {"account_id": account, "ticket_id": ticket, "channel": channel, "subject": subject}
        job = ctx.helpdesk.submit_ticket({**fields, "created_at": created_at or utc_iso(now)}, now=now)
        click.echo(f"enqueued {account}/{ticket} ({channel}) as job {job.id}")
        if stderr_is_terminal():  # a person at a terminal; a script checks its workers otherwise
            no_worker_line(ctx, account)


@cli.command("first-reply")
@click.argument("account")
@click.argument("ticket")
@click.option("--agent", required=True, help="The agent who replied.")
@click.option("--at", "at", default=None, help="When, ISO 8601 with offset (default: now).")
@pass_context
def first_reply(ctx: Context, account: str, ticket: str, agent: str, at: str | None) -> None:
    """Report AGENT's first reply to TICKET (time to first reply); a worker records it."""
    with refusals(ctx):
        job = ctx.helpdesk.report_first_reply(account, ticket, agent, at)
        click.echo(f"enqueued first reply to {account}/{ticket} by {agent} as job {job.id}")


@cli.command()
@click.argument("account")
@click.argument("ticket")
@click.option("--at", "at", default=None, help="When, ISO 8601 with offset (default: now).")
@pass_context
def close(ctx: Context, account: str, ticket: str, at: str | None) -> None:
    """Report that TICKET was closed; a worker records it (its assignee's load goes down by one)."""
    with refusals(ctx):
        job = ctx.helpdesk.close_ticket(account, ticket, at)
        click.echo(f"enqueued close of {account}/{ticket} as job {job.id}")


@cli.command()
@click.argument("account")
@click.argument("ticket")
@click.option("--at", "at", default=None, help="When, ISO 8601 with offset (default: now).")
@pass_context
def reopen(ctx: Context, account: str, ticket: str, at: str | None) -> None:
    """Report that closed TICKET was reopened; a worker records it (its assignee's load goes back up)."""
    with refusals(ctx):
        job = ctx.helpdesk.reopen_ticket(account, ticket, at)
        click.echo(f"enqueued reopen of {account}/{ticket} as job {job.id}")


@cli.command()
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def unassigned(ctx: Context, account: str, as_json: bool) -> None:
    """List ACCOUNT's unassigned tickets, oldest first, with reason."""
    with refusals(ctx):
        rows = ctx.helpdesk.unassigned(account)
        if as_json:
            for row in rows:
                click.echo(row.model_dump_json())
            return
        if not rows:
            click.echo(f"no unassigned tickets in {account}")
            return
        zone = account_zone(ctx.helpdesk.settings(account).office_hours)  # times also in the account's zone
        created = [when(row.created_at, zone) for row in rows]
        width = max(len(text) for text in created) + 1
        click.echo(f"{'TICKET':<20} {'CHANNEL':<8} {'REASON':<22} {'CREATED_AT':<{width}} AVAILABLE_AT")
        for row, arrived in zip(rows, created, strict=True):
            available = when(row.available_at, zone) if row.available_at else "-"
            click.echo(
                f"{row.ticket_id:<20} {row.channel.value:<8} {row.reason.value:<22} {arrived:<{width}} {available}"
            )


@cli.command()
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (the event schemas).")
@click.option("--follow", is_flag=True, help="Keep printing new events as they arrive (Ctrl-C to stop).")
@click.option("--all", "all_accounts", is_flag=True, help="Every account, from the partition streams (needs --group).")
@click.option("--group", default=None, help="With --all: consumer group to read (and acknowledge) through.")
@click.option("--consumer", default="cli", show_default=True, help="With --all: consumer name inside the group.")
@click.option("--from-start", is_flag=True, help="With --all: a new group starts at the oldest retained event.")
@pass_context
def events(
    ctx: Context,
    account: str | None,
    as_json: bool,
    follow: bool,
    all_accounts: bool,
    group: str | None,
    consumer: str,
    from_start: bool,
) -> None:
    """Print ACCOUNT's emitted events, oldest first; or --all accounts' through a consumer group.

    With --all, each event is acknowledged after it is printed, so the next run with the same
    --group prints only what is new (docs/CONSUMERS.md). Without --follow it exits once drained.
    """
    show: Callable[[EventOrUnreadable], str] = (
        (lambda e: e.model_dump_json()) if as_json else LocalTimes(ctx.helpdesk).describe
    )
    with refusals(ctx):
        if bool(account) == all_accounts:
            raise ValueError("give an ACCOUNT or --all (not both)")
        if not all_accounts and (group or from_start or consumer != "cli"):
            raise ValueError("--group, --consumer and --from-start go with --all")
        if account:
            _account_events(ctx.helpdesk, account, show, follow)
            return
        if not group:
            raise ValueError("--all needs --group NAME (the consumer group to read through)")
        _all_events(ctx.helpdesk, group, consumer, show, follow=follow, from_start=from_start)


def _account_events(helpdesk: Helpdesk, account: str, show: Callable[[EventOrUnreadable], str], follow: bool) -> None:
    last = "0-0"
    for entry_id, event in helpdesk.iter_events(account):  # read in pages, printed as they come
        last = entry_id
        click.echo(show(event))
    if not follow:
        return
    try:
        for _entry_id, event in helpdesk.follow_events(account, after=last):
            click.echo(show(event))
    except KeyboardInterrupt:
        return


def _all_events(
    helpdesk: Helpdesk,
    group: str,
    consumer: str,
    show: Callable[[EventOrUnreadable], str],
    *,
    follow: bool,
    from_start: bool,
) -> None:
    def emit(event: EventOrUnreadable) -> None:
        click.echo(show(event))  # printed before run/drain acknowledges it

    reader = helpdesk.event_consumer(group, consumer, block_ms=1000 if follow else None)
    reader.ensure_groups("0" if from_start else "$")
    if not follow:
        reader.drain(emit)
        return
    try:
        reader.run(emit)
    except KeyboardInterrupt:
        return


@cli.command()
@click.argument("account", required=False)
@click.option("--all", "all_accounts", is_flag=True, help="Failed jobs of every account.")
@click.option("--requeue", "do_requeue", is_flag=True, help="Put the listed jobs back on the queue.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def failed(ctx: Context, account: str | None, all_accounts: bool, do_requeue: bool, as_json: bool) -> None:
    """List (and --requeue) failed ticket jobs of ACCOUNT, or of --all accounts.

    --all also lists jobs whose data is not JSON ([undecodable]) and queue entries workers moved aside
    ([malformed]: bad id, no job hash, data not JSON); those are never requeued. Every line is
    printable text (control characters shown escaped), the reason cut at 2,000 characters."""
    with refusals(ctx):
        if bool(account) == all_accounts:
            raise ValueError("give an ACCOUNT or --all (not both)")
        if account:
            ids(account=account)
        rows = ctx.helpdesk.failed_jobs(None if all_accounts else account)
        for row in rows:
            if as_json:
                click.echo(row.model_dump_json())
            else:
                when = utc_iso(row.failed_at) if row.failed_at else "-"
                kind = "" if row.kind == "failed" else f"[{row.kind}] "
                click.echo(f"{row.job_id}  {row.account_id or '?'}/{row.ticket_id or '?'}  {when}  {kind}{row.reason}")
        if do_requeue:
            requeued = ctx.helpdesk.requeue_failed(None if all_accounts else account)
            kept = sum(not row.requeueable for row in rows)
            unrunnable = f"; {kept} undecodable or malformed cannot be requeued" if kept else ""
            click.echo(f"requeued {requeued} job(s){unrunnable}", err=as_json)
        elif not rows and not as_json:
            click.echo("no failed ticket jobs")
