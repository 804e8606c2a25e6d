"""Running helpdesk-rr: ``worker``, ``metrics``, ``embedded``, ``schemas export``.

These manage processes (RQ workers, the metrics endpoint, the embedded Redis) rather than helpdesk
state, so they call the runtime and ops rooms directly, with the settings the control API resolved.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from producers.queue import QUEUE_NAME
from schemas.export import export_json_schemas
from worker.cli.base import Context, cli, fail, pass_context, refusals
from worker.config import Settings
from worker.logging import configure_logging
from worker.redaction import redacted
from worker.runtime.topology import Topology


@cli.command("metrics")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="TCP port to listen on (0: any free).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: every interface).")
@pass_context
def metrics_command(ctx: Context, port: int, host: str) -> None:
    """Serve Prometheus metrics (read from Redis at each scrape) until Ctrl-C."""
    from worker.ops.metrics import endpoint_url, serve

    with refusals(ctx):
        topology = ctx.helpdesk.topology
        try:
            queue_urls = None if topology.single else topology.queue_urls
            server, thread = serve(topology.state_url, host, port, queue_urls, partitions=ctx.settings.partitions)
        except OSError as error:
            fail(f"cannot listen on {host}:{port}: {error}")
        click.echo(f"serving metrics on {endpoint_url(host, server.server_port)} (Ctrl-C to stop)")
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--worker-class",
    type=click.Choice(["simple", "fork"]),
    default="simple",
    show_default=True,
    help="RQ SimpleWorker (measured faster, see docs/PERFORMANCE.md) or the forking Worker.",
)
@click.option("--shard", type=int, default=None, help="Queue shard (index into REDIS_QUEUE_URLS) for one process.")
@click.option("--child", is_flag=True, hidden=True, help="Started by `worker --processes N`: no start/stop line.")
@pass_context
def worker_command(
    ctx: Context, burst: bool, processes: int, worker_class: str, shard: int | None, child: bool
) -> None:
    """Run RQ workers on the helpdesk-rr queue (with queue shards: processes spread over them)."""
    from worker.runtime.runner import run_many, run_one

    log_json = click.get_current_context().find_root().params.get("log_json")
    configure_logging(json=log_json, level="INFO")  # workers keep their decision lines, --verbose or not
    say = (lambda _line: None) if child else (lambda line: click.echo("worker stopped: " + redacted(line)))
    with refusals(ctx):
        helpdesk = ctx.helpdesk  # a bad setting stops the worker now, not every job later
        helpdesk.ping()  # fail fast with a clear message if Redis is unreachable
        topology = helpdesk.topology
        shards = len(topology.queue_urls)
        if shard is not None and not 0 <= shard < shards:
            raise ValueError(f"--shard must be between 0 and {shards - 1} (REDIS_QUEUE_URLS has {shards})")
        if not child:
            click.echo(started_line(topology, (shard or 0) if processes == 1 else None, worker_class, processes, burst))
        if processes == 1:
            queue_url = topology.queue_urls[shard or 0]
            state = None if topology.single else helpdesk.state
            config = helpdesk.config
            run_one(queue_url, burst=burst, worker_class=worker_class, state=state, settings=config, report=say)
            return
        url = topology.state_url if topology.single else None
        code = run_many(
            url,
            processes=processes,
            burst=burst,
            worker_class=worker_class,
            log_json=log_json,
            shards=shards,
            report=say,
        )
        sys.exit(code)


def started_line(topology: Topology, shard: int | None, worker_class: str, processes: int, burst: bool) -> str:
    """The one line ``worker`` prints at start-up: where it works (credentials redacted), how, how many."""
    shards = len(topology.queue_urls)
    if topology.single:
        where = f"queue {QUEUE_NAME} at {redacted(topology.state_url)}"
    elif shard is not None:
        where = f"queue {QUEUE_NAME} shard {shard} of {shards} at {redacted(topology.queue_urls[shard])}"
    else:
        where = f"queue {QUEUE_NAME} on {shards} shards ({', '.join(redacted(url) for url in topology.queue_urls)})"
    if not topology.single:
        where += f", state at {redacted(topology.state_url)}"
    kind = {"simple": "SimpleWorker", "fork": "forking Worker"}[worker_class]
    count = "1 process" if processes == 1 else f"{processes} processes"
    return f"worker started: {where}, {worker_class} ({kind}), {count}" + (", --burst" if burst else "")


@cli.group("embedded")
def embedded_group() -> None:
    """The embedded Redis server used when no REDIS_URL is set."""


@embedded_group.command("url")
def embedded_url() -> None:
    """Print the embedded server's URL, starting it if needed (e.g. REDIS_URL=$(helpdesk-rr embedded url))."""
    from worker.ops.embedded import ensure_embedded_server

    with refusals():
        click.echo(ensure_embedded_server(Settings.from_env().state_dir))  # a unix socket: no password


@embedded_group.command("stop")
def embedded_stop() -> None:
    """Stop the embedded server (its data is kept on disk and reloaded on next use)."""
    from worker.ops.embedded import stop_embedded_server

    with refusals():
        state_dir = Settings.from_env().state_dir
        stopped = stop_embedded_server(state_dir)
        click.echo(f"embedded Redis in {state_dir} " + ("stopped" if stopped else "was not running"))


@cli.group("schemas")
def schemas_group() -> None:
    """JSON Schema of the events."""


@schemas_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schemas_export(directory: Path) -> None:
    """Write one <type>.schema.json per event into DIRECTORY."""
    for path in export_json_schemas(directory):
        click.echo(str(path))
