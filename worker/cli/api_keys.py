"""``helpdesk-rr api-key ACCOUNT create|list|revoke``: the HTTP control API's keys (docs/SECURITY.md).

``create`` prints the whole key once, alone on stdout (so ``KEY=$(helpdesk-rr api-key acme create)``
works), and a reminder on stderr; ``list`` shows ids, labels and dates, never a key; ``revoke KEY_ID``
removes one at once.
"""

from __future__ import annotations

import json

import click

from worker.cli.base import Context, cli, fail, ids, pass_context, refusals

ACCOUNT = "helpdesk_rr.api_key_account"


@cli.group("api-key")
@click.argument("account")
@click.pass_context
def api_key(click_ctx: click.Context, account: str) -> None:
    """ACCOUNT's API keys for the HTTP control API (stored hashed; a key is shown once)."""
    click_ctx.meta[ACCOUNT] = account


def _account() -> str:
    """The ACCOUNT the group was given (click passes a group's arguments only to the group)."""
    return str(click.get_current_context().meta[ACCOUNT])


@api_key.command("create")
@click.option("--label", default="", help="What the key is for (e.g. 'billing backend').")
@pass_context
def create(ctx: Context, label: str) -> None:
    """Make a key for ACCOUNT and print it (once: it cannot be shown again)."""
    account = _account()
    with refusals(ctx):
        ids(account=account)
        made = ctx.helpdesk.create_api_key(account, label)
    click.echo(made.key)
    click.echo(f"api key {made.key_id} created for {account}: store it now, it cannot be shown again", err=True)


@api_key.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array (key_id, label, created_at).")
@pass_context
def list_keys(ctx: Context, as_json: bool) -> None:
    """ACCOUNT's keys: id, creation time, label (never the key)."""
    account = _account()
    with refusals(ctx):
        ids(account=account)
        keys = ctx.helpdesk.api_keys(account)
    if as_json:
        click.echo(json.dumps([key.model_dump() for key in keys]))
        return
    if not keys:
        click.echo(f"no api keys for {account}")
        return
    click.echo(f"{'KEY ID':<14}{'CREATED':<26}LABEL")  # CREATED: 24 characters (2026-12-01T22:10:04.512Z)
    for key in keys:
        click.echo(f"{key.key_id:<14}{key.created_at:<26}{key.label}")


@api_key.command("revoke")
@click.argument("key_id")
@pass_context
def revoke(ctx: Context, key_id: str) -> None:
    """Remove ACCOUNT's key KEY_ID: the next request with it is refused (401)."""
    account = _account()
    with refusals(ctx):
        ids(account=account)
        removed = ctx.helpdesk.revoke_api_key(account, key_id)
    if not removed:
        fail(f"no api key {key_id} in account {account}")
    click.echo(f"api key {key_id} of {account} revoked")
