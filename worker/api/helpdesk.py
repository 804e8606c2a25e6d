"""``Helpdesk``: the one control API over the engine — what the CLI, the demo and a platform call.

A platform's backend needs the same verbs as the CLI: the agent's Online toggle in the Inbox header,
the settings page (round robin, office hours, teams), bulk assignment and the reports. They all go
through this class, never through ``Engine``, ``Queries`` or key names, so the rules (permissions,
validation, idempotency) hold the same way for every surface. Every method raises only
``worker.errors.HelpdeskError`` subclasses for expected failures, with the one-line message the CLI
prints.

Time: methods that change state take ``now`` (default: the wall clock, read here at the edge).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from rq.job import Job

from producers.queue import build_ticket, enqueue, enqueue_first_reply
from schemas.common import AgentStatus, Role, check_id, utc_iso
from schemas.inbound import AgentFirstReply, BulkAssignRequest, TicketCreated
from schemas.office_hours import OfficeHours
from schemas.views import BulkJobView
from worker.api.agent_links import AgentLinksApi
from worker.api.api_keys import ApiKeysApi
from worker.api.capacity import CapacityApi, release_enqueuer
from worker.api.channels import ChannelsApi
from worker.api.lifecycle import LifecycleApi
from worker.api.presence import PresenceApi
from worker.api.reads import ReadsApi
from worker.api.reassign import ReassignApi
from worker.api.refusals import account_checked_on_refusal, known_account, refusing, typed_refusals
from worker.api.webhook_secrets import WebhookSecretsApi
from worker.config import Settings
from worker.core.bulk import NothingToAssign, bulk_job_view, check_request, start_bulk_assign, wait_for
from worker.core.engine import Engine, utc_now
from worker.core.keys import AccountKeys
from worker.core.queries import Queries
from worker.errors import InvalidInput, UnknownTicket, UnknownUser
from worker.redaction import redacted
from worker.runtime.failures import FailedTicketJob, list_failed, requeue
from worker.runtime.runner import live_workers, run_on
from worker.runtime.topology import Topology


@dataclass(frozen=True)
class UserSaved:
    """What ``save_user`` did: the role before (None: the user is new), whether a demotion to
    viewer took an Online user Offline, and whether anything changed (False: the user already had
    that role)."""

    previous_role: Role | None
    went_offline: bool
    changed: bool = True


class Helpdesk(
    ReadsApi,
    LifecycleApi,
    CapacityApi,
    PresenceApi,
    ReassignApi,
    ChannelsApi,
    ApiKeysApi,
    WebhookSecretsApi,
    AgentLinksApi,
):
    """The product's verbs over one deployment's Redis (state, and the queues tickets go to).

    Build it once per process and share it (it holds the Redis clients and the engine's caches)::

        helpdesk = Helpdesk.from_env()                    # REDIS_URL etc., read once
        helpdesk = Helpdesk.from_url("redis://redis:6379/0")
        helpdesk.set_status("acme", "ana", AgentStatus.ONLINE)

    The connection is made on first use, so building one never fails.
    """

    def __init__(self, settings: Settings | None = None, topology: Topology | None = None) -> None:
        self.config = settings or Settings()
        self._topology = topology
        self._state: Any = None
        self._engine: Engine | None = None

    @classmethod
    def from_env(cls, redis_url: str | None = None, environ: Mapping[str, str] | None = None) -> Helpdesk:
        """From the environment (worker/config.py); ``redis_url`` wins over ``REDIS_URL``.

        With no Redis configured the embedded server is started (once) on first use."""
        with typed_refusals(lambda: redis_url or "the configured Redis"):
            settings = Settings.from_env(environ, redis_url=redis_url)
        return cls(settings)

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None) -> Helpdesk:
        """One Redis for state and queues at ``url`` (``redis+cluster://`` only for split topologies)."""
        config = settings or Settings(redis_url=url)
        return cls(config, Topology(url, (url,), config.redis_retries))

    @classmethod
    def for_client(cls, client: redis.Redis, settings: Settings | None = None) -> Helpdesk:
        """Over an existing client (state and queue on it): tests, notebooks, an embedding app."""
        return cls(settings, Topology.over_client(client))

    # --- plumbing ---------------------------------------------------------------------------------

    @property
    def topology(self) -> Topology:
        """Where state and queues live, resolved on first use: building a ``Helpdesk`` never starts the
        embedded server (``helpdesk-rr schemas export`` and ``--help`` never touch Redis)."""
        if self._topology is None:
            self._topology = Topology.resolve(self.config)
        return self._topology

    @property
    def state(self) -> Any:
        """The state Redis client (decisions, events, settings); connected and pinged on first use, so
        an unreachable Redis is reported before anything else happens."""
        if self._state is None:
            client = self.topology.state()
            client.ping()
            self._state = client
        return self._state

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.state, self.config.retention, self.config.partitions)
            self._engine.on_release = release_enqueuer(self.queue_for)  # a change that made room rings a release
        return self._engine

    @property
    def queries(self) -> Queries:
        return Queries(self.state, self.config.partitions)

    def redis_location(self) -> str:
        """The state Redis URL for messages, credentials redacted (resolving it may start the embedded server)."""
        return redacted(self.topology.state_url)

    def queue_for(self, account_id: str) -> redis.Redis:
        """The Redis holding ``account_id``'s RQ queue (its shard when queues are split)."""
        return self.state if self.topology.single else self.topology.queue_for(account_id)

    def queue_clients(self) -> list[redis.Redis]:
        return [self.state] if self.topology.single else self.topology.queues()

    @refusing
    def ping(self) -> None:
        """Fail now, with ``Unavailable``, if the state Redis cannot be reached."""
        self.state.ping()

    # --- people and settings ------------------------------------------------------------------------

    @refusing
    def save_user(self, account_id: str, user_id: str, role: Role | str, now: datetime | None = None) -> UserSaved:
        """Create or update a user (operator provisioning: no actor; see docs/DESIGN.md, Permissions)."""
        _ids(account=account_id, user=user_id)
        previous, went_offline = self.engine.upsert_user(account_id, user_id, Role(role), now or utc_now())
        return UserSaved(previous, went_offline, changed=previous is not Role(role))

    @refusing
    def set_status(
        self,
        account_id: str,
        user_id: str,
        status: AgentStatus | str,
        actor_id: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Set a user Online or Offline (``actor_id`` defaults to the user). Returns whether it changed."""
        _ids(account=account_id, user=user_id, actor=actor_id or user_id)
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_status(
                account_id, user_id, AgentStatus(status), actor_id or user_id, now or utc_now()
            )

    @refusing
    def set_round_robin(self, account_id: str, enabled: bool, actor_id: str, now: datetime | None = None) -> bool:
        """Turn round robin on or off (owner, admin, manager). Returns whether it changed."""
        _ids(account=account_id, actor=actor_id)
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_round_robin(account_id, enabled, actor_id, now or utc_now())

    @refusing
    def set_office_hours(
        self, account_id: str, hours: OfficeHours | None, actor_id: str, now: datetime | None = None
    ) -> bool:
        """Replace the office hours gating webchat (None: always open). Returns whether they changed.

        Build ``hours`` with ``OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"], [])``."""
        _ids(account=account_id, actor=actor_id)
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_office_hours(account_id, hours, actor_id, now or utc_now())

    @refusing
    def set_team(
        self, account_id: str, team_id: str, members: Iterable[str], actor_id: str, now: datetime | None = None
    ) -> bool:
        """Set a team's members, replacing the previous ones (owner, admin, manager)."""
        _ids(account=account_id, team=team_id, actor=actor_id)
        with account_checked_on_refusal(self.queries, account_id):
            return self.engine.set_team(account_id, team_id, list(members), actor_id, now or utc_now())

    # --- tickets ----------------------------------------------------------------------------------

    @refusing
    def submit_ticket(self, ticket: TicketCreated | Mapping[str, Any], now: datetime | None = None) -> Job:
        """Validate a ticket-created event and enqueue it; a worker decides it. Returns the RQ job."""
        event = build_ticket(ticket, now=now or utc_now())
        known_account(self.queries, event.account_id)
        return enqueue(event, self.queue_for(event.account_id))

    @refusing
    def report_first_reply(
        self,
        account_id: str,
        ticket_id: str,
        agent_id: str,
        at: datetime | str | None = None,
        now: datetime | None = None,
    ) -> Job:
        """Report an agent's first reply (time to first reply); a worker records it.

        Refused now — not later in the failed registry — when the ticket or the agent is unknown or
        the reply is dated before the ticket."""
        now = now or utc_now()
        event = AgentFirstReply.model_validate(
            {"account_id": account_id, "ticket_id": ticket_id, "agent_id": agent_id, "replied_at": at or now},
            context={"now": now},
        )
        known_account(self.queries, account_id)
        record = self.queries.ticket(account_id, ticket_id)
        if record is None:
            raise UnknownTicket(f"unknown ticket {ticket_id} in {account_id} (never seen, or its record expired)")
        if self.queries.role(account_id, agent_id) is None:
            raise UnknownUser(f"unknown user {agent_id} in account {account_id}")
        if "created_ms" in record and event.replied_at.timestamp() * 1000 < int(record["created_ms"]):
            raise InvalidInput(
                f"the reply ({utc_iso(event.replied_at)}) is before the ticket was created ({record.get('created_at')})"
            )
        return enqueue_first_reply(event, self.queue_for(account_id))

    @refusing
    def bulk_assign(
        self,
        account_id: str,
        team_id: str,
        actor_id: str,
        tickets: Iterable[str] | None = None,
        *,
        unassigned: bool = False,
    ) -> Job:
        """Spread ``tickets`` (or, with ``unassigned=True``, the oldest 10,000 waiting) over the team's
        Online members, as one RQ job. The request is checked before anything is enqueued; with
        ``unassigned=True`` and nothing waiting, ``NothingToAssign`` is raised and nothing is enqueued."""
        ticket_ids = list(tickets) if tickets is not None else []
        if bool(ticket_ids) == unassigned:
            raise InvalidInput("give ticket ids or unassigned (exactly one)")
        request = BulkAssignRequest.model_validate(
            {
                "account_id": account_id,
                "team_id": team_id,
                "actor_id": actor_id,
                "ticket_ids": ticket_ids or None,
                "unassigned": unassigned,
            }
        )
        known_account(self.queries, account_id)
        if unassigned and not self.queries.unassigned(account_id, limit=1):
            check_request(self.state, request, self.config.partitions)  # unknown team or actor: refused first
            raise NothingToAssign(f"no unassigned tickets in {account_id}; nothing to assign")
        return start_bulk_assign(self.state, request, self.queue_for(account_id), self.config.partitions)

    @refusing
    def wait_for_bulk(self, job: Job, echo: Any = None, timeout: float = 600) -> dict[str, Any]:
        """Wait for a bulk job (``echo`` gets a progress line as it changes); returns its result."""
        return wait_for(job, echo=echo or (lambda _line: None), timeout=timeout)

    @refusing
    def bulk_job(self, account_id: str, job_id: str) -> BulkJobView:
        """A bulk job of ``account_id`` as it is now: RQ's status, tickets done of the total, and once finished
        what it did (``bulk_assign``'s job id; kept a day). ``UnknownJob`` for any other id, another
        account's job included (the HTTP control API's ``GET …/bulk-assignments/{job}``)."""
        known_account(self.queries, account_id)
        return bulk_job_view(self.queue_for(account_id), account_id, job_id)

    @refusing
    def workers_alive(self, account_id: str) -> int:
        """How many workers serve the account's queue now (0: its jobs wait until one is started)."""
        _ids(account=account_id)
        return live_workers(self.queue_for(account_id))

    @refusing
    def drain(self) -> bool:
        """Decide everything queued now, in this process (a burst worker): demos and local setups.

        Production runs ``helpdesk-rr worker`` processes instead. Returns whether any job ran."""
        state = None if self.topology.single else self.state
        return any([run_on(queue, burst=True, state=state, settings=self.config) for queue in self.queue_clients()])

    @refusing
    def failed_jobs(self, account_id: str | None = None) -> list[FailedTicketJob]:
        """Failed jobs in RQ's failed registry (of every queue shard), ``account_id``'s or all. Without an
        account, also the jobs whose data is not JSON (``kind="undecodable"``) and the queue entries
        workers moved aside (``kind="malformed"``, docs/OPERATIONS.md); their text is printable and cut."""
        if account_id is not None:
            _ids(account=account_id)
        return [row for queue in self.queue_clients() for row in list_failed(queue, account_id)]

    @refusing
    def requeue_failed(self, account_id: str | None = None) -> int:
        """Put the failed jobs (``account_id``'s or all) back on their queue. Returns how many.
        Undecodable and malformed rows are never requeued (they could never run)."""
        if account_id is not None:
            _ids(account=account_id)
        return sum(requeue(queue, list_failed(queue, account_id)) for queue in self.queue_clients())

    @refusing
    def reset_account(self, account_id: str) -> int:
        """Delete every key of one account (the demo's fresh start). A SCAN: not for live accounts."""
        _ids(account=account_id)
        pattern = AccountKeys.for_account(account_id, self.config.partitions).base + ":*"
        return sum(int(self.state.delete(key)) for key in self.state.scan_iter(match=pattern, count=1000))


def _ids(**values: str) -> None:
    """Ids become parts of key names: refuse a bad one with a message naming the field."""
    for field, value in values.items():
        check_id(field, value)
