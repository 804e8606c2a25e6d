"""``helpdesk-rr report``: an account's figures over whole UTC days, from the per-day stats hashes.

Reading (``load_report``) is two pipelined round trips whatever the period: every day's stats hash
(plus the day before, to seed the unassigned depth) and the current depth counters, then the
Online sets of the busiest hours only. Everything else is pure computation on those values
(``build_report``), so it is tested on hand-written hashes. The storage contract is docs/STATS.md;
what each figure means, the percentile estimate and the spike rule are in docs/REPORTS.md.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from schemas.common import check_id, utc_iso
from schemas.report import (
    AgentAssignments,
    AssignmentSpread,
    BusyHour,
    DecisionCount,
    QueueHour,
    Report,
    Spike,
    TtfrBucket,
    TtfrReport,
    TtfrStats,
    UnassignedQueue,
)
from worker.core.keys import AccountKeys

DEFAULT_DAYS = 7
MAX_DAYS = 400
from worker.core.shared_constants import TTFR_BUCKETS as TTFR_BUCKETS  # noqa: E402, I001  (one source with the Lua side)
"""Documented TTFR bucket upper bounds in seconds (docs/STATS.md)."""

BUSIEST_HOURS = 3
SPIKE_LEVEL_FACTOR = 2.0
"""An hour is a *level* spike if its total depth is at least this many times the period's median..."""
SPIKE_LEVEL_MIN = 5
"""...and at least this many tickets."""
SPIKE_SURGE = 10
"""An hour is a *surge* if one channel:reason grew by at least this many tickets within it (from uq_peak),
measured from a known level: not from the assumed 0 before a series' first value in the period."""

DayStats = Mapping[str, str]
"""One day's stats hash, decoded: field -> value."""


# --- periods ---------------------------------------------------------------------------------------


def parse_day(option: str, value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{option}: expected a date YYYY-MM-DD, got {value!r}") from None


def resolve_period(today: date, day_from: str | None, day_to: str | None) -> tuple[date, date]:
    """The inclusive UTC days to report on. Default: the last 7 days up to ``today``.

    Only ``--from``: up to today. Only ``--to``: the 7 days ending then. Raises ``ValueError`` with a
    one-line message for a malformed date, ``--from`` after ``--to``, or more than 400 days.
    """
    end = parse_day("--to", day_to) if day_to else None
    start = parse_day("--from", day_from) if day_from else None
    if end is None:
        end = today if start is None or start <= today else start
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValueError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise ValueError(f"the period is {days} days; at most {MAX_DAYS} (stats are kept about that long)")
    return start, end


def days_of(day_from: date, day_to: date) -> list[date]:
    return [day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)]


def hour_start(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


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


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in raw.items()}


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
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(stats_key(keys, day_from - timedelta(days=1)))
    for day in days:
        pipe.hgetall(stats_key(keys, day))
    pipe.hgetall(uq_depth_key(keys))
    replies = pipe.execute()
    before = _decode(replies[0])
    stats = {day: _decode(raw) for day, raw in zip(days, replies[1:-1], strict=True)}
    current = _decode(replies[-1])

    busiest = busiest_hours(stats)
    online: dict[datetime, list[str]] = {}
    if busiest:
        pipe = client.pipeline(transaction=False)
        for when, _count in busiest:
            pipe.smembers(online_key(keys, when.date(), when.hour))
        for (when, _count), members in zip(busiest, pipe.execute(), strict=True):
            online[when] = sorted(_s(m) for m in members)
    generated = now or hour_start(day_to, 23) + timedelta(hours=1)
    return build_report(account_id, day_from, day_to, stats, online, before=before, current=current, now=generated)


# --- computation -----------------------------------------------------------------------------------


