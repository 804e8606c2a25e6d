"""``helpdesk-rr``: everything an operator or a script does, on the same engine the workers use.

Refused actions (permissions, validation, unknown users, unreachable Redis) exit 1 with one line on
stderr and no traceback; usage errors exit 2 (click's convention).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
import redis
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from producers.queue import EnqueueFailed, build_ticket, enqueue
from schemas.common import AgentStatus, Channel, Role, check_id, utc_iso
from schemas.events import Event
from schemas.export import export_json_schemas
from schemas.office_hours import OfficeHours
from worker.cli.format import describe
from worker.config import Retention
from worker.core.engine import Engine, utc_now
from worker.core.queries import Queries
from worker.errors import HelpdeskError, UnknownUser
from worker.jobs import validation_summary
from worker.logging import configure_logging
from worker.runtime.topology import Topology


class Context:
    """Lazily connects, so ``schemas export`` and ``--help`` never start a Redis server.

    ``client`` is the state Redis (decisions, events, settings); ``queue_for(account)`` the RQ queue
    shard of an account. Both are the same Redis unless REDIS_STATE_URL/REDIS_QUEUE_URLS split them
    (worker/runtime/topology.py)."""

    def __init__(self, redis_url: str | None) -> None:
        self._explicit_url = redis_url
        self._topology: Topology | None = None
        self._url: str | None = None
        self._client: Any = None

    @property
    def topology(self) -> Topology:
        if self._topology is None:
            self._topology = Topology.resolve(self._explicit_url)
            self._url = self._topology.state_url
        return self._topology

    @property
    def url(self) -> str:
        """The single Redis URL (state and queues); the state URL when they are split."""
        return self.topology.state_url

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.topology.state()
            self._client.ping()
        return self._client

    def queue_for(self, account_id: str) -> redis.Redis:
        return self.client if self.topology.single else self.topology.queue_for(account_id)

    def queue_clients(self) -> list[redis.Redis]:
        return [self.client] if self.topology.single else self.topology.queues()

    def engine(self) -> Engine:
        return Engine(self.client, Retention.from_env())

    def queries(self) -> Queries:
        return Queries(self.client)


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@contextmanager
def refusals(ctx: Context | None = None) -> Iterator[None]:
    """Turn every expected failure into one line on stderr and exit status 1."""
    try:
        yield
    except ValidationError as error:
        fail(validation_summary(error))
    except (HelpdeskError, ValueError, EnqueueFailed) as error:
        fail(str(error))
    except (RedisConnectionError, RedisTimeoutError) as error:
        where = ctx._url if ctx is not None and ctx._url else "the configured Redis"
        fail(f"cannot reach Redis at {where}: {error}")


def ids(**values: str) -> None:
    for field, value in values.items():
        check_id(field, value)


pass_context = click.make_pass_decorator(Context)


class OneLineErrors(click.Group):
    """click, but every usage error is one line on stderr (exit 2): an argument holding a newline
    must not spread the message over several lines, and scripts read the last line."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        try:
            super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.UsageError as error:
            click.echo("Error: " + " ".join(error.format_message().split()), err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            click.echo("error: " + " ".join(error.format_message().split()), err=True)
            sys.exit(error.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        sys.exit(0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--redis-url", envvar="REDIS_URL", default=None, help="Redis URL (default: $REDIS_URL, else embedded).")
@click.option("--log-json/--log-console", default=None, help="Log format (default: JSON unless on a terminal).")
@click.pass_context
def cli(click_ctx: click.Context, redis_url: str | None, log_json: bool | None) -> None:
    """Round-robin assignment of helpdesk tickets to Online agents."""
    configure_logging(json=log_json)
    click_ctx.obj = Context(redis_url)


@cli.command()
@click.argument("account")
@click.argument("user")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@pass_context
def user(ctx: Context, account: str, user: str, role: str) -> None:
    """Create or update USER of ACCOUNT with ROLE."""
    with refusals(ctx):
        ids(account=account, user=user)
        previous, went_offline = ctx.engine().upsert_user(account, user, Role(role), utc_now())
        verb = "created" if previous is None else f"updated ({previous.value} -> {role})"
        click.echo(f"{user} {verb} in {account} as {role}" + ("; now offline" if went_offline else ""))


@cli.command()
@click.argument("account")
@click.argument("user")
@click.argument("status", type=click.Choice([s.value for s in AgentStatus]))
@click.option("--actor", default=None, help="Who makes the change (default: USER themself).")
@pass_context
def status(ctx: Context, account: str, user: str, status: str, actor: str | None) -> None:
    """Set USER Online or Offline."""
    with refusals(ctx):
        ids(account=account, user=user, actor=actor or user)
        changed = ctx.engine().set_status(account, user, AgentStatus(status), actor or user, utc_now())
        click.echo(f"{user} is {status}" + ("" if changed else " (unchanged)"))


@cli.command("round-robin")
@click.argument("account")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def round_robin(ctx: Context, account: str, state: str, actor: str) -> None:
    """Turn round robin on or off for ACCOUNT."""
    with refusals(ctx):
        ids(account=account, actor=actor)
        changed = ctx.engine().set_round_robin(account, state == "on", actor, utc_now())
        click.echo(f"round robin {state} for {account}" + ("" if changed else " (unchanged)"))


@cli.command("office-hours")
@click.argument("account")
@click.option("--timezone", "timezone", default=None, help="IANA time zone, e.g. Europe/Berlin.")
@click.option("--hours", "hours", multiple=True, help='Weekly hours, e.g. "mon-fri 09:00-17:00" (repeatable).')
@click.option("--closed", multiple=True, help="Closed date YYYY-MM-DD (repeatable).")
@click.option("--clear", is_flag=True, help="Remove office hours (webchat always open).")
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def office_hours(
    ctx: Context,
    account: str,
    timezone: str | None,
    hours: tuple[str, ...],
    closed: tuple[str, ...],
    clear: bool,
    actor: str,
) -> None:
    """Set (or --clear) ACCOUNT's office hours, which gate webchat tickets."""
    with refusals(ctx):
        ids(account=account, actor=actor)
        if clear:
            if timezone or hours or closed:
                raise ValueError("--clear cannot be combined with --timezone/--hours/--closed")
            value = None
        else:
            if not timezone:
                raise ValueError("--timezone is required (or --clear)")
            if not hours:
                raise ValueError('at least one --hours is required, e.g. --hours "mon-fri 09:00-17:00" (or --clear)')
            value = OfficeHours.from_specs(timezone, list(hours), list(closed))
        changed = ctx.engine().set_office_hours(account, value, actor, utc_now())
        shown = "cleared (always open)" if value is None else f"{value.timezone}: " + "; ".join(value.to_specs())
        click.echo(f"office hours for {account} {shown}" + ("" if changed else " (unchanged)"))


@cli.command()
@click.argument("account")
@click.argument("team")
@click.argument("members", nargs=-1, required=True)
@click.option("--actor", required=True, help="Owner, admin or manager making the change.")
@pass_context
def team(ctx: Context, account: str, team: str, members: tuple[str, ...], actor: str) -> None:
    """Set TEAM's members in ACCOUNT (replaces the previous members)."""
    with refusals(ctx):
        ids(account=account, team=team, actor=actor)
        changed = ctx.engine().set_team(account, team, list(members), actor, utc_now())
        click.echo(f"team {team} in {account}: {' '.join(sorted(set(members)))}" + ("" if changed else " (unchanged)"))


@cli.command()
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def teams(ctx: Context, account: str, as_json: bool) -> None:
    """List ACCOUNT's teams, their members and who is Online."""
    with refusals(ctx):
        check_id("account", account)
        views = ctx.queries().teams(account)
        for view in views:
            if as_json:
                click.echo(view.model_dump_json())
            else:
                online = ", ".join(view.online) or "nobody"
                click.echo(f"{view.team_id}: {' '.join(view.members)}  (online: {online})")
        if not views and not as_json:
            click.echo(f"no teams in {account}")


@cli.command("bulk-assign")
@click.argument("account")
@click.argument("tickets", nargs=-1)
@click.option("--team", "team_id", required=True, help="Team whose Online members get the tickets.")
@click.option("--unassigned", "use_unassigned", is_flag=True, help="All unassigned tickets (oldest 10,000).")
@click.option("--actor", required=True, help="Agent or higher asking for it.")
@click.option("--wait", is_flag=True, help="Show progress until the job finishes.")
@pass_context
def bulk_assign(
    ctx: Context, account: str, tickets: tuple[str, ...], team_id: str, use_unassigned: bool, actor: str, wait: bool
) -> None:
    """Spread TICKETS (or --unassigned) over TEAM's Online members, as one RQ job."""
    from schemas.inbound import BulkAssignRequest
    from worker.core.bulk import start_bulk_assign, wait_for

    with refusals(ctx):
        if bool(tickets) == use_unassigned:
            raise ValueError("give TICKET ids or --unassigned (exactly one)")
        request = BulkAssignRequest.model_validate(
            {
                "account_id": account,
                "team_id": team_id,
                "actor_id": actor,
                "ticket_ids": list(tickets) if tickets else None,
                "unassigned": use_unassigned,
            }
        )
        job = start_bulk_assign(ctx.client, request, ctx.queue_for(account))
        click.echo(job.id)
        if wait:
            result = wait_for(job, echo=lambda text: click.echo(text, err=True))
            click.echo(json.dumps(result))


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
        event = build_ticket(
            {
                "account_id": account,
                "ticket_id": ticket,
                "channel": channel,
                "created_at": created_at or utc_iso(now),
                "subject": subject,
            },
            now=now,
        )
        job = enqueue(event, ctx.queue_for(account))
        click.echo(f"enqueued {account}/{ticket} ({channel}) as job {job.id}")


@cli.command("first-reply")
@click.argument("account")
@click.argument("ticket")
@click.option("--agent", required=True, help="The agent who replied.")
@click.option("--at", "at", default=None, help="When, ISO 8601 with offset (default: now).")
@pass_context
def first_reply(ctx: Context, account: str, ticket: str, agent: str, at: str | None) -> None:
    """Report AGENT's first reply to TICKET (time to first reply); a worker records it."""
    from producers.queue import enqueue_first_reply
    from schemas.inbound import AgentFirstReply
    from worker.errors import InvalidInput, UnknownTicket

    with refusals(ctx):
        now = utc_now()
        event = AgentFirstReply.model_validate(
            {"account_id": account, "ticket_id": ticket, "agent_id": agent, "replied_at": at or utc_iso(now)},
            context={"now": now},
        )
        record = ctx.queries().ticket(account, ticket)  # refuse now what the worker would refuse later
        if record is None:
            raise UnknownTicket(f"unknown ticket {ticket} in {account} (never seen, or its record expired)")
        if ctx.queries().role(account, agent) is None:
            raise UnknownUser(f"unknown user {agent}")
        if "created_ms" in record and event.replied_at.timestamp() * 1000 < int(record["created_ms"]):
            raise InvalidInput(
                f"the reply ({utc_iso(event.replied_at)}) is before the ticket was created ({record.get('created_at')})"
            )
        job = enqueue_first_reply(event, ctx.queue_for(account))
        click.echo(f"enqueued first reply to {account}/{ticket} by {agent} as job {job.id}")


@cli.command()
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def unassigned(ctx: Context, account: str, as_json: bool) -> None:
    """List ACCOUNT's unassigned tickets, oldest first, with reason."""
    with refusals(ctx):
        check_id("account", account)
        rows = ctx.queries().unassigned(account)
        if as_json:
            for row in rows:
                click.echo(row.model_dump_json())
            return
        if not rows:
            click.echo(f"no unassigned tickets in {account}")
            return
        click.echo(f"{'TICKET':<20} {'CHANNEL':<8} {'REASON':<22} {'CREATED_AT':<25} AVAILABLE_AT")
        for row in rows:
            available = utc_iso(row.available_at) if row.available_at else "-"
            click.echo(
                f"{row.ticket_id:<20} {row.channel.value:<8} {row.reason.value:<22} "
                f"{utc_iso(row.created_at):<25} {available}"
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
    show: Callable[[Event], str] = (lambda e: e.model_dump_json()) if as_json else describe
    with refusals(ctx):
        if bool(account) == all_accounts:
            raise ValueError("give an ACCOUNT or --all (not both)")
        if not all_accounts and (group or from_start or consumer != "cli"):
            raise ValueError("--group, --consumer and --from-start go with --all")
        if account:
            check_id("account", account)
            queries = ctx.queries()
            last = "0-0"
            for entry_id, event in queries.events(account):
                last = entry_id
                click.echo(show(event))
            if follow:
                try:
                    for _entry_id, event in queries.follow_events(account, after=last):
                        click.echo(show(event))
                except KeyboardInterrupt:
                    return
            return
        if not group:
            raise ValueError("--all needs --group NAME (the consumer group to read through)")
        ids(group=group, consumer=consumer)
        from worker.ops.consumer import EventConsumer

        def emit(event: Event) -> None:
            click.echo(show(event))  # printed before run/drain acknowledges it

        reader = EventConsumer(ctx.client, group, consumer, block_ms=1000 if follow else None)
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
    """List (and --requeue) failed ticket jobs of ACCOUNT, or of --all accounts."""
    from worker.runtime.failures import list_failed, requeue

    with refusals(ctx):
        if bool(account) == all_accounts:
            raise ValueError("give an ACCOUNT or --all (not both)")
        if account:
            check_id("account", account)
        queues = ctx.queue_clients()
        rows_by_queue = [(queue, list_failed(queue, None if all_accounts else account)) for queue in queues]
        rows = [row for _, queue_rows in rows_by_queue for row in queue_rows]
        for row in rows:
            if as_json:
                click.echo(row.model_dump_json())
            else:
                when = utc_iso(row.failed_at) if row.failed_at else "-"
                click.echo(f"{row.job_id}  {row.account_id or '?'}/{row.ticket_id or '?'}  {when}  {row.reason}")
        if do_requeue:
            requeued = sum(requeue(queue, queue_rows) for queue, queue_rows in rows_by_queue)
            click.echo(f"requeued {requeued} job(s)", err=as_json)
        elif not rows and not as_json:
            click.echo("no failed ticket jobs")


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
    from worker.reports.figures import format_text, load_report, resolve_period
    from worker.reports.html import render_html

    with refusals(ctx):
        check_id("account", account)
        now = utc_now()
        start, end = resolve_period(now.date(), day_from, day_to)
        result = load_report(ctx.client, account, start, end, now=now)
        if html_file is not None:
            try:
                html_file.write_text(render_html(result), encoding="utf-8")
            except OSError as error:
                raise ValueError(f"cannot write {html_file}: {error.strerror or error}") from None
        click.echo(result.model_dump_json() if as_json else format_text(result))
        if html_file is not None:
            click.echo(f"wrote {html_file}", err=as_json)


@cli.command("metrics")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="TCP port to listen on (0: any free).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: every interface).")
@pass_context
def metrics_command(ctx: Context, port: int, host: str) -> None:
    """Serve Prometheus metrics (read from Redis at each scrape) until Ctrl-C."""
    from worker.ops.metrics import endpoint_url, serve

    with refusals(ctx):
        try:
            topology = ctx.topology
            server, thread = serve(ctx.url, host, port, None if topology.single else topology.queue_urls)
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
@pass_context
def worker_command(ctx: Context, burst: bool, processes: int, worker_class: str, shard: int | None) -> None:
    """Run RQ workers on the helpdesk-rr queue (with queue shards: processes spread over them)."""
    from worker.runtime.runner import run_many, run_one

    with refusals(ctx):
        Retention.from_env()  # a bad setting stops the worker now, not every job later
        ctx.client  # noqa: B018 - fail fast with a clear message if Redis is unreachable
        topology = ctx.topology
        shards = len(topology.queue_urls)
        if shard is not None and not 0 <= shard < shards:
            raise ValueError(f"--shard must be between 0 and {shards - 1} (REDIS_QUEUE_URLS has {shards})")
        if processes == 1:
            queue_url = topology.queue_urls[shard or 0]
            run_one(queue_url, burst=burst, worker_class=worker_class, state=None if topology.single else ctx.client)
            return
        log_json = click.get_current_context().find_root().params.get("log_json")
        url = ctx.url if topology.single else None
        sys.exit(
            run_many(url, processes=processes, burst=burst, worker_class=worker_class, log_json=log_json, shards=shards)
        )


@cli.group("embedded")
def embedded_group() -> None:
    """The embedded Redis server used when no REDIS_URL is set."""


@embedded_group.command("stop")
def embedded_stop() -> None:
    """Stop the embedded server (its data is kept on disk and reloaded on next use)."""
    from worker.ops.redis_server import default_state_dir, stop_embedded_server

    stopped = stop_embedded_server()
    click.echo(f"embedded Redis in {default_state_dir()} " + ("stopped" if stopped else "was not running"))


@cli.group("schemas")
def schemas_group() -> None:
    """JSON Schema of the events."""


@schemas_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schemas_export(directory: Path) -> None:
    """Write one <type>.schema.json per event into DIRECTORY."""
    for path in export_json_schemas(directory):
        click.echo(str(path))


@cli.command()
@click.option("--account", default="demo", show_default=True, help="Account to run the demo day in (reset first).")
@pass_context
def demo(ctx: Context, account: str) -> None:
    """A scripted helpdesk day, end to end: producers -> RQ -> workers -> events."""
    from worker.cli.demo import run_demo

    configure_logging(level="WARNING")  # the demo prints its own story; decision lines would drown it
    with refusals(ctx):
        check_id("account", account)
        run_demo(ctx.client, ctx.url, account, echo=click.echo)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="helpdesk-rr")

