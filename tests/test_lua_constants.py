"""The values Lua and Python share have one source, in Python, and the scripts really use it.

Role ranks come from ``schemas.common.Role``, the latency and TTFR bucket bounds from
``worker.core.shared_constants``; ``worker.core.script_sources.lua_prelude`` renders them into Lua before every
script. Checked here: the prelude, evaluated by Redis, holds those values; decisions and first replies
are filed under the Python bounds (at each bound and just past it); no .lua file defines its own copy.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from schemas.common import Role, utc_iso
from worker.core import shared_constants
from worker.core.keys import AccountKeys
from worker.core.script_sources import SCRIPT_FILES, _lua_bounds, _read, lua_prelude
from worker.core.scripts import Scripts, TicketArgs
from worker.ops.metrics import LATENCY_BUCKETS_MS as METRICS_LATENCY_BUCKETS_MS
from worker.reports.figures import TTFR_BUCKETS as REPORT_TTFR_BUCKETS

BACKENDS = ("real", "fake", "cluster")
"""The prelude is part of every script's text: it must load and run on all three."""

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SHARED_NAMES = ("ROLE_RANK", "LATENCY_BUCKETS_MS", "TTFR_BUCKETS", "CHANNELS", "POOL_FULL")


def _bucket(value: float, bounds: tuple[float, ...]) -> str:
    """The bucket Python files ``value`` under: the first upper bound at or above it."""
    bound = next(b for b in bounds if value <= b)
    return "inf" if math.isinf(bound) else str(int(bound))


def _probes(bounds: tuple[float, ...]) -> list[int]:
    """0, every finite bound, and one past each (the first value of the next bucket)."""
    finite = [int(b) for b in bounds if math.isfinite(b)]
    return [0, *finite, *(b + 1 for b in finite)]


def test_metrics_and_reports_read_the_shared_tuples() -> None:
    assert METRICS_LATENCY_BUCKETS_MS is shared_constants.LATENCY_BUCKETS_MS
    assert REPORT_TTFR_BUCKETS is shared_constants.TTFR_BUCKETS


def test_the_prelude_redis_runs_holds_the_python_values(client: redis.Redis) -> None:
    probe = (
        lua_prelude() + "return {cjson.encode(ROLE_RANK), cjson.encode(LATENCY_BUCKETS_MS), cjson.encode(TTFR_BUCKETS)}"
    )
    reply: Any = client.eval(probe, 0)
    ranks, latency, ttfr = (json.loads(value) for value in reply)
    assert ranks == {role.value: role.rank for role in Role}
    assert latency == [b for b in shared_constants.LATENCY_BUCKETS_MS if math.isfinite(b)]
    assert ttfr == [b for b in shared_constants.TTFR_BUCKETS if math.isfinite(b)]


def test_decisions_are_filed_under_the_python_latency_buckets(client: redis.Redis) -> None:
    keys = AccountKeys.for_account("acme")
    scripts = Scripts(client)
    scripts.set_user(keys, "ana", "agent", utc_iso(NOW), "e-user")  # an account nobody set up is refused
    now_ms = int(NOW.timestamp() * 1000)
    expected: Counter[str] = Counter()
    for n, latency in enumerate(_probes(shared_constants.LATENCY_BUCKETS_MS)):
        scripts.decide_ticket(
            keys,
            TicketArgs(f"t{n}", "email", utc_iso(NOW), now_ms),
            now_iso=utc_iso(NOW),
            office_hours_version="",
            open_at_arrival=True,
            available_at_iso="",
            event_ids=(f"e{n}a", f"e{n}b"),
            now=NOW,
            enqueued_ms=now_ms - latency,
        )
        expected[_bucket(latency, shared_constants.LATENCY_BUCKETS_MS)] += 1
    metrics = {k.decode(): int(v) for k, v in client.hgetall(keys.metrics).items()}  # type: ignore[union-attr]
    filed = {k.removeprefix("latency_ms:"): v for k, v in metrics.items() if re.fullmatch(r"latency_ms:\w+", k)}
    assert filed == dict(expected)


def test_first_replies_are_filed_under_the_python_ttfr_buckets(client: redis.Redis) -> None:
    keys = AccountKeys.for_account("acme")
    scripts = Scripts(client)
    scripts.set_user(keys, "ana", "agent", utc_iso(NOW), "e-user")
    created = NOW - timedelta(days=3)
    expected: Counter[str] = Counter()
    for n, ttfr in enumerate(_probes(shared_constants.TTFR_BUCKETS)):
        ticket = TicketArgs(f"t{n}", "email", utc_iso(created), int(created.timestamp() * 1000))
        scripts.decide_ticket(
            keys,
            ticket,
            now_iso=utc_iso(NOW),
            office_hours_version="",
            open_at_arrival=True,
            available_at_iso="",
            event_ids=(f"e{n}a", f"e{n}b"),
            now=NOW,
        )
        assert scripts.record_first_reply(keys, ticket.ticket_id, "ana", created + timedelta(seconds=ttfr), NOW) == (
            ttfr,
            False,
        )
        expected[_bucket(ttfr, shared_constants.TTFR_BUCKETS)] += 1
    arrival_day = keys.stats(created.strftime("%Y-%m-%d"))  # TTFR is filed under the day the tickets arrived
    stats = {k.decode(): int(v) for k, v in client.hgetall(arrival_day).items()}  # type: ignore[union-attr]
    filed = {k.removeprefix("ttfr:all:"): v for k, v in stats.items() if k.startswith("ttfr:all:")}
    assert filed == dict(expected)


@pytest.mark.parametrize("filename", ["_common.lua", *sorted(SCRIPT_FILES.values())])
def test_no_lua_file_keeps_its_own_copy(filename: str) -> None:
    source = _read(filename)
    for name in SHARED_NAMES:
        assert not re.search(rf"\b{name}\s*=(?!=)", source), f"{filename} defines {name}: it comes from the prelude"


def test_the_prelude_only_declares_locals() -> None:
    lines = [line for line in lua_prelude().splitlines() if line and not line.startswith("--")]
    assert [line.split()[1] for line in lines] == list(SHARED_NAMES)
    assert all(line.startswith("local ") for line in lines)


@pytest.mark.parametrize(
    "bounds",
    [(5, 10), (5, 10.5, math.inf), (10, 5, math.inf), (5, 5, math.inf), (math.inf,), (5, math.inf, math.inf)],
)
def test_bounds_the_lua_side_could_not_file_under_are_refused(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        _lua_bounds("X", bounds)
