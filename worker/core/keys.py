"""Every Redis key name helpdesk-rr uses, built here and nowhere else.

Layout: an account maps to one of ``PARTITIONS`` partitions (crc32 of the account id). Every key of
the account *and* the partition's shared event stream carry the partition's hash tag ``{rr:pNN}``,
so one Lua call that decides a ticket and appends its events touches a single Redis Cluster slot.
The partition count is fixed for the life of a deployment: changing it moves accounts between
partitions (see docs/DESIGN.md).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from producers.lanes import LaneKeys as LaneKeys  # the burst intake's lanes, built where producers write them
from schemas.common import Channel

DEFAULT_PARTITIONS = 16
"""``HELPDESK_RR_PARTITIONS`` overrides it (read by worker/config.py, passed down). Never change it live."""
PREFIX = "rr"


def day_of(moment: datetime) -> str:
    """The UTC day figures are filed under (``stats``, docs/STATS.md)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def hour_of(moment: datetime) -> str:
    """The UTC hour ``HH`` figures within a day are filed under."""
    return moment.astimezone(UTC).strftime("%H")


def partition_of(account_id: str, partitions: int | None = None) -> int:
    """Stable account → partition mapping (crc32 is stable across processes, unlike ``hash``)."""
    return zlib.crc32(account_id.encode()) % (partitions or DEFAULT_PARTITIONS)


def partition_tag(partition: int) -> str:
    return f"{{{PREFIX}:p{partition:02d}}}"


def partition_stream(partition: int) -> str:
    """The stream every account of a partition writes its events to (for cross-account consumers)."""
    return f"{partition_tag(partition)}:events"


def partition_metrics(partition: int) -> str:
    """Hash of the partition's ops counters (docs/STATS.md)."""
    return f"{partition_tag(partition)}:metrics"


def partition_accounts(partition: int) -> str:
    """Set of the partition's account ids."""
    return f"{partition_tag(partition)}:accounts"


def partition_release_due(partition: int) -> str:
    """Sorted set account → ms from which the account owes a release of its waiting queue (a trigger
    fired, or its next after-hours ticket becomes available); swept by the workers (worker/core/release.py)."""
    return f"{partition_tag(partition)}:release_due"


def partition_presence_due(partition: int) -> str:
    """Sorted set '<account> <agent>' → ms when the Online agent's presence times out (last heartbeat +
    the account's timeout); only for accounts with a presence timeout. Swept by the workers every second."""
    return f"{partition_tag(partition)}:presence_due"


def presence_member(account_id: str, user_id: str) -> str:
    """The ``presence_due`` member of one agent (ids never hold a space)."""
    return f"{account_id} {user_id}"


def partition_unanswered_due(partition: int) -> str:
    """Sorted set '<account> <ticket>' → ms when the automatically assigned ticket's first reply is due (its
    assignment + the account's reassign-unanswered ``after``); only while that setting is on. Swept by the
    workers every second (worker/core/reassign.py)."""
    return f"{partition_tag(partition)}:unanswered_due"


def ticket_member(account_id: str, ticket_id: str) -> str:
    """The ``unanswered_due`` member of one ticket (ids never hold a space)."""
    return f"{account_id} {ticket_id}"


def malformed_queue_entries(queue_name: str) -> str:
    """Sorted set of the entries workers took off RQ queue ``queue_name`` and moved aside because they
    can never run (bad id, no job hash, data not JSON): JSON records scored by when (ms). It lives on
    the queue's Redis next to RQ's ``rq:queue:<name>`` keys; not an account key, no hash tag (RQ's
    queues are never on a Cluster). See worker/runtime/malformed.py."""
    return f"{PREFIX}:queue:{queue_name}:malformed"


