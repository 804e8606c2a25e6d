"""The burst bench still runs end to end (tiny sizes, its own throwaway Redis), so it cannot rot unnoticed.

What it measures is reported by ``python -m bench --only burst`` (docs/PERFORMANCE.md); nothing here asserts a
rate or a latency, only that every ticket was decided once and in push order (the bench raises otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import burst
from bench.common import bench_redis

pytestmark = pytest.mark.slow


@pytest.fixture
def bench_url() -> Iterator[str]:
    with bench_redis(None) as (url, _):
        yield url


def test_burst_bench_decides_every_ticket_once_in_push_order(bench_url: str) -> None:
    tiny = {"tickets": 160, "noop_jobs": 40, "chunk": 7, "repeats": 1, "rate": 20, "steady_s": 0.5}
    result = burst.run(bench_url, quick=True, overrides=tiny)
    (run,) = result["bursts"]
    assert run["decided_exactly_once"] == 160
    assert run["in_push_order"] is True
    assert sum(run["counts"]) == 160
    assert run["drain_jobs_run"] >= 1
    assert {s["mode"] for s in result["steady"]} == {"enqueue", "push"}
    assert all(s["send_to_event_ms"]["n"] == 10 for s in result["steady"])
    assert "burst / no-op" in burst.render(result)
    assert "steady_p99_push_over_enqueue" in result["verdict"]


def test_burst_check_catches_a_ticket_decided_out_of_order() -> None:
    """The order check is the bench's point: a producer's later ticket seen first counts as out of order."""
    rows = [("p0-0000008", "ticket.assigned", 1), ("p0-0000000", "ticket.assigned", 2)]
    assert burst.out_of_order(burst.ACCOUNTS[0], rows) == 1
    assert burst.out_of_order(burst.ACCOUNTS[0], list(reversed(rows))) == 0


def test_burst_profile_drains_what_it_pushed(bench_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import contextlib

    import redis

    from bench import burst_profile
    from producers.lanes import LANES, LaneKeys

    client = redis.Redis.from_url(bench_url)
    burst_profile.fill(client, 40)
    burst_profile.drain(bench_url, 40, contextlib.nullcontext(), "tiny")
    assert sum(int(client.llen(LaneKeys(lane).pending)) for lane in range(LANES)) == 0
    assert len({t for rows in burst.decisions(client).values() for t, _, _ in rows}) == 40
    assert "tiny: " in capsys.readouterr().out
    client.close()
