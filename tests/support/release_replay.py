"""Replaying an account's event stream to check capacity and the waiting queue's release after the fact.

The stream is written in the same Lua call as every decision, so its order is the order in which Redis
ran them: replaying it from the account's first event rebuilds, at every point, each agent's load (from
``ticket.assigned`` / ``ticket.closed`` / ``ticket.reopened``), their capacity (``settings.changed``),
who was Online (``agent.status_changed``), whether auto-assign was on, and which tickets waited for a
release. ``AccountReplay.apply`` checks each event against that state (docs/DESIGN.md, "Capacity and
the waiting queue"):

- every ticket gets exactly one first decision, and is assigned at most once (no bulk job here);
- an automatic assignment (``round_robin`` or ``waiting_queue``) goes to an Online agent whose load is
  below their capacity at that point of the stream;
- ``waiting_queue`` takes a ticket that was waiting for a release, only while auto-assign is on;
- with auto-assign on, no automatic assignment takes a ticket while an older eligible one waits (a
  newer ticket never overtakes an older one); the release's *run* order is not checked for being
  monotonic: a reopened or late older ticket rightly joins the head of the queue mid-release;
- every release toast names tickets released to its recipient, each ticket in one toast only;
- reassignments (issue 16, parts 2–3: ``assignee_away``, ``no_first_reply``) take a ticket from the assignee the
  stream shows (``previous_agent_id``) to another agent, Online, with room and eligible for the ticket's
  channel; ``assignee_away`` only with the setting on and the assignee Offline, ``no_first_reply`` only with
  it on and at most the max times per ticket; a ticket whose assignee is away with nobody else there waits
  again (``ticket.unassigned`` of an assigned ticket) with the pick's true reason, and a release later
  names the assignee it left;
- every assignment goes to an agent who takes the ticket's channel (per-channel pools, issue 16 part 4), and
  with pools on a new ticket waits only behind older tickets of its own channel;
- every ``agent.status_changed`` is a change (never Offline twice: racing presence sweeps emit one event), an
  Online one is a person's (``manual``, with an actor: nobody is set Online automatically), and a
  ``presence_timeout`` one has no actor and comes only with a timeout set; ``timeouts`` lists them with the
  Online stretch they ended, for the test to hold against the heartbeats it sent.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RELEASABLE = frozenset(
    {"no_agent_online", "all_agents_at_capacity", "older_tickets_waiting", "reopened", "no_agent_for_channel"}
)
"""Reasons whose tickets a release may take (the waiting zset; no office hours in these tests)."""
AUTOMATIC = frozenset({"round_robin", "waiting_queue"})
REASSIGNING = frozenset({"assignee_away", "no_first_reply"})


@dataclass
class Tally:
    """How much the replay saw, so a test can show it exercised what it claims to."""

    automatic: int = 0
    released: int = 0
    filled_to_capacity: int = 0
    """Automatic assignments that took an agent's load to exactly their capacity."""
    at_capacity_waits: int = 0
    closes: int = 0
    freed: int = 0
    """Closes that gave an Online agent room they did not have."""
    reopens: int = 0
    capacity_changes: int = 0
    release_runs: set[str] = field(default_factory=set)
    reassigned: Counter[str] = field(default_factory=Counter)
    """Reassignments by reason (``assignee_away``, ``no_first_reply``)."""
    away_waits: int = 0
    """Tickets whose assignee was away and nobody else there: back in the waiting queue."""
    channel_waits: int = 0
    """First decisions and away waits with ``no_agent_for_channel``."""


@dataclass(frozen=True)
class Timeout:
    """One ``agent.status_changed`` Offline with reason ``presence_timeout``."""

    agent_id: str
    episode: int
    """Which of the agent's Online stretches it ended (1: the first time they went Online)."""
    occurred_at: datetime


def _ms(event: Any) -> int:
    return int(round(event.occurred_at.timestamp() * 1000))  # whole ms on the wire: no float truncation


