"""``helpdesk-rr report``: an account's figures over whole UTC days, from the per-day stats hashes.

Reading (``load_report``) is a few pipelined round trips whatever the period: every day's stats hash
(plus the day before, to seed the unassigned depth) and the current depth counters, then the
Online sets of the busiest hours, the period's Online sets in pages, and the load and capacity
hashes in pages (``capacity``). Everything else is pure computation on those values
(``build_report``), so it is tested on hand-written hashes. The storage contract is docs/STATS.md;
what each figure means, the percentile estimate and the spike rule are in docs/REPORTS.md.

The field parsing is ``stats_fields``, the unassigned queue and its spike rule ``unassigned``, the
percentile estimate ``buckets``, load, capacity and the waiting queue ``capacity``; this module reads
Redis and computes the assignment, TTFR, busiest-hour and decision figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from schemas.common import check_id
from schemas.report import (
    AgentAssignments,
    AssignmentSpread,
    BusyHour,
    DecisionCount,
    Report,
    TtfrReport,
    TtfrStats,
)
from schemas.timezones import load_zone
from worker.core.keys import AccountKeys
from worker.core.text import text
from worker.reports.buckets import TTFR_BUCKETS as TTFR_BUCKETS  # one source with the Lua side
from worker.reports.buckets import bucket_models, capped_estimate, histogram
from worker.reports.buckets import estimate_percentile as estimate_percentile
from worker.reports.capacity import capacity_report, read_live
from worker.reports.period import days_of, hour_start
from worker.reports.reassign import reassignment_report
from worker.reports.stats_fields import DayStats, ParsedStats, parse_fields
from worker.reports.unassigned import last_depths, unassigned_queue

BUSIEST_HOURS = 3
ONLINE_SHOWN = 100
"""Agents listed per busiest hour; beyond, the report says "and N more" (docs/REPORTS.md). The set is read
with SSCAN in pages of ``ONLINE_PAGE`` until that many are found, never with one SMEMBERS of the whole set."""
ONLINE_PAGE = 100
ONLINE_UNION_PAGE = 1_000
"""SSCAN page size when reading every Online set of the period (their union: who was Online at all)."""


# --- key names (docs/STATS.md) ---------------------------------------------------------------------


def stats_key(keys: AccountKeys, day: date) -> str:
    """``{rr:pNN}:a:<acct>:stats:<DAY>``."""
    return keys.stats(day.isoformat())


def online_key(keys: AccountKeys, day: date, hour: int) -> str:
    """``{rr:pNN}:a:<acct>:stats:<DAY>:online:<HH>``."""
    return keys.stats_online(day.isoformat(), f"{hour:02d}")


def uq_depth_key(keys: AccountKeys) -> str:
    """``{rr:pNN}:a:<acct>:uq_depth``."""
    return keys.uq_depth


# --- reading ---------------------------------------------------------------------------------------


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


def _read_stats(
    client: redis.Redis, keys: AccountKeys, days: list[date]
) -> tuple[dict[str, str], dict[date, dict[str, str]], dict[str, str], str | None]:
    """First round trip: (the day before's hash, each day's hash, the running depth counters, the zone)."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(stats_key(keys, days[0] - timedelta(days=1)))
    for day in days:
        pipe.hgetall(stats_key(keys, day))
    pipe.hgetall(uq_depth_key(keys))
    pipe.hmget(keys.settings, ["office_hours", "oh_active"])
    replies = pipe.execute()
    stats = {day: _decode(raw) for day, raw in zip(days, replies[1:-2], strict=True)}
    return _decode(replies[0]), stats, _decode(replies[-2]), _zone_of(*replies[-1])


def _zone_of(raw: Any, active: Any) -> str | None:
    """The time zone of the account's office hours, when it has them and the zone loads here; else None."""
    if not raw or active is None or text(active) != "1":
        return None
    try:
        name = json.loads(text(raw))["timezone"]
        load_zone(name)
    except (ValueError, KeyError, TypeError):
        return None
    return str(name)


def _read_online_union(client: redis.Redis, keys: AccountKeys, days: list[date]) -> set[str]:
    """Everyone in any hourly Online set of the period: every set read in SSCAN pages of ``ONLINE_UNION_PAGE``,
    the first page of all of them in one pipelined round trip, then one round trip per further page."""
    cursors = {online_key(keys, day, hour): 0 for day in days for hour in range(24)}
    found: set[str] = set()
    while cursors:
        pipe = client.pipeline(transaction=False)
        for key, cursor in cursors.items():
            pipe.sscan(key, cursor, count=ONLINE_UNION_PAGE)
        following = {}
        for key, (cursor, page) in zip(cursors, pipe.execute(), strict=True):
            found.update(text(member) for member in page)
            if int(cursor):
                following[key] = int(cursor)
        cursors = following
    return found


