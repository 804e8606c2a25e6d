"""Capacity and the waiting queue in the report (issue 15): each agent's load and capacity now, and the
period's releases of the waiting queue, how long the released tickets waited, and the tickets that waited
because every Online agent was at capacity.

Load (the ``load`` hash: agent → open tickets) and capacity (the ``capacity`` hash: ``*`` the account's
value, a user id an override) are live values, read when the report is made (in HSCAN pages: a hash of
100,000 agents is never one call). The period's figures come from the day's stats hashes
(``decided:assigned:waiting_queue``, ``decided:unassigned:all_agents_at_capacity`` and
``…:older_tickets_waiting``, ``waited:<bucket>`` / ``waited_sum`` / ``waited_count`` / ``waited_max``: docs/STATS.md),
parsed by ``stats_fields``; the waiting time's median and p90 come from ``buckets``, the estimate the
time to first reply uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis

from schemas.report import AgentLoad, CapacityReport, WaitTimes
from worker.core.capacity import ACCOUNT
from worker.core.keys import AccountKeys
from worker.core.text import text
from worker.reports.buckets import bucket_models, capped_estimate, estimate_percentile, histogram, rounded
from worker.reports.stats_fields import ParsedStats, count

LIVE_PAGE = 1_000
"""HSCAN page size when reading the ``load`` and ``capacity`` hashes."""


def read_live(client: redis.Redis, keys: AccountKeys) -> tuple[dict[str, str], dict[str, str]]:
    """The account's ``load`` and ``capacity`` hashes as they are now, decoded: both read in HSCAN pages of
    ``LIVE_PAGE``, their first pages in one pipelined round trip, then one round trip per further page."""
    found: dict[str, dict[str, str]] = {keys.load: {}, keys.capacity: {}}
    cursors = dict.fromkeys(found, 0)
    while cursors:
        pipe = client.pipeline(transaction=False)
        for key, cursor in cursors.items():
            pipe.hscan(key, cursor, count=LIVE_PAGE)
        following = {}
        for key, (cursor, page) in zip(cursors, pipe.execute(), strict=True):
            found[key].update({text(k): text(v) for k, v in page.items()})
            if int(cursor):
                following[key] = int(cursor)
        cursors = following
    return found[keys.load], found[keys.capacity]


def _numbers(kind: str, raw: Mapping[str, str], unreadable: list[str]) -> dict[str, int]:
    """Whole numbers by field; an unreadable value is left out and named in ``unreadable``."""
    numbers = {}
    for name, value in raw.items():
        try:
            numbers[name] = count(value)
        except ValueError:
            unreadable.append(f"{kind} {name}={value}")
    return numbers


def wait_times(parsed: ParsedStats) -> WaitTimes:
    """The released tickets' waiting time over the period: exact mean, median and p90 from the buckets."""
    return duration_stats(parsed.waited, parsed.waited_sum, parsed.waited_count, parsed.waited_max)


def duration_stats(counts: Mapping[float, int], total: float, how_many: int, largest: int | None) -> WaitTimes:
    """A duration histogram (TTFR buckets, seconds) as figures: exact mean, estimated median and p90, never above
    ``largest`` (the largest value filed; None: unknown, not capped)."""
    buckets = histogram(counts)
    mean = total / how_many if how_many > 0 else None
    median, median_capped = capped_estimate(estimate_percentile(buckets, 0.5), largest)
    p90, p90_capped = capped_estimate(estimate_percentile(buckets, 0.9), largest)
    return WaitTimes(
        count=sum(n for _, n in buckets),
        mean_seconds=rounded(mean),
        median_seconds=median,
        p90_seconds=p90,
        max_seconds=largest if buckets else None,
        median_capped=median_capped,
        p90_capped=p90_capped,
        buckets=bucket_models(buckets),
    )


def capacity_report(
    parsed: ParsedStats, load: Mapping[str, str], capacity: Mapping[str, str], table: Iterable[str]
) -> tuple[CapacityReport, list[str]]:
    """The figure, and the load or capacity values that could not be read (for the report's warnings).

    ``table``: the agents of the assignments table, listed here too (with load 0 when they hold none), so
    every row of that table has its load and capacity."""
    unreadable: list[str] = []
    loads = _numbers("load", load, unreadable)
    caps = _numbers("capacity", capacity, unreadable)
    account = caps.pop(ACCOUNT, None)
    names = {agent for agent, n in loads.items() if n > 0} | set(caps) | set(table)
    agents = [
        AgentLoad(agent_id=agent, load=loads.get(agent, 0), capacity=caps.get(agent, account), override=agent in caps)
        for agent in sorted(names)
    ]
    report = CapacityReport(
        account_capacity=account,
        in_use=account is not None or bool(caps),
        agents=agents,
        released=parsed.decided.get(("assigned", "waiting_queue"), 0),
        waited=wait_times(parsed),
        all_agents_at_capacity=parsed.decided.get(("unassigned", "all_agents_at_capacity"), 0),
        older_tickets_waiting=parsed.decided.get(("unassigned", "older_tickets_waiting"), 0),
    )
    return report, unreadable
