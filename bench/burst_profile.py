"""Where a burst drain's worker spends its time: an in-process SimpleWorker drains tickets pushed onto the lanes.

    python -m bench.burst_profile [--tickets 20000] [--top 30]

Not part of ``python -m bench`` (no ratio, no JSON): a tool for bench/PERFORMANCE_burst.md. On a throwaway
Redis, bench/burst.py's eight accounts; the tickets are pushed with ``push_many`` first, then drained three
times on fresh copies: with production logging (JSON, INFO: one line per decision) to /dev/null, with the
worker's logging at WARNING, and once more with production logging under cProfile. Printed per variant:
tickets/s, the worker's CPU (``time.process_time``) and Redis's (``INFO cpu``) per ticket, then the profile.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import redis

from bench.burst import ACCOUNTS, redis_cpu, setup_accounts, ticket
from bench.common import bench_redis
from bench.inprocess import production_logging
from producers.lanes import push_many
from worker.logging import configure_logging
from worker.runtime.runner import make_worker


def fill(client: redis.Redis, tickets: int) -> None:
    setup_accounts(client)
    now = datetime.now(UTC)
    events = [ticket(i % len(ACCOUNTS), i, now) for i in range(tickets)]
    for start in range(0, tickets, 1000):
        push_many(events[start : start + 1000], client)


def drain(url: str, tickets: int, logging: contextlib.AbstractContextManager[None], label: str) -> None:
    worker_client = redis.Redis.from_url(url)
    cpu0, started, worker0 = redis_cpu([url]), time.perf_counter(), time.process_time()
    with logging:
        make_worker(worker_client).work(burst=True, logging_level="WARNING")
    worker_cpu, wall = time.process_time() - worker0, time.perf_counter() - started
    ms = 1000 / tickets
    print(
        f"{label}: {tickets / wall:,.0f} tickets/s (wall incl. RQ's ~1 s teardown), worker CPU "
        f"{worker_cpu * ms:.3f} ms/ticket, Redis CPU {(redis_cpu([url]) - cpu0) * ms:.3f} ms/ticket",
        flush=True,
    )
    worker_client.close()


@contextlib.contextmanager
def profiled(profile: cProfile.Profile) -> Iterator[None]:
    with production_logging():
        profile.enable()
        try:
            yield
        finally:
            profile.disable()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.burst_profile")
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    configure_logging(level="WARNING")
    with bench_redis(None) as (url, _):
        client = redis.Redis.from_url(url)
        fill(client, args.tickets)
        drain(url, args.tickets, production_logging(), "production logging (a line per decision)")
        fill(client, args.tickets)
        drain(url, args.tickets, contextlib.nullcontext(), "logging at WARNING")
        fill(client, args.tickets)
        profile = cProfile.Profile()
        drain(url, args.tickets, profiled(profile), "production logging, under cProfile")
        client.close()
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