def _read_online(
    client: redis.Redis, keys: AccountKeys, busiest: list[tuple[datetime, int]]
) -> tuple[dict[datetime, list[str]], dict[datetime, int]]:
    """Who was Online in the busiest hours (the only Online sets the report shows): how many (SCARD, one
    pipelined round trip) and up to ``ONLINE_SHOWN`` of them (sorted), each set read in bounded pages."""
    online: dict[datetime, list[str]] = {}
    counts: dict[datetime, int] = {}
    if not busiest:
        return online, counts
    pipe = client.pipeline(transaction=False)
    for when, _count in busiest:
        pipe.scard(online_key(keys, when.date(), when.hour))
    for (when, _count), count in zip(busiest, pipe.execute(), strict=True):
        counts[when] = int(count)
        online[when] = _some_members(client, online_key(keys, when.date(), when.hour)) if count else []
    return online, counts


def _some_members(client: redis.Redis, key: str) -> list[str]:
    """Up to ``ONLINE_SHOWN`` members of a set, sorted (all of them when it has no more), by SSCAN pages."""
    found: set[str] = set()
    cursor = 0
    while True:
        cursor, page = client.sscan(key, cursor, count=ONLINE_PAGE)
        found.update(text(m) for m in page)
        if cursor == 0 or len(found) >= ONLINE_SHOWN:
            return sorted(found)[:ONLINE_SHOWN]


def load_report(
    client: redis.Redis,
    account_id: str,
    day_from: date,
    day_to: date,
    *,
    now: datetime | None = None,
    partitions: int | None = None,
) -> Report:
    """Read the account's stats for the inclusive UTC days and compute the report.

    ``now`` (the caller's clock, read once) cuts the hourly series: hours after it are left out.
    Without it, every hour of the period is reported.
    """
    check_id("account", account_id)
    keys = AccountKeys.for_account(account_id, partitions)
    days = days_of(day_from, day_to)
    before, stats, current, zone = _read_stats(client, keys, days)
    online, online_counts = _read_online(client, keys, busiest_hours(stats))
    online_period = _read_online_union(client, keys, days)
    load, capacity = read_live(client, keys)
    generated = now or hour_start(day_to, 23) + timedelta(hours=1)
    return build_report(
        account_id,
        day_from,
        day_to,
        stats,
        online,
        before=before,
        current=current,
        now=generated,
        online_counts=online_counts,
        online_period=online_period,
        time_zone=zone,
        load=load,
        capacity=capacity,
    )


# --- computation -----------------------------------------------------------------------------------


def busiest_hours(stats: Mapping[date, DayStats], top: int = BUSIEST_HOURS) -> list[tuple[datetime, int]]:
    """The ``top`` hours with the most arrivals (all channels), busiest first; ties: earlier first."""
    parsed = ParsedStats()
    for day, fields in stats.items():
        parse_fields(day, {k: v for k, v in fields.items() if k.startswith("arrived:")}, parsed)
    totals = [(when, sum(by_channel.values())) for when, by_channel in parsed.arrived.items()]
    ranked = sorted((item for item in totals if item[1] > 0), key=lambda item: (-item[1], item[0]))
    return ranked[:top]


def _ttfr_stats(dim: str, parsed: ParsedStats) -> TtfrStats:
    buckets = histogram(parsed.ttfr.get(dim, {}))
    count = sum(c for _, c in buckets)
    sum_count = parsed.ttfr_count.get(dim, 0)
    mean = parsed.ttfr_sum.get(dim, 0.0) / sum_count if sum_count > 0 else None
    largest = parsed.ttfr_max.get(dim) if count else None
    median, median_capped = capped_estimate(estimate_percentile(buckets, 0.5), largest)
    p90, p90_capped = capped_estimate(estimate_percentile(buckets, 0.9), largest)
    return TtfrStats(
        dim=dim,
        count=count,
        mean_seconds=None if mean is None else round(mean, 3),
        median_seconds=median,
        p90_seconds=p90,
        max_seconds=largest,
        median_capped=median_capped,
        p90_capped=p90_capped,
        buckets=bucket_models(buckets),
    )


def _ttfr_report(parsed: ParsedStats) -> TtfrReport:
    dims = set(parsed.ttfr) | set(parsed.ttfr_count)
    return TtfrReport(
        overall=_ttfr_stats("all", parsed),
        rr_on=_ttfr_stats("rr:on", parsed),
        rr_off=_ttfr_stats("rr:off", parsed),
        per_agent=[_ttfr_stats(d, parsed) for d in sorted(dims) if d.startswith("agent:")],
        per_channel=[_ttfr_stats(d, parsed) for d in sorted(dims) if d.startswith("channel:")],
    )


