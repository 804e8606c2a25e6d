"""``helpdesk-rr``: everything an operator or a script does, through the control API.

One module per concern registers its commands on the group in ``base.py``: ``people`` (users,
status, round robin, office hours), ``capacity`` (capacity and auto-assign), ``channels`` (which channels an
agent takes), ``presence`` (heartbeats and the presence timeout), ``reassign`` (customer replies and
reassignment), ``tickets`` (tickets, first replies, the unassigned queue, events, failed jobs), ``teams`` (teams
and bulk assignment), ``reports``, ``ops`` (workers, metrics, the embedded server, schemas), ``serve`` (the
HTTP edge), ``api_keys`` (the HTTP API's keys), ``webhook_secrets`` (the secrets providers' webhooks are verified
with), ``agent_links`` (links to the agent page), ``views`` (users and settings as they are now) and ``demo``.
"""

from __future__ import annotations

from typing import Any

from worker.cli import (  # noqa: F401 - commands
    agent_links,
    api_keys,
    capacity,
    channels,
    demo,
    ops,
    people,
    presence,
    reassign,
    reports,
    serve,
    teams,
    tickets,
    views,
    webhook_secrets,
)
from worker.cli.base import cli

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="helpdesk-rr")