def all_partition_streams(partitions: int | None = None) -> list[str]:
    return [partition_stream(p) for p in range(partitions or DEFAULT_PARTITIONS)]


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """Key names of one account. All share the account's partition hash tag."""

    account_id: str
    partition: int

    @classmethod
    def for_account(cls, account_id: str, partitions: int | None = None) -> AccountKeys:
        return cls(account_id, partition_of(account_id, partitions))

    @property
    def base(self) -> str:
        return f"{partition_tag(self.partition)}:a:{self.account_id}"

    @property
    def users(self) -> str:
        """Hash user_id → role."""
        return f"{self.base}:users"

    @property
    def online(self) -> str:
        """Sorted set of Online agents scored by their place in the rotation (lower = next)."""
        return f"{self.base}:online"

    @property
    def places(self) -> str:
        """Hash user_id → place in the rotation; kept while the agent is Offline."""
        return f"{self.base}:places"

    @property
    def seq(self) -> str:
        """Counter handing out rotation places (each assignment or first join takes the next one)."""
        return f"{self.base}:seq"

    @property
    def settings(self) -> str:
        """Hash: round_robin (on|off), office_hours (JSON or empty), office_hours_version."""
        return f"{self.base}:settings"

    @property
    def unassigned(self) -> str:
        """Sorted set of unassigned ticket ids scored by created_at (ms), oldest first."""
        return f"{self.base}:unassigned"

    @property
    def counts(self) -> str:
        """Hash agent_id → tickets assigned (all time)."""
        return f"{self.base}:counts"

    @property
    def load(self) -> str:
        """Hash agent_id → open tickets assigned to the agent (assigned and not closed)."""
        return f"{self.base}:load"

    @property
    def capacity(self) -> str:
        """Hash of capacities: ``*`` → the account's, agent_id → an override (absent: nothing is capped)."""
        return f"{self.base}:capacity"

    @property
    def ready(self) -> str:
        """Sorted set of the Online agents below their capacity, by rotation place (only while capacity is set)."""
        return f"{self.base}:ready"

    @property
    def waiting(self) -> str:
        """Sorted set of the waiting tickets a release may assign, scored by created_at (ms), oldest first."""
        return f"{self.base}:waiting"

    @property
    def later(self) -> str:
        """Sorted set of after-hours tickets scored by available_at (ms): they join ``waiting`` then."""
        return f"{self.base}:later"

    @property
    def agent_channels(self) -> str:
        """Hash agent_id → the channels the agent takes, comma-separated (absent: every channel). While it
        exists (some agent is restricted) the per-channel pools are kept (docs/DESIGN.md, "Per-channel pools")."""
        return f"{self.base}:agent_channels"

    def pool(self, channel: str) -> str:
        """Sorted set of the Online agents who take ``channel``, scored by rotation place (plus ``POOL_FULL`` for
        one at capacity); only while ``agent_channels`` exists."""
        return f"{self.base}:pool:{channel}"

    def waiting_channel(self, channel: str) -> str:
        """Sorted set of the ``waiting`` tickets of one channel, scored by created_at (ms): a release with
        per-channel pools takes each channel's oldest, so a ticket nobody can take blocks no other channel."""
        return f"{self.base}:waiting:{channel}"

    @property
    def channel_block(self) -> list[str]:
        """The 9 keys every script that moves status, place, load, capacity or the waiting queue takes, in this
        order: ``agent_channels``, the four ``pool:<channel>``, the four ``waiting:<channel>`` (channels in
        ``schemas.common.Channel`` order; the Lua helper ``channel_block`` reads them the same way)."""
        channels = [channel.value for channel in Channel]
        return [self.agent_channels, *map(self.pool, channels), *map(self.waiting_channel, channels)]

    @property
    def release_lease(self) -> str:
        """String set while a release of the account is queued or running (expires: a dead one is retaken)."""
        return f"{self.base}:release:lease"

    @property
    def release_toasts(self) -> str:
        """Hash agent_id → comma-separated tickets released to them whose toast is not sent yet."""
        return f"{self.base}:release:toasts"

    @property
    def release_due(self) -> str:
        return partition_release_due(self.partition)

    @property
    def heartbeats(self) -> str:
        """Hash user_id → ms of the user's last heartbeat (going Online counts as one)."""
        return f"{self.base}:heartbeats"

    @property
    def presence_due(self) -> str:
        return partition_presence_due(self.partition)

    @property
    def offline_since(self) -> str:
        """Hash user_id → ms the agent went Offline (set when they go Offline, removed when they come Online)."""
        return f"{self.base}:offline_since"

    @property
    def unanswered_due(self) -> str:
        return partition_unanswered_due(self.partition)

    @property
    def events(self) -> str:
        """The account's own ordered event stream."""
        return f"{self.base}:events"

    @property
    def partition_events(self) -> str:
        return partition_stream(self.partition)

    @property
    def teams(self) -> str:
        """Set of the account's team ids."""
        return f"{self.base}:teams"

    def team(self, team_id: str) -> str:
        """Set of a team's members."""
        return f"{self.base}:team:{team_id}"

    def team_staging(self, team_id: str) -> str:
        """Set of a large team's new members while they are sent a slice per call (``set_team``)."""
        return f"{self.base}:team:{team_id}:staging"

    def team_meta(self, team_id: str) -> str:
        """Hash of a team's bookkeeping: ``version`` (bumped by every change), who is staging it."""
        return f"{self.base}:team:{team_id}:meta"

    @property
    def metrics(self) -> str:
        return partition_metrics(self.partition)

    @property
    def accounts(self) -> str:
        return partition_accounts(self.partition)

    @property
    def api_keys(self) -> str:
        """Hash key id → JSON {sha256 of the whole key, label, created_at}: the account's API keys for the
        HTTP control API (worker/core/api_keys.py). The key itself is never stored."""
        return f"{self.base}:api_keys"

    @property
    def webhook_secrets(self) -> str:
        """Hash secret name (``schemas.common.WebhookSecretName``) → the secret the account's provider webhooks are
        checked with, in plain text: an HMAC check needs the key itself (docs/SECURITY.md). Read by one ``HGET``
        per delivery; never listed (worker/core/webhook_secrets.py)."""
        return f"{self.base}:webhook_secrets"

    @property
    def webhook_secrets_set(self) -> str:
        """Hash secret name → JSON {set_at, set_by}: which secrets are set, when and by whom (what listings read,
        so a listing never loads a secret)."""
        return f"{self.base}:webhook_secrets:set"

    @property
    def agent_link_key(self) -> str:
        """String: the account's secret (64 hex characters) that signs its agent links (worker/core/agent_links.py);
        made on first use (SET NX), replaced by ``agent-link ACCOUNT --revoke-all``, which voids every link."""
        return f"{self.base}:agent_link_key"

    def stats(self, day: str) -> str:
        """Hash of the account's figures for one UTC day ``YYYY-MM-DD`` (docs/STATS.md)."""
        return f"{self.base}:stats:{day}"

    def stats_online(self, day: str, hour: str) -> str:
        """Set of agents Online at some moment of one UTC hour ``HH`` of ``day``."""
        return f"{self.base}:stats:{day}:online:{hour}"

    @property
    def uq_depth(self) -> str:
        """Hash channel:reason → current depth of the unassigned set."""
        return f"{self.base}:uq_depth"

    def bulk_tickets(self, job_id: str) -> str:
        """List of a bulk job's tickets, resolved once (what a retry works on)."""
        return f"{self.base}:bulk:{job_id}:tickets"

    def bulk_progress(self, job_id: str) -> str:
        """Hash of one bulk team-assign job: whether its toasts were sent."""
        return f"{self.base}:bulk:{job_id}"

    def bulk_queue(self, job_id: str) -> str:
        """Zset of a bulk job's rotation queue: the team's Online members by place (unlinked when the job ends)."""
        return f"{self.base}:bulk:{job_id}:queue"

    def bulk_done(self, job_id: str) -> str:
        """List of 'agent ticket' pairs one bulk job assigned (for its one-toast-per-agent summary)."""
        return f"{self.base}:bulk:{job_id}:done"

    def ticket(self, ticket_id: str) -> str:
        """Hash with a ticket's decision; its existence is the idempotency record."""
        return f"{self.base}:t:{ticket_id}"

    def tickets(self, ticket_ids: list[str]) -> list[str]:
        """``ticket`` for many ids at once (a bulk batch builds hundreds per call)."""
        prefix = self.ticket("")
        return [prefix + ticket_id for ticket_id in ticket_ids]