def _assignments(parsed: ParsedStats, online_period: Iterable[str]) -> AssignmentSpread:
    counted = sorted(((a, n) for a, n in parsed.assigned.items() if n > 0), key=lambda item: (-item[1], item[0]))
    total = sum(n for _, n in counted)
    idle = sorted(set(online_period) - {a for a, _ in counted})
    if not counted:
        return AssignmentSpread(
            agents=[],
            total=0,
            counted_agents=0,
            min=None,
            max=None,
            mean=None,
            spread=None,
            max_over_mean=None,
            online_without_tickets=idle,
        )
    low, high = min(n for _, n in counted), max(n for _, n in counted)
    mean = total / len(counted)
    return AssignmentSpread(
        agents=[AgentAssignments(agent_id=a, assigned=n) for a, n in counted],
        total=total,
        counted_agents=len(counted),
        min=low,
        max=high,
        mean=round(mean, 4),
        spread=high - low,
        max_over_mean=round(high / mean, 4),
        online_without_tickets=idle,
    )


def _busy_hours(
    busiest: list[tuple[datetime, int]],
    parsed: ParsedStats,
    online: Mapping[datetime, list[str]],
    counts: Mapping[datetime, int],
) -> list[BusyHour]:
    return [
        BusyHour(
            hour=when,
            arrivals=arrivals,
            by_channel=dict(sorted(parsed.arrived[when].items())),
            online=sorted(online.get(when, [])),
            online_count=counts.get(when, len(online.get(when, []))),
        )
        for when, arrivals in busiest
    ]


def _decisions(parsed: ParsedStats) -> list[DecisionCount]:
    return [
        DecisionCount(outcome=o, reason=r, count=n)
        for (o, r), n in sorted(parsed.decided.items(), key=lambda item: (-item[1], item[0]))
        if n
    ]


def _hours(day_from: date, day_to: date, now: datetime) -> list[datetime]:
    """Every hour of the period up to the one ``now`` falls in: the depth series is never ahead of the clock."""
    last_hour = min(hour_start(day_to, 23), now.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
    hours = []
    when = hour_start(day_from, 0)
    while when <= last_hour:
        hours.append(when)
        when += timedelta(hours=1)
    return hours


def build_report(
    account_id: str,
    day_from: date,
    day_to: date,
    stats: Mapping[date, DayStats],
    online: Mapping[datetime, list[str]],
    *,
    now: datetime,
    before: DayStats | None = None,
    current: DayStats | None = None,
    online_counts: Mapping[datetime, int] | None = None,
    online_period: Iterable[str] = (),
    time_zone: str | None = None,
    load: Mapping[str, str] | None = None,
    capacity: Mapping[str, str] | None = None,
) -> Report:
    """The report from decoded hashes: ``stats`` per day, ``online`` sets of the busiest hours,
    ``before`` the stats hash of the day before the period (seeds the depth), ``current`` the
    account's running ``uq_depth`` counters, ``online_counts`` the sizes of the Online sets (default:
    as many as listed), ``online_period`` everyone in the period's hourly Online sets, ``time_zone`` the
    account's office-hours zone, ``load`` and ``capacity`` the account's hashes of those names as they are
    now. Hours after ``now`` are left out of the depth series."""
    days = days_of(day_from, day_to)
    parsed = ParsedStats()
    for day in days:
        parse_fields(day, stats.get(day, {}), parsed)
    seed_parsed = ParsedStats()
    parse_fields(day_from - timedelta(days=1), dict(before or {}), seed_parsed)
    queue = unassigned_queue(parsed, _hours(day_from, day_to, now), last_depths(seed_parsed), current or {})
    busiest = busiest_hours({d: stats.get(d, {}) for d in days})
    assignments = _assignments(parsed, online_period)
    table = [a.agent_id for a in assignments.agents] + assignments.online_without_tickets
    live, unreadable = capacity_report(parsed, load or {}, capacity or {}, table)
    warnings = []
    if parsed.ignored:
        warnings.append(f"ignored {len(parsed.ignored)} unrecognised stats field(s), e.g. {parsed.ignored[0]}")
    if unreadable:
        warnings.append(f"ignored {len(unreadable)} unreadable load or capacity value(s), e.g. {unreadable[0]}")
    return Report(
        account_id=account_id,
        day_from=day_from,
        day_to=day_to,
        generated_at=now,
        time_zone=time_zone,
        assignments=assignments,
        ttfr=_ttfr_report(parsed),
        unassigned=queue,
        busiest_hours=_busy_hours(busiest, parsed, online, online_counts or {}),
        decisions=_decisions(parsed),
        capacity=live,
        reassignments=reassignment_report(parsed, lambda dim: _ttfr_stats(dim, parsed)),
        warnings=warnings,
    )
