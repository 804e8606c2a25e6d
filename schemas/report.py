"""The ``helpdesk-rr report`` document: what ``--json`` prints (one object) and the HTML page shows.

Every figure is read from the per-day reporting hashes of docs/STATS.md; docs/REPORTS.md says what
each one means and how it is estimated.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import AwareDatetime


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgentAssignments(_Frozen):
    agent_id: str = Field(description="The agent.")
    assigned: int = Field(description="Tickets assigned to the agent in the period (inbound and bulk).")


class AssignmentSpread(_Frozen):
    """Fairness of the period's assignments, over agents with at least one assignment."""

    agents: list[AgentAssignments] = Field(description="Agents with >= 1 assignment, most assigned first.")
    total: int = Field(description="Tickets assigned in the period.")
    counted_agents: int = Field(description="Agents the spread is computed over (those with >= 1 assignment).")
    min: int | None = Field(description="Fewest assignments of a counted agent; null if nobody was assigned.")
    max: int | None = Field(description="Most assignments of a counted agent; null if nobody was assigned.")
    mean: float | None = Field(description="Mean assignments per counted agent; null if nobody was assigned.")
    spread: int | None = Field(description="max - min; null if nobody was assigned.")
    max_over_mean: float | None = Field(description="max / mean (1.0 = perfectly even); null if nobody was assigned.")
    online_without_tickets: list[str] = Field(
        default_factory=list,
        description="Agents Online at some moment of the period (an hourly Online set) who got no ticket in it, "
        "sorted: listed with 0, not counted in the spread.",
    )


class TtfrBucket(_Frozen):
    upper_seconds: int | None = Field(description="Bucket upper bound in seconds (inclusive); null = no bound (inf).")
    count: int = Field(description="First replies in the bucket.")


class TtfrStats(_Frozen):
    """Time to first reply of one dimension, summed over the period's days."""

    dim: str = Field(description="all, agent:<id>, channel:<channel>, rr:on or rr:off.")
    count: int = Field(description="First replies (sum of the histogram buckets).")
    mean_seconds: float | None = Field(description="ttfr_sum / ttfr_count; null without replies.")
    median_seconds: float | None = Field(
        description="Estimated median (linear inside the bucket), never above max_seconds; null if empty."
    )
    p90_seconds: float | None = Field(description="Estimated 90th percentile, never above max_seconds; null if empty.")
    max_seconds: int | None = Field(
        default=None, description="Largest TTFR recorded in the period; null where not recorded (older data)."
    )
    median_capped: bool = Field(
        default=False,
        description="The bucket estimate of the median was above max_seconds: median_seconds is that max.",
    )
    p90_capped: bool = Field(
        default=False, description="Likewise for the p90: p90_seconds is the max, the p90 is at most that."
    )
    buckets: list[TtfrBucket] = Field(description="The histogram, every documented bucket, lowest first.")


class TtfrReport(_Frozen):
    overall: TtfrStats = Field(description="Every first reply (dim all).")
    rr_on: TtfrStats = Field(description="Tickets that arrived with round robin on.")
    rr_off: TtfrStats = Field(description="Tickets that arrived with round robin off.")
    per_agent: list[TtfrStats] = Field(description="dim agent:<id>, by agent id.")
    per_channel: list[TtfrStats] = Field(description="dim channel:<channel>, by channel.")


class QueueHour(_Frozen):
    """Unassigned depth at the end of one UTC hour (carried forward from the last change), and its peak within it."""

    hour: AwareDatetime = Field(description="Start of the UTC hour.")
    total: int = Field(description="Sum of the depths of every channel:reason.")
    depth: dict[str, int] = Field(description="channel:reason -> depth at the end of the hour (non-zero only).")
    peak: dict[str, int] = Field(
        description="channel:reason -> highest depth within the hour: the depth it started at, the highest recorded "
        "change, the end (non-zero only)."
    )
    peak_total: int | None = Field(
        default=None,
        description="Highest total depth within the hour (>= total): a burst drained before the hour ended shows "
        "here, not in total. Null only in documents written before it existed.",
    )


class Spike(_Frozen):
    hour: AwareDatetime = Field(description="Start of the UTC hour.")
    rules: list[str] = Field(
        description="level (peak_total >= level_threshold) and/or surge (grew >= surge_threshold within the hour)."
    )
    total: int = Field(description="Total depth at the end of the hour.")
    peak_total: int | None = Field(default=None, description="Highest total depth within the hour (see QueueHour).")
    detail: str = Field(description="Human-readable why.")


class UnassignedQueue(_Frozen):
    series: list[str] = Field(description="Every channel:reason seen in the period, sorted.")
    hours: list[QueueHour] = Field(description="Every hour of the period up to now, oldest first.")
    median_total: float = Field(description="Median of the hourly peak total depth over those hours.")
    level_threshold: float = Field(description="An hour is a level spike if its peak_total >= this.")
    surge_threshold: int = Field(description="An hour is a surge if one channel:reason grew by >= this within it.")
    spikes: list[Spike] = Field(description="Hours that met a spike rule, oldest first.")
    current: dict[str, int] = Field(description="channel:reason -> depth right now (the running counters).")


class BusyHour(_Frozen):
    hour: AwareDatetime = Field(description="Start of the UTC hour.")
    arrivals: int = Field(description="Inbound tickets created in the hour (their created_at), all channels.")
    by_channel: dict[str, int] = Field(description="channel -> arrivals.")
    online: list[str] = Field(
        description="Agents Online at some moment of the hour, sorted; at most 100 of them (see online_count)."
    )
    online_count: int | None = Field(
        default=None, description="How many agents were Online in the hour (more than listed when over 100)."
    )


