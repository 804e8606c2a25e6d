"""What an account looks like now: ``users`` (who is next, who got what today) and ``settings``.

Both print a table for people (times in UTC and the account's zone) and, with ``--json``, exactly the
control API's models (``schemas/views.py``: ``UserView`` one per line, ``SettingsView`` one object), times
in UTC only and the presence timeout in seconds.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click

from schemas.durations import duration_text
from schemas.views import SettingsView, UserView
from worker.cli.base import Context, cli, pass_context, refusals
from worker.cli.format import account_zone, when
from worker.cli.reassign import away_text, unanswered_text
from worker.cli.webhook_secrets import secrets_line

CLOSED_DATES_SHOWN = 10
"""Closed dates listed by ``settings`` before "and N more" (``--json`` has them all)."""
OVERRIDES_SHOWN = 10
"""Per-agent capacity overrides listed by ``settings`` before "and N more" (``--json`` has them all)."""


@cli.command()
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (schemas/views.py UserView).")
@pass_context
def users(ctx: Context, account: str, as_json: bool) -> None:
    """List ACCOUNT's users: role, status, turn in the rotation (NEXT 1 gets the next ticket), tickets
    assigned today (the UTC day) and in all, open tickets (LOAD), CAPACITY (3* = the user's own
    override, - = no limit), the CHANNELS they take (only while per-channel pools are in use) and the LAST
    HEARTBEAT of their app (- = never)."""
    with refusals(ctx):
        views = ctx.helpdesk.users(account)
        if as_json:
            for view in views:
                click.echo(view.model_dump_json())
            return
        zone = account_zone(ctx.helpdesk.settings(account).office_hours)
        for line in users_table(views, zone):
            click.echo(line)


def users_table(views: list[UserView], zone: ZoneInfo | None = None) -> list[str]:
    """The ``users`` table (times in UTC, and in ``zone`` when given) and a last line saying who is next."""
    width = max([len("USER"), *(len(view.user_id) for view in views)])
    header = f"{'USER':<{width}}  {'ROLE':<8} {'STATUS':<8} {'NEXT':>4} {'TODAY':>6} {'TOTAL':>6} {'LOAD':>5}"
    pooled = any(view.channels is not None for view in views)  # the column only while pools are in use
    lines = [f"{header} {'CAPACITY':>8}  " + ("CHANNELS          " if pooled else "") + "LAST HEARTBEAT"]
    for view in views:
        rank = "-" if view.next_rank is None else str(view.next_rank)
        beat = "-" if view.last_heartbeat is None else when(view.last_heartbeat, zone)
        channels = f"{channels_cell(view):<17} " if pooled else ""
        lines.append(
            f"{view.user_id:<{width}}  {view.role.value:<8} {view.status.value:<8} {rank:>4} "
            f"{view.assigned_today:>6} {view.assigned:>6} {view.load:>5} {capacity_cell(view):>8}  {channels}{beat}"
        )
    queue = sorted((view.next_rank, view.user_id) for view in views if view.next_rank is not None)
    if not queue:
        return [*lines, "nobody is online: no ticket can be assigned now"]
    full = {view.user_id for view in views if at_capacity(view)}
    names = [user for _rank, user in queue if user not in full]
    if not names:
        return [*lines, "everyone online is at capacity: new tickets wait (all_agents_at_capacity)"]
    then = f", then {', '.join(names[1:4])}{', ...' if len(names) > 4 else ''}" if len(names) > 1 else ""
    skipped = sorted(user for _rank, user in queue if user in full)
    return [*lines, f"next ticket: {names[0]}{then}" + (f" ({', '.join(skipped)} at capacity)" if skipped else "")]


def channels_cell(view: UserView) -> str:
    """``all``, ``email,sms`` (the channels the user takes) or ``-`` (viewers)."""
    if view.channels is None:
        return "all" if view.role.can_be_online else "-"
    return ",".join(channel.value for channel in view.channels)


def capacity_cell(view: UserView) -> str:
    """``3`` (the account's capacity), ``3*`` (the user's own override) or ``-`` (no limit; viewers)."""
    if view.capacity is None:
        return "-"
    return f"{view.capacity}{'*' if view.capacity_override else ''}"


def at_capacity(view: UserView) -> bool:
    """Round robin (and the release) skips this user: their load has reached their capacity."""
    return view.capacity is not None and view.load >= view.capacity


@cli.command()
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (schemas/views.py SettingsView).")
@pass_context
def settings(ctx: Context, account: str, as_json: bool) -> None:
    """Show ACCOUNT's settings: round robin, office hours (open now? next opening), capacity and its
    per-agent overrides, auto-assign, the presence timeout, reassignment, which webhook secrets are set, the
    waiting-ticket ceiling."""
    with refusals(ctx):
        view = ctx.helpdesk.settings_view(account)
        if as_json:
            click.echo(view.model_dump_json())
            return
        click.echo("\n".join(settings_lines(view, secrets_line(ctx.helpdesk.webhook_secrets(account)))))


def settings_lines(view: SettingsView, webhooks: str | None = None) -> list[str]:
    """``settings`` for a person: one ``name  value`` line per setting, times also in the account's zone;
    ``webhooks`` says which webhook secrets are set (worker/cli/webhook_secrets.py)."""
    hours = view.office_hours
    zone = account_zone(hours)
    rows = [("account", view.account_id), ("round robin", "on" if view.round_robin else "off (new tickets wait)")]
    if hours is None:
        rows.append(("office hours", "none (webchat always open)"))
    else:
        rows += [
            ("office hours", f"{hours.timezone}: " + ("; ".join(hours.to_specs()) or "no intervals")),
            ("closed dates", _closed_dates(view)),
            ("webchat", _webchat_now(view)),
        ]
    rows += [("capacity", _capacity(view)), ("auto-assign", _auto_assign(view)), ("presence", _presence(view))]
    rows += [
        ("reassign away", away_text(view.reassign_away, view.reassign_away_grace_seconds)),
        ("unanswered", unanswered_text(view.reassign_unanswered_after_seconds, view.reassign_unanswered_max)),
    ]
    if view.channel_pools:  # only while in use: a helpdesk that never restricts anyone reads what it always did
        rows.append(("channels", _channels(view)))
    if webhooks is not None:
        rows.append(("webhooks", webhooks))
    ceiling = f"at most {view.max_waiting_tickets} (HELPDESK_RR_MAX_WAITING_TICKETS)"
    rows += [("as of", when(view.as_of, zone)), ("waiting", f"{view.waiting_tickets} ticket(s); {ceiling}")]
    return [f"{name:<13} {value}" for name, value in rows]


def _capacity(view: SettingsView) -> str:
    """The account's capacity and the per-agent overrides (the first 10, then "and N more")."""
    own = "none (no limit per agent)" if view.capacity is None else f"{view.capacity} open tickets per agent"
    overrides = [f"{user} {cap}" for user, cap in view.agent_capacities.items()]
    if not overrides:
        return own
    more = len(overrides) - OVERRIDES_SHOWN
    shown = ", ".join(overrides[:OVERRIDES_SHOWN]) + (f" and {more} more" if more > 0 else "")
    return f"{own}; {len(overrides)} override{'' if len(overrides) == 1 else 's'}: {shown}"