@dataclass(frozen=True)
class Reassignment:
    """One ``ticket.assigned`` with a reassigning reason, or (``agent_id`` None) a wait after an away assignee."""

    index: int
    """Its place in the stream (0: the first event)."""
    ticket_id: str
    reason: str
    previous_agent_id: str
    agent_id: str | None


@dataclass
class AccountReplay:
    """One account's stream, applied event by event; ``created_ms`` gives every ticket's arrival (ms)."""

    account_id: str
    created_ms: Mapping[str, int]
    load: Counter[str] = field(default_factory=Counter)
    account_capacity: int | None = None
    overrides: dict[str, int] = field(default_factory=dict)
    online: set[str] = field(default_factory=set)
    auto_assign: bool = False
    state: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """ticket → (early_closed | waiting | assigned | closed_waiting | closed_assigned | closed_decided,
    the reason it waits or the agent it is assigned to)."""
    waiting: dict[str, int] = field(default_factory=dict)
    """Eligible waiting tickets (a release may take them) → created_at ms."""
    released_to: dict[str, str] = field(default_factory=dict)
    toasted: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    tally: Tally = field(default_factory=Tally)
    presence_timeout: int | None = None
    episodes: Counter[str] = field(default_factory=Counter)
    """Agent → how many times they went Online (the stream's, in order): their current Online stretch."""
    timeouts: list[Timeout] = field(default_factory=list)
    """Every ``presence_timeout`` Offline, in stream order."""
    channels: dict[str, frozenset[str]] = field(default_factory=dict)
    """Restricted agents → the channels they take (absent: every channel); pools are on while not empty."""
    channel_of: dict[str, str] = field(default_factory=dict)
    reassign_away: bool = False
    unanswered_max: int | None = None
    """reassign-unanswered's max while it is on, else None."""
    left: dict[str, str] = field(default_factory=dict)
    """Waiting tickets whose assignee was away → that assignee (a release names them as previous)."""
    reassignments: list[Reassignment] = field(default_factory=list)
    unanswered_count: Counter[str] = field(default_factory=Counter)
    unanswered_after: int = 0
    assigned_ms: dict[str, int] = field(default_factory=dict)
    """Ticket → when its last automatic assignment was (ms): its no-first-reply timer counts from there."""
    _heaps: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _index: int = 0
    _previous: Any = None

    def capacity(self, agent_id: str) -> int | None:
        return self.overrides.get(agent_id, self.account_capacity)

    def apply_all(self, events: Iterable[Any]) -> AccountReplay:
        for event in events:
            self.apply(event)
        return self

    def apply(self, event: Any) -> None:
        assert event.account_id == self.account_id, f"event {self._where(event)} crossed accounts"
        handler = getattr(self, "_" + event.type.replace(".", "_"), None)
        assert handler is not None, f"unexpected event {self._where(event)}"
        handler(event)
        self._previous = event
        self._index += 1

    def oldest_waiting(self, channel: str | None = None) -> tuple[int, str] | None:
        """The oldest eligible waiting ticket (of ``channel``; None: any) as (created_at ms, ticket), or None."""
        heads = []
        for heap_channel, heap in self._heaps.items():
            while heap and heap[0][1] not in self.waiting:
                heapq.heappop(heap)
            if heap and channel in (None, heap_channel):
                heads.append(heap[0])
        return min(heads, default=None)

    def takes(self, agent: str, channel: str) -> bool:
        return channel in self.channels.get(agent, (channel,))

    def agents_with_room(self, channel: str | None = None, skip: str | None = None) -> list[str]:
        """Online agents (taking ``channel``, other than ``skip``) whose load is below their capacity."""
        return sorted(
            a
            for a in self.online
            if ((cap := self.capacity(a)) is None or self.load[a] < cap)
            and (channel is None or self.takes(a, channel))
            and a != skip
        )

    def takeable_waiting(self) -> list[str]:
        """Waiting tickets an Online agent with room who takes their channel could take now."""
        return sorted(t for t in self.waiting if self.agents_with_room(self.channel_of[t]))

    def pools(self) -> dict[str, set[str]]:
        """Per channel, the Online agents who take it (what ``pool:<channel>`` holds while pools are on)."""
        return {c: {a for a in self.online if self.takes(a, c)} for c in ("email", "webchat", "sms", "social")}

    def untoasted(self) -> list[str]:
        """Released tickets no release toast named (a release still owes their toast)."""
        return sorted(t for t in self.released_to if not self.toasted[t])

    # --- one handler per event type ---------------------------------------------------------------

    def _where(self, event: Any) -> str:
        ticket = getattr(event, "ticket_id", None)
        return f"#{self._index} {event.type} {ticket or ''} in {self.account_id}"

    def _wait(self, ticket_id: str, reason: str) -> None:
        self.state[ticket_id] = ("waiting", reason)
        if reason in RELEASABLE:
            self.waiting[ticket_id] = self.created_ms[ticket_id]
            heap = self._heaps.setdefault(self.channel_of[ticket_id], [])
            heapq.heappush(heap, (self.created_ms[ticket_id], ticket_id))

    def _ticket_unassigned(self, event: Any) -> None:
        ticket, reason = event.ticket_id, event.reason.value
        self.channel_of[ticket] = event.channel.value
        if self.state.get(ticket, ("",))[0] == "assigned":
            self._away_wait(event)
            return
        self.decisions[ticket] += 1
        assert self.decisions[ticket] == 1, f"{self._where(event)}: a ticket was decided twice"
        if reason == "closed":
            assert self.state.get(ticket) == ("early_closed", None), f"{self._where(event)}: closed but no early close"
            self.state[ticket] = ("closed_decided", None)
            return
        assert ticket not in self.state, f"{self._where(event)}: decided in state {self.state[ticket]}"
        self.tally.at_capacity_waits += reason == "all_agents_at_capacity"
        self._check_nobody(event, None)
        self._wait(ticket, reason)

    def _check_nobody(self, event: Any, skip: str | None) -> None:
        """A ticket waits for want of an agent: the reason is true at this point (pools: of its channel)."""
        reason, channel, where = event.reason.value, event.channel.value, self._where(event)
        others = self.online - {skip}
        if reason == "no_agent_online":
            assert not others, f"{where}: {sorted(others)} Online"
        elif reason == "no_agent_for_channel":
            assert self.channels and others, f"{where}: pools off or nobody Online"
            assert not [a for a in others if self.takes(a, channel)], f"{where}: someone Online takes {channel}"
            self.tally.channel_waits += 1
        elif reason == "all_agents_at_capacity":
            assert not self.agents_with_room(channel if self.channels else None, skip), f"{where}: someone has room"

    def _away_wait(self, event: Any) -> None:
        """An assigned ticket whose assignee is away, nobody else there: it waits again (reassign_to_waiting)."""
        ticket, reason, (_, agent) = event.ticket_id, event.reason.value, self.state[event.ticket_id]
        where = self._where(event) + f" from {agent} ({reason})"
        assert agent is not None and agent not in self.online, f"{where}: the assignee is Online"
        assert self.reassign_away, f"{where}: reassign-away is off"
        assert reason in RELEASABLE - {"older_tickets_waiting", "reopened"}, f"{where}: not a pick's reason"
        self._check_nobody(event, agent)
        self.load[agent] -= 1
        self.left[ticket] = agent
        self.released_to.pop(ticket, None)
        self.toasted.pop(ticket, None)
        self.reassignments.append(Reassignment(self._index, ticket, "assignee_away", agent, None))
        self.tally.away_waits += 1
        self._wait(ticket, reason)

    def _ticket_assigned(self, event: Any) -> None:
        ticket, agent, reason = event.ticket_id, event.agent_id, event.reason.value
        where = self._where(event) + f" to {agent} ({reason})"
        self.channel_of[ticket] = event.channel.value
        if reason in REASSIGNING:
            self._reassigned(event, where)
            return
        assert reason in AUTOMATIC, f"{where}: no bulk job runs here"
        assert ticket not in self.released_to, f"{where}: the ticket was assigned twice"
        if reason == "round_robin":
            self.decisions[ticket] += 1
            assert self.decisions[ticket] == 1, f"{where}: a ticket was decided twice"
            assert ticket not in self.state, f"{where}: round robin took a ticket in state {self.state[ticket]}"
        else:
            assert self.auto_assign and self.account_capacity is not None, f"{where}: released with auto-assign off"
            assert ticket in self.waiting, f"{where}: released a ticket that was not waiting ({self.state.get(ticket)})"
            left = self.left.pop(ticket, None)
            assert event.previous_agent_id == left, f"{where}: names {event.previous_agent_id}, it left {left}"
            self.released_to[ticket] = agent
            self.tally.released += 1
            self.tally.release_runs.add(event.id.split(".")[0])
        self._check_room(agent, event.channel.value, where)
        if self.auto_assign:
            older = self.oldest_waiting(event.channel.value if self.channels else None)
            assert older is None or older[1] == ticket or older[0] >= self.created_ms[ticket], (
                f"{where}: overtook {older[1]} (created {older[0]} ms, this one {self.created_ms[ticket]} ms)"
            )
        self.waiting.pop(ticket, None)
        self.state[ticket] = ("assigned", agent)
        self.assigned_ms[ticket] = _ms(event)
        self.load[agent] += 1
        self.tally.automatic += 1
        self.tally.filled_to_capacity += self.load[agent] == self.capacity(agent)

    def _reassigned(self, event: Any, where: str) -> None:
        """``assignee_away`` / ``no_first_reply``: from the assignee the stream shows to another eligible one."""
        ticket, agent, reason, previous = event.ticket_id, event.agent_id, event.reason.value, event.previous_agent_id
        assert self.state.get(ticket) == ("assigned", previous), f"{where}: from {previous} in {self.state.get(ticket)}"
        assert agent != previous, f"{where}: reassigned to the same agent"
        if reason == "assignee_away":
            assert self.reassign_away and previous not in self.online, f"{where}: {previous} was not away"
        else:
            self.unanswered_count[ticket] += 1
            assert self.unanswered_max is not None, f"{where}: reassign-unanswered is off"
            assert self.unanswered_count[ticket] <= self.unanswered_max, f"{where}: past the max {self.unanswered_max}"
            held = _ms(event) - self.assigned_ms[ticket]  # one reassignment per timer: never before it is due
            assert held >= self.unanswered_after * 1000, f"{where}: after {held} ms, due {self.unanswered_after} s"
        self._check_room(agent, event.channel.value, where)
        self.load[previous] -= 1
        self.load[agent] += 1
        self.state[ticket] = ("assigned", agent)
        self.assigned_ms[ticket] = _ms(event)
        self.reassignments.append(Reassignment(self._index, ticket, reason, previous, agent))
        self.tally.reassigned[reason] += 1

    def _check_room(self, agent: str, channel: str, where: str) -> None:
        assert agent in self.online, f"{where}: the agent was not Online"
        assert self.takes(agent, channel), f"{where}: the agent does not take {channel}"
        cap = self.capacity(agent)
        assert cap is None or self.load[agent] < cap, f"{where}: load {self.load[agent]} already at capacity {cap}"

    def _ticket_closed(self, event: Any) -> None:
        ticket, agent = event.ticket_id, event.agent_id
        where = self._where(event)
        before = self.state.get(ticket)
        self.tally.closes += 1
        if agent is not None:
            assert before == ("assigned", agent), f"{where}: closed by {agent} in state {before}"
            assert self.load[agent] > 0, f"{where}: {agent}'s load would go below 0"
            self.load[agent] -= 1
            self.state[ticket] = ("closed_assigned", agent)
            self.tally.freed += agent in self.online and self.load[agent] + 1 == self.capacity(agent)
        elif before is None:
            self.state[ticket] = ("early_closed", None)
        else:
            assert before[0] == "waiting", f"{where}: closed without an assignee in state {before}"
            self.waiting.pop(ticket, None)
            self.state[ticket] = ("closed_waiting", before[1])

    def _ticket_reopened(self, event: Any) -> None:
        ticket, agent = event.ticket_id, event.agent_id
        where = self._where(event)
        before = self.state.get(ticket)
        self.tally.reopens += 1
        if agent is not None:
            assert before == ("closed_assigned", agent), f"{where}: reopened to {agent} in state {before}"
            self.load[agent] += 1  # a reopen is not automatic: it may take a load above capacity
            self.state[ticket] = ("assigned", agent)
        elif before == ("early_closed", None):
            del self.state[ticket]  # forgotten: the ticket is decided as usual when it comes
        elif before == ("closed_decided", None):
            self._wait(ticket, "reopened")
        else:
            assert before is not None and before[0] == "closed_waiting", f"{where}: reopened in state {before}"
            self._wait(ticket, before[1] or "")

    def _toast(self, event: Any) -> None:
        previous = self._previous
        one = {"round_robin"} | REASSIGNING  # a toast of its own, right after the assignment
        if previous is not None and previous.type == "ticket.assigned" and previous.reason.value in one:
            assert event.ticket_ids == [previous.ticket_id] and event.user_id == previous.agent_id, self._where(event)
            return
        for ticket in event.ticket_ids:  # a release's toast: one per agent per release
            assert self.released_to.get(ticket) == event.user_id, f"{self._where(event)}: toasts {ticket} wrongly"
            self.toasted[ticket] += 1
            assert self.toasted[ticket] == 1, f"{self._where(event)}: {ticket} toasted twice"

    def _agent_status_changed(self, event: Any) -> None:
        agent, online, reason = event.user_id, event.status.value == "online", event.reason.value
        where = f"{self._where(event)} {agent} {event.status.value} ({reason})"
        assert online != (agent in self.online), f"{where}: not a change (one event per change, never two)"
        if online:
            assert reason == "manual" and event.actor_id is not None, f"{where}: set Online automatically"
            self.online.add(agent)
            self.episodes[agent] += 1
            return
        self.online.discard(agent)
        if reason == "presence_timeout":
            assert event.actor_id is None and self.presence_timeout is not None, f"{where}: without a timeout"
            self.timeouts.append(Timeout(agent, self.episodes[agent], event.occurred_at))

    def _settings_changed(self, event: Any) -> None:
        changes = event.changes
        if "auto_assign" in changes:
            self.auto_assign = changes["auto_assign"] == "on"
        if "presence_timeout_seconds" in changes:
            self.presence_timeout = changes["presence_timeout_seconds"]
        if "reassign_away" in changes:
            self.reassign_away = changes["reassign_away"]
        if "reassign_unanswered_max" in changes:
            self.unanswered_max = changes["reassign_unanswered_max"]
            self.unanswered_after = changes["reassign_unanswered_after_seconds"] or 0
        if "agent_channels" in changes:
            chosen = changes["agent_channels"]
            if chosen["channels"] is None:
                self.channels.pop(chosen["user_id"], None)
            else:
                self.channels[chosen["user_id"]] = frozenset(chosen["channels"])
        if "capacity" in changes:
            self.account_capacity = changes["capacity"]
            self.tally.capacity_changes += 1
        if "agent_capacity" in changes:
            override = changes["agent_capacity"]
            if override["capacity"] is None:
                self.overrides.pop(override["user_id"], None)
            else:
                self.overrides[override["user_id"]] = override["capacity"]
            self.tally.capacity_changes += 1