class DecisionCount(_Frozen):
    outcome: str = Field(description="assigned or unassigned.")
    reason: str = Field(description="round_robin, bulk_team, or the unassigned reason.")
    count: int = Field(description="Decisions in the period.")


class AgentLoad(_Frozen):
    """One agent's load and capacity as they are now (live values, not figures of the period)."""

    agent_id: str = Field(description="The agent.")
    load: int = Field(description="Open tickets assigned to the agent now (assigned and not closed).")
    capacity: int | None = Field(
        description="The agent's capacity now: their own override, else the account's; null: uncapped."
    )
    override: bool = Field(description="capacity is the agent's own override, not the account's value.")


class WaitTimes(_Frozen):
    """Waiting time (arrival -> assignment) of the tickets released from the waiting queue in the period."""

    count: int = Field(description="Released tickets with a waiting time (sum of the histogram buckets).")
    mean_seconds: float | None = Field(description="waited_sum / waited_count (exact); null without releases.")
    median_seconds: float | None = Field(
        description="Estimated median from the buckets (linear inside the bucket, like TTFR); null if empty."
    )
    p90_seconds: float | None = Field(description="Estimated 90th percentile from the buckets; null if empty.")
    max_seconds: int | None = Field(
        default=None,
        description="The largest value filed (whole seconds); null when none was filed (or before it was).",
    )
    median_capped: bool = Field(default=False, description="The median estimate was above max_seconds: shown as it.")
    p90_capped: bool = Field(default=False, description="The p90 estimate was above max_seconds: shown as it.")
    buckets: list[TtfrBucket] = Field(description="The histogram in the TTFR bucket bounds, lowest first.")


class CapacityReport(_Frozen):
    """Capacity and the waiting queue's release (issue 15): load and capacity now, and the period's figures."""

    account_capacity: int | None = Field(default=None, description="The account's capacity now; null: not set.")
    in_use: bool = Field(
        default=False,
        description="The account has a capacity (its own or an agent's) now: the renderings show load and "
        "capacity per agent only then.",
    )
    agents: list[AgentLoad] = Field(
        default_factory=list,
        description="Now, by agent id: every agent with open tickets or an own capacity, and every agent of the "
        "assignments table.",
    )
    released: int = Field(
        default=0, description="Tickets released from the waiting queue in the period (decided:assigned:waiting_queue)."
    )
    waited: WaitTimes = Field(
        default_factory=lambda: WaitTimes(
            count=0, mean_seconds=None, median_seconds=None, p90_seconds=None, buckets=[]
        ),
        description="How long the released tickets waited, arrival to assignment (filed when released).",
    )
    all_agents_at_capacity: int = Field(
        default=0,
        description="Tickets left waiting because every Online agent was at capacity "
        "(decided:unassigned:all_agents_at_capacity) in the period.",
    )
    older_tickets_waiting: int = Field(
        default=0,
        description="Tickets that joined the queue behind older waiting ones (decided:unassigned:"
        "older_tickets_waiting) in the period.",
    )


class ReassignmentReport(_Frozen):
    """Reassignments (issue 16: assignee away, no first reply) in the period, and time to first reply of the
    tickets that were reassigned against those that were not."""

    by_reason: dict[str, int] = Field(
        default_factory=dict,
        description="reason (assignee_away, no_first_reply) -> tickets that left their assignee (reassigned:<reason>).",
    )
    to_waiting_queue: dict[str, int] = Field(
        default_factory=dict,
        description="reason -> of those, the tickets that waited instead (nobody else available: reassign_waiting).",
    )
    held: WaitTimes | None = Field(
        default=None,
        description="How long a ticket sat with the previous assignee, assignment -> reassignment; null: none.",
    )
    reply_after: WaitTimes | None = Field(
        default=None,
        description="Last reassignment -> first reply of reassigned tickets (filed under the day the ticket "
        "arrived); null: none.",
    )
    ttfr_reassigned: TtfrStats | None = Field(
        default=None, description="Time to first reply (creation -> first reply) of tickets that were reassigned."
    )
    ttfr_not_reassigned: TtfrStats | None = Field(
        default=None, description="Time to first reply of tickets that were never reassigned (since this version)."
    )


class Report(_Frozen):
    """One account's report over a period of whole UTC days."""

    account_id: str = Field(description="The account.")
    day_from: date = Field(description="First UTC day (inclusive).")
    day_to: date = Field(description="Last UTC day (inclusive).")
    generated_at: AwareDatetime = Field(description="The clock the report was made with; later hours are left out.")
    time_zone: str | None = Field(
        default=None,
        description="The account's office-hours time zone (IANA), when it has office hours: the renderings show "
        "times in it next to UTC. Null: UTC only.",
    )
    assignments: AssignmentSpread
    ttfr: TtfrReport
    unassigned: UnassignedQueue
    busiest_hours: list[BusyHour] = Field(description="Top hours by arrivals (at most 3), busiest first.")
    decisions: list[DecisionCount] = Field(description="Decisions by outcome and reason, most first.")
    capacity: CapacityReport = Field(
        default_factory=CapacityReport,
        description="Load and capacity per agent now, and the waiting queue's release in the period.",
    )
    reassignments: ReassignmentReport = Field(
        default_factory=ReassignmentReport,
        description="Reassignments by reason in the period, and TTFR with and without a reassignment.",
    )
    warnings: list[str] = Field(description="Stored fields that could not be read (unknown shape), if any.")
