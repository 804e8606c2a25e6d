"""``helpdesk-rr demo``: one scripted helpdesk day, through the real path.

Every ticket goes producers (channel adapters, raw webhook payloads) → RQ queue → an RQ worker
(burst, on the same Redis) → the Lua decision → the event stream, which is what gets printed.
Ticket arrival times are laid on the most recent past Tuesday in the account's time zone, so the
webchat office-hours gate gives the same answers whatever day the demo runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from producers.channels import ADAPTERS
from schemas.common import AgentStatus, Channel, Role, utc_iso
from schemas.events import TicketAssigned, TicketClosed, TicketUnassigned
from schemas.office_hours import OfficeHours
from worker.api import Helpdesk, HelpdeskError, utc_now
from worker.cli.base import Context, cli, ids, pass_context, refusals
from worker.cli.format import LocalTimes, when
from worker.logging import configure_logging
from worker.redaction import redacted

TIMEZONE = "America/New_York"
Echo = Callable[[str], None]


def _payload(channel: Channel, ticket_id: str, at: datetime, text: str) -> dict[str, Any]:
    when = utc_iso(at)
    if channel is Channel.EMAIL:
        return {
            "ticket_id": ticket_id,
            "message_id": f"<{ticket_id}@mail.example>",
            "from_address": "c@example.com",
            "to_address": "support@example.com",
            "subject": text,
            "received_at": when,
        }
    if channel is Channel.WEBCHAT:
        return {
            "ticket_id": ticket_id,
            "conversation_id": f"conv-{ticket_id}",
            "visitor_id": f"v-{ticket_id}",
            "first_message": text,
            "started_at": when,
        }
    if channel is Channel.SMS:
        return {
            "ticket_id": ticket_id,
            "message_sid": f"SM{ticket_id}",
            "from_number": "+15551230000",
            "to_number": "+15559870000",
            "body": text,
            "received_at": when,
        }
    return {
        "ticket_id": ticket_id,
        "network": "instagram",
        "message_id": f"ig-{ticket_id}",
        "author_handle": "@customer",
        "text": text,
        "created_time": when,
    }


class DemoDay:
    def __init__(self, helpdesk: Helpdesk, account: str, echo: Echo) -> None:
        self.helpdesk, self.account, self.echo = helpdesk, account, echo
        self.zone = ZoneInfo(TIMEZONE)
        today = utc_now().astimezone(self.zone).date()
        self.day = today - timedelta(days=(today.weekday() - 1) % 7 or 7)  # most recent past Tuesday
        self.last_event = "0-0"
        self.counter = 0
        self.local = LocalTimes(helpdesk)

    def at(self, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(self.day, time(hh, mm), tzinfo=self.zone)

    def step(self, title: str) -> None:
        self.echo(f"\n== {title}")

    def try_action(self, label: str, action: Callable[[], object]) -> None:
        try:
            action()
            self.echo(f"   {label}: ok")
        except HelpdeskError as error:
            self.echo(f"   {label}: refused - {error}")

    def status(self, user: str, status: AgentStatus, actor: str | None = None) -> None:
        self.helpdesk.set_status(self.account, user, status, actor or user)

    def tickets(self, *specs: tuple[Channel, int, int], days_later: int = 0) -> list[str]:
        """Enqueue tickets through the channel adapters, run a burst worker, print the new events."""
        ids = []
        for channel, hh, mm in specs:
            self.counter += 1
            ticket_id = f"T{self.counter:03d}"
            at = self.at(hh, mm) + timedelta(days=days_later)
            self.deliver(channel, ticket_id, at, f"Help #{ticket_id}")
            ids.append(ticket_id)
        self.drain()
        return ids

    def deliver(self, channel: Channel, ticket_id: str, at: datetime, text: str) -> None:
        """A channel integration's part: the raw webhook payload through its adapter (producers API)."""
        queue = self.helpdesk.queue_for(self.account)
        ADAPTERS[channel].enqueue(self.account, _payload(channel, ticket_id, at, text), queue)

    def drain(self) -> None:
        self.helpdesk.drain()
        self.show_events()

    def show_events(self) -> None:
        for entry_id, event in self.helpdesk.events(self.account, after=self.last_event):
            self.last_event = entry_id
            self.echo("   " + self.local.describe(event))

    def run(self) -> None:
        self.echo(f"helpdesk-rr demo: account {self.account!r}, a day on {self.day.isoformat()} ({TIMEZONE})")
        self.echo(f"Redis: {redacted(self.helpdesk.redis_location())}")
        self.helpdesk.reset_account(self.account)
        for scene in (self.set_up, self.early_morning, self.morning, self.late_morning, self.duplicates):
            scene()
        self.evening_and_next_morning()
        self.capacity_and_release()
        self.absent_agents()
        self.summary()

    def set_up(self) -> None:
        self.step("Set-up: users (owner, manager, three agents, a viewer) and webchat office hours")
        for user, role in [
            ("olivia", Role.OWNER),
            ("max", Role.MANAGER),
            ("ana", Role.AGENT),
            ("ben", Role.AGENT),
            ("chloe", Role.AGENT),
            ("vic", Role.VIEWER),
        ]:
            self.helpdesk.save_user(self.account, user, role)
            self.echo(f"   {user}: {role.value}")
        hours = OfficeHours.from_specs(TIMEZONE, ["mon-fri 09:00-17:00"], [])
        self.helpdesk.set_office_hours(self.account, hours, "max")
        self.show_events()

    def early_morning(self) -> None:
        account = self.account
        self.step("08:05 Round robin is still off: tickets stay unassigned")
        self.tickets((Channel.EMAIL, 8, 5), (Channel.SMS, 8, 7))

        self.step("08:10 An agent may not turn round robin on; the manager does")
        self.try_action("ana turns round robin on", lambda: self.helpdesk.set_round_robin(account, True, "ana"))
        self.helpdesk.set_round_robin(account, True, "max")
        self.show_events()

        self.step("08:15 Nobody is Online yet (nobody is set Online automatically)")
        self.tickets((Channel.EMAIL, 8, 15))

        self.step("08:30 Only ana is Online: every ticket goes to her; early webchat waits for office hours")
        self.status("ana", AgentStatus.ONLINE)
        self.tickets((Channel.EMAIL, 8, 30), (Channel.SMS, 8, 31), (Channel.SOCIAL, 8, 32), (Channel.WEBCHAT, 8, 40))

    def morning(self) -> None:
        self.step("09:00 ben and chloe go Online (they join at the back of the line); a mixed morning")
        self.status("ben", AgentStatus.ONLINE)
        self.status("chloe", AgentStatus.ONLINE)
        self.tickets(
            *[
                (channel, 9 + i // 4, (i * 7) % 60)
                for i, channel in enumerate([Channel.EMAIL, Channel.WEBCHAT, Channel.SMS, Channel.SOCIAL] * 3)
            ]
        )

    def late_morning(self) -> None:
        self.step("11:00 A viewer cannot go Online; ben takes a break and keeps his place in the line")
        self.try_action("vic goes online", lambda: self.status("vic", AgentStatus.ONLINE))
        self.try_action("ana sets chloe offline", lambda: self.status("chloe", AgentStatus.OFFLINE, actor="ana"))
        self.status("ben", AgentStatus.OFFLINE)
        self.tickets((Channel.EMAIL, 11, 0), (Channel.WEBCHAT, 11, 5), (Channel.SMS, 11, 10))
        self.status("ben", AgentStatus.ONLINE)
        self.tickets((Channel.EMAIL, 11, 30), (Channel.SOCIAL, 11, 35), (Channel.EMAIL, 11, 40))

    def duplicates(self) -> None:
        self.step("12:00 The same webhook delivered twice: decided once, no second event")
        self.deliver(Channel.EMAIL, "T001", self.at(8, 5), "again")
        self.deliver(Channel.SMS, "T010", self.at(9, 28), "again")
        self.drain()
        self.echo("   (no new events)")

    def evening_and_next_morning(self) -> None:
        account = self.account
        self.step("17:30 Everyone signs off; evening tickets wait (webchat until tomorrow 09:00)")
        self.status("max", AgentStatus.OFFLINE)
        for user in ("ana", "ben", "chloe"):
            self.status(user, AgentStatus.OFFLINE, actor="max")
        self.tickets((Channel.WEBCHAT, 19, 0), (Channel.EMAIL, 19, 5))

        self.step("Next morning: ana and chloe come Online; nobody is handed the backlog automatically.")
        self.echo("   The manager bulk-assigns the whole unassigned queue to team 'support', fairly:")
        self.status("ana", AgentStatus.ONLINE)
        self.status("chloe", AgentStatus.ONLINE)
        self.helpdesk.set_team(account, "support", ["ana", "ben", "chloe"], "max")
        job = self.helpdesk.bulk_assign(account, "support", "max", unassigned=True)
        self.drain()
        result = job.return_value(refresh=True) or {}
        self.echo(f"   bulk job {job.id}: {result.get('assigned', 0)} assigned, {result.get('toasts', 0)} toasts")

    def capacity_and_release(self) -> None:
        account = self.account
        assigned = {e.ticket_id for _, e in self.helpdesk.events(account, count=None) if isinstance(e, TicketAssigned)}
        for ticket_id in sorted(assigned):
            self.helpdesk.close_ticket(account, ticket_id)
        self.helpdesk.drain()
        self.last_event = self.helpdesk.events(account)[-1][0]
        self.step("Next morning, 10:00: yesterday's tickets are all closed (events not shown). At most 3 open")
        self.echo("   tickets each from now on (ben, part-time: 1), and auto-assign on")
        self.helpdesk.set_capacity(account, 3, "max")
        self.helpdesk.set_capacity(account, 1, "max", agent_id="ben")
        self.status("ben", AgentStatus.ONLINE)
        self.helpdesk.set_auto_assign(account, True, "max")
        self.drain()
        self.step("10:05 A burst of email: each agent fills up to their capacity, the rest wait their turn")
        burst = self.tickets(*[(Channel.EMAIL, 10, 5 + n) for n in range(10)], days_later=1)
        waiting = [row.ticket_id for row in self.helpdesk.unassigned(account) if row.ticket_id in burst]
        self.echo(f"   waiting, oldest first: {', '.join(waiting) or '(none)'}")
        self.step("10:30 ana closes two tickets: the two oldest waiting are released to her, with one toast")
        hers = [
            event.ticket_id
            for _, event in self.helpdesk.events(account, count=None)
            if isinstance(event, TicketAssigned) and event.agent_id == "ana" and event.ticket_id in burst
        ]
        for ticket_id in hers[:2]:
            self.helpdesk.close_ticket(account, ticket_id)
        self.drain()

    def absent_agents(self) -> None:
        """Issue 16's policies, opt-in: per-channel pools and reassign-away (a customer writes to an agent
        who left). Presence timeouts and unanswered timers need real minutes to pass: see docs/CLI.md."""
        account = self.account
        self.step("11:00 Opt-in: chloe takes only webchat and social; reassign-away on. ana leaves, and a customer")
        self.echo("   writes again on one of her tickets: nobody else with room takes email (ben is full, chloe")
        self.echo("   does not take it), so it waits, ahead of younger tickets, and keeps who had it")
        self.helpdesk.set_agent_channels(account, "chloe", [Channel.WEBCHAT, Channel.SOCIAL], "max")
        self.helpdesk.set_reassign_away(account, True, 0, "max")
        self.drain()
        ticket = self._open_ticket_of("ana")
        self.status("ana", AgentStatus.OFFLINE)
        if ticket:
            self.helpdesk.customer_reply(account, ticket)
        self.drain()
        self.step("11:10 ben closes his ticket: the release hands him the oldest waiting one, ana's former ticket")
        mine = self._open_ticket_of("ben")
        if mine:
            self.helpdesk.close_ticket(account, mine)
        self.drain()

    def _open_ticket_of(self, agent: str) -> str | None:
        """The agent's oldest open ticket, from the events (the demo's own bookkeeping)."""
        holder: dict[str, str] = {}
        closed: set[str] = set()
        for _, event in self.helpdesk.events(self.account, count=None):
            if isinstance(event, TicketAssigned):
                holder[event.ticket_id] = event.agent_id
            elif isinstance(event, TicketClosed):
                closed.add(event.ticket_id)
            elif isinstance(event, TicketUnassigned):
                holder.pop(event.ticket_id, None)
        return next((t for t, a in holder.items() if a == agent and t not in closed), None)

    def summary(self) -> None:
        echo = self.echo
        self.step("Unassigned set (oldest first)")
        rows = self.helpdesk.unassigned(self.account)
        if not rows:
            echo("   (empty)")
        for row in rows:
            until = f" until {when(row.available_at, self.local.zone(self.account))}" if row.available_at else ""
            echo(f"   {row.ticket_id} {row.channel.value:<8} {row.reason.value}{until}")
        self.step("Tickets assigned per agent")
        for view in self.helpdesk.users(self.account):
            if view.role.can_be_online:
                echo(f"   {view.user_id:<8} {view.assigned:>3}  ({view.status.value})")


def run_demo(helpdesk: Helpdesk, account: str, echo: Echo) -> None:
    DemoDay(helpdesk, account, echo).run()


@cli.command()
@click.option("--account", default="demo", show_default=True, help="Account to run the demo day in (reset first).")
@pass_context
def demo(ctx: Context, account: str) -> None:
    """A scripted helpdesk day, end to end: producers -> RQ -> workers -> events."""
    configure_logging(level="WARNING")  # the demo prints its own story; decision lines would drown it
    with refusals(ctx):
        ids(account=account)
        run_demo(ctx.helpdesk, account, echo=click.echo)
