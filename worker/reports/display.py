"""How the figures are spelled, shared by the text and the HTML renderings so both say the same thing.

Durations, UTC hours (with the account's local time next to them when it has an office-hours zone),
depths and TTFR series names, the round-robin comparison sentence, the merging of equal consecutive
hours into runs, and when and how load, capacity and the waiting queue are shown: change one here and
both renderings follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.common import utc_iso
from schemas.report import AgentLoad, AssignmentSpread, CapacityReport, QueueHour, Spike, TtfrStats, UnassignedQueue
from worker.reports.unassigned import peak_of

IDLE_SHOWN = 100
"""Agents Online with no ticket that the renderings list by name; the JSON has every one."""


def duration(seconds: float | None) -> str:
    """Compact human duration: 45s, 4m15s, 2h03m, 1d02h; '-' for none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def estimate(seconds: float | None, capped: bool, at_most: str = "<=") -> str:
    """A bucket estimate; ``<= 4m10s`` when it was capped at the largest TTFR observed (docs/REPORTS.md)."""
    return f"{at_most} {duration(seconds)}" if capped else duration(seconds)


def local_time(when: datetime, zone: str | None, with_date: bool = False) -> str:
    """``when`` on the account's clock: ``11:00``, or ``11-25 00:00`` when that is another day than in UTC
    (always with the date if ``with_date``); '' without a zone."""
    if zone is None:
        return ""
    utc, local = when.astimezone(UTC), when.astimezone(ZoneInfo(zone))
    if with_date:
        return local.strftime("%Y-%m-%d %H:%M")
    return local.strftime("%H:%M" if local.date() == utc.date() else "%m-%d %H:%M")


def hour_label(when: datetime, zone: str | None = None) -> str:
    """An hour as ``YYYY-MM-DD HH:MM`` in UTC, whatever zone the datetime carries; with the account's zone,
    its local time follows in brackets: ``2026-11-24 10:00 (11:00)``."""
    label = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return f"{label} ({local_time(when, zone)})" if zone else label


def moment_label(when: datetime, zone: str | None) -> str:
    """A moment in UTC ISO 8601, and on the account's clock when it has a zone."""
    return utc_iso(when) + (f" ({local_time(when, zone, with_date=True)} {zone})" if zone else "")


def zone_note(zone: str | None) -> str:
    """The sentence saying which clock the times are on."""
    if zone is None:
        return "times are UTC"
    return f"times are UTC, the account's local time ({zone}, from its office hours) in brackets"


def queue_runs(queue: UnassignedQueue) -> list[tuple[datetime, datetime, QueueHour]]:
    """Consecutive hours with the same depths and peak merged: (first hour, last hour, that hour's row)."""
    runs: list[tuple[datetime, datetime, QueueHour]] = []
    for row in queue.hours:
        if runs and runs[-1][2].depth == row.depth and peak_of(runs[-1][2]) == peak_of(row):
            runs[-1] = (runs[-1][0], row.hour, runs[-1][2])
        else:
            runs.append((row.hour, row.hour, row))
    return runs


def spike_runs(spikes: Sequence[Spike]) -> list[list[Spike]]:
    """Spikes of consecutive hours with the same rules, grouped (oldest first)."""
    runs: list[list[Spike]] = []
    for spike in spikes:
        previous = runs[-1][-1] if runs else None
        if previous and previous.rules == spike.rules and spike.hour - previous.hour == timedelta(hours=1):
            runs[-1].append(spike)
        else:
            runs.append([spike])
    return runs


def spike_peak(spike: Spike) -> int:
    """A spike hour's highest total depth (its end total in a document written before peaks were reported)."""
    return max(spike.total, spike.peak_total or 0)


def depth_text(depth: Mapping[str, int]) -> str:
    """``email:no_agent_online=2 webchat:after_hours=7``, sorted; '-' for an empty queue."""
    return " ".join(f"{name}={n}" for name, n in sorted(depth.items())) or "-"


def ttfr_label(stats: TtfrStats) -> str:
    """A TTFR series in words: ``round robin on``, ``agent ana``, ``channel email``."""
    names = {"all": "all replies", "rr:on": "round robin on", "rr:off": "round robin off"}
    if stats.dim in names:
        return names[stats.dim]
    kind, _, value = stats.dim.partition(":")
    return f"{kind} {value}"


def rr_comparison(on: TtfrStats, off: TtfrStats) -> str | None:
    """'round robin on vs off: median -95%, p90 -92%' (on relative to off), when both have replies."""
    parts = []
    for name, a, b in (("median", on.median_seconds, off.median_seconds), ("p90", on.p90_seconds, off.p90_seconds)):
        if a is not None and b:
            parts.append(f"{name} {100 * (a - b) / b:+.0f}%")
    return f"round robin on vs off: {', '.join(parts)}" if parts else None


def online_text(names: list[str], count: int | None) -> str:
    """Who was Online: the names listed, and "and N more" when the report lists only some of them."""
    more = (count or 0) - len(names)
    return (", ".join(names) or "nobody") + (f" and {more:,} more" if more > 0 else "")


# --- capacity and the waiting queue (live values: "now") -------------------------------------------


def capacity_shown(capacity: CapacityReport) -> bool:
    """Whether the renderings show load, capacity and the waiting queue: only when the account has a capacity
    now or the period has something of it; otherwise the report reads exactly as before (docs/REPORTS.md)."""
    return capacity.in_use or bool(
        capacity.released or capacity.all_agents_at_capacity or capacity.older_tickets_waiting
    )


def capacity_text(row: AgentLoad | None) -> str:
    """An agent's capacity now: ``6``, ``2*`` for their own override, ``-`` for none (uncapped)."""
    if row is None or row.capacity is None:
        return "-"
    return f"{row.capacity}{'*' if row.override else ''}"


def live_by_agent(capacity: CapacityReport) -> dict[str, AgentLoad] | None:
    """Load and capacity by agent when the renderings show them (the account has a capacity), else None."""
    return {row.agent_id: row for row in capacity.agents} if capacity.in_use else None


def holders_outside(spread: AssignmentSpread, capacity: CapacityReport) -> list[AgentLoad]:
    """Agents holding open tickets or an own capacity now who are not in the assignments table (no ticket and
    not seen Online in the period): listed after it with 0 when the account has a capacity."""
    if not capacity.in_use:
        return []
    listed = {a.agent_id for a in spread.agents} | set(spread.online_without_tickets)
    return [row for row in capacity.agents if row.agent_id not in listed and (row.load > 0 or row.override)]


def capacity_summary(capacity: CapacityReport) -> str:
    """``capacity now: 6 per agent (the account's), 1 agent(s) with their own (*); load now: 12 open ticket(s)``."""
    account = (
        "not set" if capacity.account_capacity is None else f"{capacity.account_capacity} per agent (the account's)"
    )
    own = sum(1 for row in capacity.agents if row.override)
    load = sum(row.load for row in capacity.agents)
    return f"capacity now: {account}, {own} agent(s) with their own (*); load now: {load} open ticket(s)"


def waiting_counts(capacity: CapacityReport) -> list[tuple[str, int]]:
    """The period's counts of the waiting queue, in words (the decisions behind them: docs/REPORTS.md)."""
    return [
        ("released from the waiting queue", capacity.released),
        ("left waiting: every Online agent at capacity", capacity.all_agents_at_capacity),
        ("left waiting behind older waiting tickets", capacity.older_tickets_waiting),
    ]
