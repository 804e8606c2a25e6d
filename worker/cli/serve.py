"""``helpdesk-rr serve``: the HTTP edge (webhooks, the control API as JSON, toasts; docs/HTTP.md), and
``helpdesk-rr openapi export PATH``: its OpenAPI document, for docs/openapi.json.

Like ``worker`` it runs a process rather than changing state: it builds the ``Helpdesk`` the routes
share, checks Redis can be reached before it listens, and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

from pathlib import Path

import click

from worker.cli.base import Context, cli, fail, pass_context, refusals
from worker.logging import configure_logging


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port (0: any free).")
@click.option("--log-level", type=click.Choice(["info", "warning"]), default="info", show_default=True)
@pass_context
def serve_command(ctx: Context, host: str, port: int, log_level: str) -> None:
    """Serve the HTTP edge until Ctrl-C (one line per request on stderr)."""
    from worker.http import create_app
    from worker.http.server import bound_socket, uvicorn_server

    with refusals(ctx):
        ctx.helpdesk.ping()
    configure_logging(level=log_level.upper())
    try:
        sock = bound_socket(host, port)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error}")
    server = uvicorn_server(create_app(ctx.helpdesk), host, port)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"serving http://{shown_host}:{sock.getsockname()[1]} (Ctrl-C to stop)", err=True)
    server.run(sockets=[sock])


@cli.group("openapi")
def openapi_group() -> None:
    """The HTTP edge's OpenAPI document (what /docs draws)."""


@openapi_group.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def openapi_export(path: Path) -> None:
    """Write the OpenAPI document to PATH (docs/openapi.json in this repository). Needs no Redis."""
    from worker.http.openapi import export_openapi

    click.echo(f"wrote {export_openapi(path)}")
