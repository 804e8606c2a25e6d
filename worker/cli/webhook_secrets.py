"""``helpdesk-rr webhook-secret ACCOUNT NAME set|clear --actor USER`` and ``webhook-secret ACCOUNT list``: the
secrets providers' webhooks are verified with (docs/HTTP.md, "Webhooks in"; docs/SECURITY.md).

``set`` reads the secret from standard input, never from the command line (every local user can read a
process's argv with ``ps``); on a terminal it asks without echoing. Nothing this command prints or logs holds a
secret: ``list`` says which are set, when and by whom.
"""

from __future__ import annotations

import json
import sys

import click

from schemas.common import WebhookSecretName
from schemas.views import WebhookSecretView
from worker.cli.base import Context, cli, fail, ids, pass_context, refusals

NAMES = [name.value for name in WebhookSecretName]
WHAT = {
    "twilio": "Twilio Auth Token",
    "mailgun": "Mailgun HTTP webhook signing key",
    "meta": "Meta app secret",
    "meta-verify-token": "Meta verify token",
    "webchat": "webchat widget secret",
}


@cli.command("webhook-secret")
@click.argument("account")
@click.argument("name", metavar="NAME|list", type=click.Choice([*NAMES, "list"]))
@click.argument("action", required=False, type=click.Choice(["set", "clear"]))
@click.option("--actor", help="Who sets or clears it (owner, admin or manager).")
@click.option("--json", "as_json", is_flag=True, help="list: one JSON array (schemas/views.py WebhookSecretView).")
@pass_context
def webhook_secret(ctx: Context, account: str, name: str, action: str | None, actor: str | None, as_json: bool) -> None:
    """Set (from stdin) or clear ACCOUNT's webhook secret NAME — twilio, mailgun, meta, meta-verify-token or
    webchat — or `list` which are set (never a secret)."""
    if name == "list":
        if action is not None:
            fail("`webhook-secret ACCOUNT list` takes no action")
        _list(ctx, account, as_json)
        return
    if action is None or actor is None:
        fail(f"give the action and the actor: webhook-secret {account} {name} set|clear --actor USER")
    with refusals(ctx):
        ids(account=account, actor=actor)
        if action == "clear":
            changed = ctx.helpdesk.clear_webhook_secret(account, name, actor)
            click.echo(f"{name} webhook secret of {account} cleared" if changed else f"no {name} secret was set")
            return
        changed = ctx.helpdesk.set_webhook_secret(account, name, _read_secret(name), actor)
    click.echo(f"{name} webhook secret of {account} {'set' if changed else 'unchanged (the same secret)'}")


def _read_secret(name: str) -> str:
    """The secret from stdin: the whole input less one final line break; on a terminal, asked without echo."""
    what = WHAT[name]
    if sys.stdin.isatty():
        return str(click.prompt(what, hide_input=True, err=True))
    value = sys.stdin.read()
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        fail(f"no secret on standard input: pipe the {what} in, e.g. `printf %s \"$SECRET\" | helpdesk-rr ...`")
    return value


def _list(ctx: Context, account: str, as_json: bool) -> None:
    with refusals(ctx):
        ids(account=account)
        views = ctx.helpdesk.webhook_secrets(account)
    if as_json:
        click.echo(json.dumps([view.model_dump(mode="json") for view in views]))
        return
    click.echo(f"{'NAME':<19}{'SET':<5}{'SET AT':<26}SET BY")
    for view in views:
        click.echo(f"{view.name.value:<19}{'yes' if view.is_set else 'no':<5}{_when(view):<26}{view.set_by or '-'}")


def _when(view: WebhookSecretView) -> str:
    return "-" if view.set_at is None else view.set_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def secrets_line(views: list[WebhookSecretView]) -> str:
    """The ``settings`` line: which secrets are set (``none`` when none is)."""
    names = [view.name.value for view in views if view.is_set]
    return ", ".join(names) + " set" if names else "none set (webhook-secret ACCOUNT NAME set)"