@dataclass
class _Parsed:
    decided: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    arrived: dict[datetime, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    assigned: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    depth: dict[datetime, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    peak: dict[datetime, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    ttfr: dict[str, dict[float, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    ttfr_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    ttfr_count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ignored: list[str] = field(default_factory=list)


def _count(value: str) -> int:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return round(number)


def _hour(text: str) -> int:
    if len(text) != 2 or not text.isdigit() or not 0 <= int(text) <= 23:
        raise ValueError(text)
    return int(text)


def parse_bucket(label: str) -> float:
    """A TTFR bucket label (``300``, ``inf``) as its upper bound in seconds."""
    if label.lower() in ("inf", "+inf"):
        return math.inf
    bound = float(label)
    if not bound > 0:
        raise ValueError(label)
    return bound


def _parse_day(day: date, fields: DayStats, parsed: _Parsed) -> None:
    for name, value in fields.items():
        kind, _, rest = name.partition(":")
        try:
            if kind == "decided":
                outcome, _, reason = rest.partition(":")
                if not outcome or not reason:
                    raise ValueError(name)
                parsed.decided[(outcome, reason)] += _count(value)
            elif kind == "arrived":
                hh, _, channel = rest.partition(":")
                if not channel:
                    raise ValueError(name)
                parsed.arrived[hour_start(day, _hour(hh))][channel] += _count(value)
            elif kind == "assigned":
                if not rest:
                    raise ValueError(name)
                parsed.assigned[rest] += _count(value)
            elif kind in ("uq_depth", "uq_peak"):
                hh, _, series = rest.partition(":")
                if series.count(":") != 1:
                    raise ValueError(name)
                target = parsed.depth if kind == "uq_depth" else parsed.peak
                target[hour_start(day, _hour(hh))][series] = _count(value)
            elif kind == "ttfr":
                dim, _, label = rest.rpartition(":")
                if not dim:
                    raise ValueError(name)
                parsed.ttfr[dim][parse_bucket(label)] += _count(value)
            elif kind == "ttfr_sum" and rest:
                parsed.ttfr_sum[rest] += float(value)
            elif kind == "ttfr_count" and rest:
                parsed.ttfr_count[rest] += _count(value)
            elif kind == "online_snap":
                continue  # the writers' bookkeeping for the hourly Online sets (docs/STATS.md)
            else:
                raise ValueError(name)
        except ValueError:
            parsed.ignored.append(f"{day.isoformat()} {name}={value}")


def busiest_hours(stats: Mapping[date, DayStats], top: int = BUSIEST_HOURS) -> list[tuple[datetime, int]]:
    """The ``top`` hours with the most arrivals (all channels), busiest first; ties: earlier first."""
    parsed = _Parsed()
    for day, fields in stats.items():
        _parse_day(day, {k: v for k, v in fields.items() if k.startswith("arrived:")}, parsed)
    totals = [(when, sum(by_channel.values())) for when, by_channel in parsed.arrived.items()]
    ranked = sorted((item for item in totals if item[1] > 0), key=lambda item: (-item[1], item[0]))
    return ranked[:top]


def estimate_percentile(buckets: Iterable[tuple[float, int]], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of a bucketed histogram, linear inside the bucket it falls in.

    Buckets are (upper bound, count), non-cumulative; the first bucket starts at 0. The rank is
    ``q * total``: the estimate is the point of the bucket where the cumulative count reaches it,
    assuming replies are spread evenly inside the bucket. In the unbounded (inf) bucket the
    estimate is its lower bound. None for an empty histogram.
    """
    ordered = sorted(buckets)
    total = sum(count for _, count in ordered)
    if total <= 0:
        return None
    rank = q * total
    lower = 0.0
    cumulative = 0
    for upper, count in ordered:
        if count > 0 and cumulative + count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (rank - cumulative) / count * (upper - lower)
        cumulative += count
        lower = upper
    return lower  # not reached: the last non-empty bucket always reaches the rank


def _ttfr_stats(dim: str, parsed: _Parsed) -> TtfrStats:
    histogram = parsed.ttfr.get(dim, {})
    bounds = sorted(set(TTFR_BUCKETS) | set(histogram))
    buckets = [(bound, histogram.get(bound, 0)) for bound in bounds]
    count = sum(c for _, c in buckets)
    sum_count = parsed.ttfr_count.get(dim, 0)
    mean = parsed.ttfr_sum.get(dim, 0.0) / sum_count if sum_count > 0 else None
    return TtfrStats(
        dim=dim,
        count=count,
        mean_seconds=None if mean is None else round(mean, 3),
        median_seconds=_round(estimate_percentile(buckets, 0.5)),
        p90_seconds=_round(estimate_percentile(buckets, 0.9)),
        buckets=[TtfrBucket(upper_seconds=None if math.isinf(b) else round(b), count=c) for b, c in buckets],
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _assignments(parsed: _Parsed) -> AssignmentSpread:
    counted = sorted(((a, n) for a, n in parsed.assigned.items() if n > 0), key=lambda item: (-item[1], item[0]))
    total = sum(n for _, n in counted)
    if not counted:
        return AssignmentSpread(
            agents=[], total=0, counted_agents=0, min=None, max=None, mean=None, spread=None, max_over_mean=None
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
    )


def _last_depths(parsed_before: _Parsed) -> dict[str, int]:
    """Each channel:reason's depth at the end of the seed day (its last recorded hour)."""
    last: dict[str, int] = {}
    for when in sorted(parsed_before.depth):
        last.update(parsed_before.depth[when])
    return last


def _queue(parsed: _Parsed, hours: list[datetime], seed: dict[str, int], current: DayStats) -> UnassignedQueue:
    series_names = {s for by in parsed.depth.values() for s in by} | {s for by in parsed.peak.values() for s in by}
    series_names |= {s for s, n in seed.items() if n}
    series = sorted(series_names)
    level: dict[str, int] = {s: seed.get(s, 0) for s in series}
    known = set(seed)  # series whose level is known (not the assumed 0 before a first value)
    rows: list[QueueHour] = []
    spikes_surge: dict[datetime, list[str]] = {}
    for when in hours:
        recorded = parsed.depth.get(when, {})
        peaks = parsed.peak.get(when, {})
        surges = []
        for name in series:
            previous = level[name]
            level[name] = recorded.get(name, previous)
            top = max(peaks.get(name, 0), level[name])
            if name in known and top - previous >= SPIKE_SURGE:
                surges.append(f"{name} grew {previous} -> {top}")
            if name in recorded:
                known.add(name)
        if surges:
            spikes_surge[when] = surges
        rows.append(
            QueueHour(
                hour=when,
                total=sum(level.values()),
                depth={s: n for s, n in level.items() if n},
                peak={s: n for s, n in peaks.items() if s in level},
            )
        )
    median = float(statistics.median(row.total for row in rows)) if rows else 0.0
    threshold = max(float(SPIKE_LEVEL_MIN), SPIKE_LEVEL_FACTOR * median)
    spikes = []
    for row in rows:
        rules, details = [], []
        if row.total >= threshold:
            rules.append("level")
            details.append(f"total {row.total} >= {threshold:g}")
        if row.hour in spikes_surge:
            rules.append("surge")
            details.extend(spikes_surge[row.hour])
        if rules:
            spikes.append(Spike(hour=row.hour, rules=rules, total=row.total, detail="; ".join(details)))
    now_depth = {}
    for name, value in sorted(current.items()):
        try:
            number = _count(value)
        except ValueError:
            continue
        if number:
            now_depth[name] = number
    return UnassignedQueue(
        series=series,
        hours=rows,
        median_total=median,
        level_threshold=threshold,
        surge_threshold=SPIKE_SURGE,
        spikes=spikes,
        current=now_depth,
    )


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
) -> Report:
    """The report from decoded hashes: ``stats`` per day, ``online`` sets of the busiest hours,
    ``before`` the stats hash of the day before the period (seeds the depth), ``current`` the
    account's running ``uq_depth`` counters. Hours after ``now`` are left out of the depth series."""
    parsed = _Parsed()
    for day in days_of(day_from, day_to):
        _parse_day(day, stats.get(day, {}), parsed)
    seed_parsed = _Parsed()
    _parse_day(day_from - timedelta(days=1), dict(before or {}), seed_parsed)
    seed = _last_depths(seed_parsed)

    last_hour = min(hour_start(day_to, 23), now.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
    hours = []
    when = hour_start(day_from, 0)
    while when <= last_hour:
        hours.append(when)
        when += timedelta(hours=1)

    dims = set(parsed.ttfr) | set(parsed.ttfr_count)
    ttfr = TtfrReport(
        overall=_ttfr_stats("all", parsed),
        rr_on=_ttfr_stats("rr:on", parsed),
        rr_off=_ttfr_stats("rr:off", parsed),
        per_agent=[_ttfr_stats(d, parsed) for d in sorted(dims) if d.startswith("agent:")],
        per_channel=[_ttfr_stats(d, parsed) for d in sorted(dims) if d.startswith("channel:")],
    )
    busy = []
    for when, arrivals in busiest_hours({d: stats.get(d, {}) for d in days_of(day_from, day_to)}):
        busy.append(
            BusyHour(
                hour=when,
                arrivals=arrivals,
                by_channel=dict(sorted(parsed.arrived[when].items())),
                online=sorted(online.get(when, [])),
            )
        )
    decisions = [
        DecisionCount(outcome=o, reason=r, count=n)
        for (o, r), n in sorted(parsed.decided.items(), key=lambda item: (-item[1], item[0]))
        if n
    ]
    warnings = []
    if parsed.ignored:
        warnings.append(f"ignored {len(parsed.ignored)} unrecognised stats field(s), e.g. {parsed.ignored[0]}")
    return Report(
        account_id=account_id,
        day_from=day_from,
        day_to=day_to,
        generated_at=now,
        assignments=_assignments(parsed),
        ttfr=ttfr,
        unassigned=_queue(parsed, hours, seed, current or {}),
        busiest_hours=busy,
        decisions=decisions,
        warnings=warnings,
    )


# --- terminal rendering ----------------------------------------------------------------------------

MAX_QUEUE_ROWS = 100


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


def hour_label(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def queue_runs(queue: UnassignedQueue) -> list[tuple[datetime, datetime, QueueHour]]:
    """Consecutive hours with the same depths merged: (first hour, last hour, that hour's row)."""
    runs: list[tuple[datetime, datetime, QueueHour]] = []
    for row in queue.hours:
        if runs and runs[-1][2].depth == row.depth:
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


def depth_text(depth: Mapping[str, int]) -> str:
    return " ".join(f"{name}={n}" for name, n in sorted(depth.items())) or "-"


def ttfr_label(stats: TtfrStats) -> str:
    names = {"all": "all replies", "rr:on": "round robin on", "rr:off": "round robin off"}
    if stats.dim in names:
        return names[stats.dim]
    kind, _, value = stats.dim.partition(":")
    return f"{kind} {value}"


def _ttfr_row(label: str, stats: TtfrStats) -> str:
    return (
        f"  {label:<28} {stats.count:>7}  {duration(stats.median_seconds):>8}  {duration(stats.p90_seconds):>8}"
        f"  {duration(stats.mean_seconds):>8}"
    )


def rr_comparison(on: TtfrStats, off: TtfrStats) -> str | None:
    """'round robin on vs off: median -95%, p90 -92%' (on relative to off), when both have replies."""
    parts = []
    for name, a, b in (("median", on.median_seconds, off.median_seconds), ("p90", on.p90_seconds, off.p90_seconds)):
        if a is not None and b:
            parts.append(f"{name} {100 * (a - b) / b:+.0f}%")
    return f"round robin on vs off: {', '.join(parts)}" if parts else None


def format_text(report: Report) -> str:
    """The terminal rendering: one section per figure, plain text tables."""
    out: list[str] = []
    add = out.append
    add(
        f"Report for {report.account_id}: {report.day_from.isoformat()} .. {report.day_to.isoformat()} "
        f"(UTC days, inclusive; generated {utc_iso(report.generated_at)})"
    )
    for warning in report.warnings:
        add(f"warning: {warning}")

    spread = report.assignments
    ttfr_of = {s.dim.partition(":")[2]: s for s in report.ttfr.per_agent}
    add("")
    add("Tickets assigned per agent")
    if not spread.agents:
        add("  no tickets assigned in the period")
    else:
        add(f"  {'AGENT':<20} {'ASSIGNED':>8} {'SHARE':>6}  {'REPLIES':>7}  {'MEDIAN':>8}  {'P90':>8}")
        for agent in spread.agents:
            stats = ttfr_of.get(agent.agent_id)
            share = 100 * agent.assigned / spread.total
            add(
                f"  {agent.agent_id:<20} {agent.assigned:>8} {share:>5.1f}%  {stats.count if stats else 0:>7}  "
                f"{duration(stats.median_seconds if stats else None):>8}  "
                f"{duration(stats.p90_seconds if stats else None):>8}"
            )
        add(
            f"  total {spread.total} over {spread.counted_agents} agent(s) with >= 1 assignment "
            f"(agents with none are not counted): min {spread.min}, max {spread.max}, "
            f"spread (max - min) {spread.spread}, max/mean {spread.max_over_mean:.2f}"
        )

    add("")
    add("Time to first reply (median and p90 estimated from buckets; mean exact)")
    add(f"  {'':<28} {'REPLIES':>7}  {'MEDIAN':>8}  {'P90':>8}  {'MEAN':>8}")
    for stats in [report.ttfr.overall, report.ttfr.rr_on, report.ttfr.rr_off]:
        add(_ttfr_row(ttfr_label(stats), stats))
    comparison = rr_comparison(report.ttfr.rr_on, report.ttfr.rr_off)
    if comparison:
        add(f"  ({comparison})")
    for stats in [*report.ttfr.per_channel, *report.ttfr.per_agent]:
        add(_ttfr_row(ttfr_label(stats), stats))

    queue = report.unassigned
    add("")
    add("Unassigned queue (depth at the end of each UTC hour; equal consecutive hours merged)")
    runs = queue_runs(queue)
    if not runs:
        add("  no hours in the period yet")
    else:
        add(f"  {'FROM':<16}  {'TO (end of hour)':<16}  {'TOTAL':>5}  BY CHANNEL:REASON")
        for first, last, row in runs[:MAX_QUEUE_ROWS]:
            add(f"  {hour_label(first):<16}  {hour_label(last):<16}  {row.total:>5}  {depth_text(row.depth)}")
        if len(runs) > MAX_QUEUE_ROWS:
            add(f"  ... {len(runs) - MAX_QUEUE_ROWS} more rows (see --json or --html)")
    add(
        f"  median hourly total {queue.median_total:g}; spike = total >= {queue.level_threshold:g} "
        f"(max({SPIKE_LEVEL_MIN}, {SPIKE_LEVEL_FACTOR:g} x median)) or one channel:reason growing by "
        f">= {queue.surge_threshold} within the hour"
    )
    if queue.spikes:
        add("  Spikes (consecutive hours with the same rule merged):")
        for run in spike_runs(queue.spikes):
            head, tail = run[0], run[-1]
            same_day = head.hour.date() == tail.hour.date()
            end = "" if len(run) == 1 else f" .. {tail.hour:%H:%M}" if same_day else f" .. {hour_label(tail.hour)}"
            span = hour_label(head.hour) + end
            top = max(run, key=lambda spike: spike.total)
            add(f"    {span:<36} max total {top.total:>4}  {'+'.join(head.rules)}: {top.detail}")
    else:
        add("  no spikes")
    add(f"  now: {depth_text(queue.current)}")

    add("")
    add("Busiest hours (arrivals, all channels) and who was Online")
    if not report.busiest_hours:
        add("  no arrivals in the period")
    for busy in report.busiest_hours:
        channels = ", ".join(f"{c} {n}" for c, n in busy.by_channel.items())
        add(f"  {hour_label(busy.hour)}  {busy.arrivals:>5} ({channels})  online: {', '.join(busy.online) or 'nobody'}")

    add("")
    add("Decisions")
    if not report.decisions:
        add("  no decisions in the period")
    else:
        add(f"  {'OUTCOME':<12} {'REASON':<24} {'COUNT':>7}")
        for decision in report.decisions:
            add(f"  {decision.outcome:<12} {decision.reason:<24} {decision.count:>7}")
        add(f"  {'total':<12} {'':<24} {sum(d.count for d in report.decisions):>7}")
    return "\n".join(out)
