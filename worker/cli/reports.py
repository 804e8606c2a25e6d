"""The manager's report: ``report`` (text, ``--json`` or an ``--html`` page)."""

from __future__ import annotations

from pathlib import Path

import click

from worker.cli.base import Context, cli, pass_context, refusals
from worker.reports import format_text, render_html


@cli.command()
@click.argument("account")
@click.option("--from", "day_from", metavar="DATE", default=None, help="First UTC day YYYY-MM-DD (default: to - 6).")
@click.option("--to", "day_to", metavar="DATE", default=None, help="Last UTC day YYYY-MM-DD (default: today).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (schemas/report.py).")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a self-contained HTML page with charts to this file.",
)
@pass_context
def report(
    ctx: Context, account: str, day_from: str | None, day_to: str | None, as_json: bool, html_file: Path | None
) -> None:
    """ACCOUNT's figures over whole UTC days: assignments, TTFR, unassigned queue, busy hours."""
    with refusals(ctx):
        result = ctx.helpdesk.report(account, day_from, day_to)
        if html_file is not None:
            try:
                html_file.write_text(render_html(result), encoding="utf-8")
            except OSError as error:
                raise ValueError(f"cannot write {html_file}: {error.strerror or error}") from None
        click.echo(result.model_dump_json() if as_json else format_text(result))
        if html_file is not None:
            click.echo(f"wrote {html_file}", err=as_json)
