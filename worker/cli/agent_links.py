"""``helpdesk-rr agent-link ACCOUNT USER [--hours N] [--base-url URL]``: a link to USER's agent page.

It prints the URL alone on stdout (``URL=$(helpdesk-rr agent-link acme ana)`` works) and when it expires on
stderr. The link points at ``HELPDESK_RR_PUBLIC_URL`` (where callers reach ``helpdesk-rr serve``) unless
``--base-url`` says otherwise. ``agent-link ACCOUNT --revoke-all`` replaces the account's signing key: every
link made before stops working at once (docs/SECURITY.md, "Agent links").
"""

from __future__ import annotations

import click

from schemas.common import utc_iso
from worker.api.agent_links import DEFAULT_HOURS, MAX_HOURS, MIN_HOURS
from worker.cli.base import Context, cli, fail, ids, pass_context, refusals


def link_url(base_url: str, token: str) -> str:
    """The page's address: the token is base64url and dots, safe in a query as it is."""
    return f"{base_url.rstrip('/')}/agent?token={token}"


def _base_url(given: str) -> str:
    base = given.strip().rstrip("/")
    if not base.startswith(("http://", "https://")) or any(c.isspace() for c in base) or "?" in base or "#" in base:
        fail(f"--base-url must be an http:// or https:// base URL without query or fragment, got {given!r}")
    return base


@cli.command("agent-link")
@click.argument("account")
@click.argument("user", required=False)
@click.option(
    "--hours",
    type=click.IntRange(MIN_HOURS, MAX_HOURS),
    default=DEFAULT_HOURS,
    show_default=True,
    help=f"How long the link works ({MIN_HOURS}-{MAX_HOURS}).",
)
@click.option("--base-url", default=None, help="Where agents reach serve (default: HELPDESK_RR_PUBLIC_URL).")
@click.option("--revoke-all", is_flag=True, help="Void every agent link of ACCOUNT made so far (no USER).")
@pass_context
def agent_link(
    ctx: Context, account: str, user: str | None, hours: int, base_url: str | None, revoke_all: bool
) -> None:
    """Print a signed, expiring link to USER's agent page (status toggle, open tickets, live toasts)."""
    if revoke_all:
        if user is not None:
            fail("--revoke-all voids the links of the whole account: give ACCOUNT only")
        with refusals(ctx):
            ids(account=account)
            ctx.helpdesk.revoke_agent_links(account)
        click.echo(f"every agent link of {account} made so far no longer works")
        return
    if user is None:
        fail("give USER (whose page the link opens), or --revoke-all")
    base = _base_url(base_url) if base_url is not None else None
    with refusals(ctx):
        ids(account=account, user=user)
        made = ctx.helpdesk.agent_link(account, user, hours)
        base = base or ctx.settings.public_url
    click.echo(link_url(base, made.token))
    click.echo(f"agent link for {user} in {account}, valid until {utc_iso(made.expires_at)} ({hours} h)", err=True)