def _channels(view: SettingsView) -> str:
    """Per-channel pools in use, and who is restricted (the first 10, then "and N more")."""
    restricted = [f"{user} {','.join(c.value for c in chosen)}" for user, chosen in view.agent_channels.items()]
    more = len(restricted) - OVERRIDES_SHOWN
    shown = ", ".join(restricted[:OVERRIDES_SHOWN]) + (f" and {more} more" if more > 0 else "")
    return f"per-channel pools in use; {len(restricted)} agent{'' if len(restricted) == 1 else 's'} restricted: {shown}"


def _auto_assign(view: SettingsView) -> str:
    if view.auto_assign:
        return "on (waiting tickets go to agents below capacity, oldest first)"
    return "off"


def _presence(view: SettingsView) -> str:
    """``15m (...)`` or ``off``: the presence timeout as ``presence --timeout`` takes it."""
    if view.presence_timeout_seconds is None:
        return "off (only people change a status)"
    timeout = duration_text(view.presence_timeout_seconds)
    return f"{timeout} (an agent Online without a heartbeat for {timeout} goes offline)"


def _closed_dates(view: SettingsView) -> str:
    closed = [day.isoformat() for day in view.office_hours.closed_dates] if view.office_hours else []
    more = len(closed) - CLOSED_DATES_SHOWN
    return ", ".join(closed[:CLOSED_DATES_SHOWN]) + (f" and {more} more" if more > 0 else "") or "none"


def _webchat_now(view: SettingsView) -> str:
    if view.open_now:
        return "open now"
    if view.next_opening is None:
        return "closed now; no opening within 400 days"
    return f"closed now; opens {when(view.next_opening, account_zone(view.office_hours))}"
