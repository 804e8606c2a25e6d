"""Reassignment (issue 16, parts 2 and 3): ``customer-reply``, ``reassign-away``, ``reassign-unanswered``
(docs/CLI.md). Durations are ``schemas/durations.py``'s (``90s``, ``15m``, ``2h``, ``1h30m``); a bad one, a bad
``--max`` or a wrong mix of options is a plain one-line refusal (exit 1), not click's usage message.
"""

from __future__ import annotations

import re

import click

from schemas.durations import duration_text, parse_duration
from schemas.plain import shown
from worker.api.reassign import MAX_REASSIGNMENTS
from worker.cli.base import Context, cli, ids, pass_context, refusals

GOOD_MAX = f"a whole number from 1 to {MAX_REASSIGNMENTS}, e.g. 1"


def grace_value(grace: str | None) -> int:
    """``--grace`` in seconds (absent: 0)."""
    if grace is None:
        return 0
    return parse_duration(grace, "--grace", instead_of_zero="leave --grace out for none")


def max_value(text: str | None) -> int:
    """``--max`` (absent: 1), refused in plain words unless a whole number from 1 to ``MAX_REASSIGNMENTS``."""
    if text is None:
        return 1
    body = text.strip()
    if not re.fullmatch(r"-?[0-9]+", body) or not 1 <= int(body) <= MAX_REASSIGNMENTS:
        raise ValueError(f"--max {shown(text)}: use {GOOD_MAX} (how many times one ticket may be reassigned)")
    return int(body)


def unanswered_value(after: str | None, most: str | None, off: bool) -> tuple[int | None, int]:
    """(after seconds or None for ``--off``, max) from the options; a mistake is a ValueError in plain words."""
    if off and (after is not None or most is not None):
        raise ValueError("give --after DURATION [--max N] or --off, not both")
    if off:
        return None, 1
    if after is None:
        raise ValueError("give --after DURATION (e.g. --after 15m) or --off to turn reassign-unanswered off")
    return parse_duration(after, "--after", instead_of_zero="--off to turn it off"), max_value(most)


def away_text(enabled: bool, grace_seconds: int) -> str:
    """How ``reassign-away`` and ``settings`` show the setting."""
    if not enabled:
        return "off"
    return "on" + (f", grace {duration_text(grace_seconds)}" if grace_seconds else ", no grace")


def unanswered_text(after_seconds: int | None, max_times: int | None) -> str:
    """How ``reassign-unanswered`` and ``settings`` show the setting."""
    if after_seconds is None:
        return "off"
    times = max_times or 1
    return f"after {duration_text(after_seconds)}, at most {times} time{'' if times == 1 else 's'} per ticket"


@cli.command("customer-reply")
@click.argument("account")
@click.argument("ticket")
@click.option("--at", "at", default=None, help="When the customer wrote, ISO 8601 with offset (default: now).")
@pass_context
def customer_reply(ctx: Context, account: str, ticket: str, at: str | None) -> None:
    """Report a new customer message on TICKET; a worker reassigns it if its assignee is away (reassign-away)."""
    with refusals(ctx):
        ids(account=account, ticket=ticket)
        job = ctx.helpdesk.customer_reply(account, ticket, at)
        click.echo(f"enqueued customer reply on {account}/{ticket} as job {job.id}")


@cli.command("reassign-away")
@click.argument("account")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--grace", metavar="DURATION", default=None, help="How long the assignee must be Offline (default 0).")
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def reassign_away(ctx: Context, account: str, state: str, grace: str | None, actor: str) -> None:
    """Turn reassign-away on or off: a customer reply or reopen on a ticket whose assignee is Offline (for at
    least --grace) sends it through the rotation again (reason assignee_away). Off by default."""
    with refusals(ctx):
        seconds = grace_value(grace)
        ids(account=account, actor=actor)
        changed = ctx.helpdesk.set_reassign_away(account, state == "on", seconds, actor)
        shown_state = away_text(state == "on", seconds)
        click.echo(f"reassign-away for {account}: {shown_state}" + ("" if changed else " (unchanged)"))


@cli.command("reassign-unanswered")
@click.argument("account")
@click.option("--after", metavar="DURATION", default=None, help="e.g. 15m: no first reply that long after assignment.")
@click.option("--max", "most", metavar="N", default=None, help="At most N reassignments per ticket (default 1).")
@click.option("--off", is_flag=True, help="Turn reassign-unanswered off (the default).")
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def reassign_unanswered(ctx: Context, account: str, after: str | None, most: str | None, off: bool, actor: str) -> None:
    """Reassign a ticket assigned automatically (round robin, waiting queue, reassignment) whose assignee sent no
    first reply within --after: it goes to the next agent, skipping them (reason no_first_reply), at most --max
    times per ticket. A first reply or a close cancels it."""
    with refusals(ctx):
        seconds, times = unanswered_value(after, most, off)
        ids(account=account, actor=actor)
        changed = ctx.helpdesk.set_reassign_unanswered(account, seconds, times, actor)
        shown_state = unanswered_text(seconds, times)
        click.echo(f"reassign-unanswered for {account}: {shown_state}" + ("" if changed else " (unchanged)"))
