"""The HTTP benches still run end to end (tiny sizes, their own throwaway Redis), so they cannot rot unnoticed.

What they measure is reported by ``python -m bench --only http_ingest,http_latency`` (docs/PERFORMANCE.md);
nothing here asserts a rate or a latency.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import http_ingest, http_latency
from bench.common import bench_redis
from bench.http_load import build_requests, webchat_path
from bench.http_stack import TRIVIAL_PATH

pytestmark = pytest.mark.slow


@pytest.fixture
def bench_url() -> Iterator[str]:
    with bench_redis(None) as (url, _):
        yield url


def test_trivial_requests_are_the_webchat_bytes_to_another_path() -> None:
    trivial = build_requests("trivial", 2, "t")
    webchat = build_requests("webchat", 2, "w")
    assert trivial[0][0].startswith(f"POST {TRIVIAL_PATH} HTTP/1.1".encode())
    assert webchat[0][0].startswith(f"POST {webchat_path()} HTTP/1.1".encode())
    assert b"X-Helpdesk-Signature: " in trivial[0][0]
    assert len({ticket for _, ticket in webchat}) == 2  # each request a new conversation


def test_ingest_bench_answers_every_workload_with_202(bench_url: str) -> None:
    tiny = {"duration_s": 0.3, "warmup_s": 0.1, "requests": 2_000, "connections": 2}
    result = http_ingest.run(bench_url, quick=True, overrides=tiny)
    for workload in ("trivial", "webchat", "twilio", "ceiling"):
        cell = result["repeats"][0][workload]
        assert cell["answered"] > 0, workload
        assert set(cell["statuses"]) == {"202"}, workload
    assert "webchat_over_trivial" in result["verdict"]
    assert "| webchat |" in http_ingest.render(result)


def test_latency_bench_sees_every_ticket_assigned(bench_url: str) -> None:
    tiny = {"rates": [20], "duration_s": 0.5, "warmup_s": 0.1, "capacity": 20}
    result = http_latency.run(bench_url, quick=True, overrides=tiny)
    cells = result["repeats"][0]
    assert cells["webchat"]["event_ms"]["n"] == cells["webchat"]["requests"] == 10
    assert cells["enqueue"]["event_ms"]["n"] == 10
    assert cells["trivial"]["answer_ms"]["n"] == 10
    assert cells["capacity"]["tickets_per_s"] > 0
    assert "sent → `ticket.assigned` seen" in http_latency.render(result)
