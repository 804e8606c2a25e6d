"""Bounded memory in long-running workers: the LRU itself, and the engine's per-account caches built on it."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import fakeredis
import pytest
import redis

import worker.jobs
from schemas.common import Channel
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.office_hours import BERLIN_WEEKDAYS, berlin
from worker.core.engine import ACCOUNT_KEYS_CACHE_SIZE, OFFICE_HOURS_CACHE_SIZE, Engine, StoredOfficeHours
from worker.core.lru import LRUCache
from worker.jobs import ENGINES_CACHE_SIZE, engine_for

WALK = 100_000
"""Accounts walked through one engine: ten times the larger bound."""

# --- the LRU -----------------------------------------------------------------------------------


def test_lru_forgets_the_least_recently_put_beyond_its_bound() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    for n, key in enumerate("abc"):
        cache.put(key, n)
    assert (len(cache), "a" in cache, cache.get("b"), cache.get("c")) == (2, False, 1, 2)


def test_lru_get_makes_an_entry_the_most_recent() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 0)
    cache.put("b", 1)
    assert cache.get("a") == 0
    cache.put("c", 2)
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)


def test_lru_put_replaces_and_refreshes_an_entry() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 0)
    cache.put("b", 1)
    cache.put("a", 10)
    cache.put("c", 2)
    assert (cache.get("a"), "b" in cache, len(cache)) == (10, False, 2)


def test_lru_pop_drops_an_entry_and_a_miss_is_none() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 0)
    assert (cache.pop("a"), cache.pop("a"), cache.get("a"), len(cache)) == (0, None, None, 0)


def test_lru_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LRUCache[str, int](0)


def test_lru_shared_by_threads_stays_bounded_and_never_raises() -> None:
    cache: LRUCache[int, int] = LRUCache(8)
    errors: list[BaseException] = []

    def churn(offset: int) -> None:
        try:
            for n in range(5_000):
                key = (n * 7 + offset) % 50
                if cache.get(key) is None:
                    cache.put(key, n)
                if n % 11 == 0:
                    cache.pop(key)
        except BaseException as error:  # pragma: no cover - the failure this test is here to catch
            errors.append(error)

    threads = [threading.Thread(target=churn, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) <= 8


# --- the engine's per-account caches -------------------------------------------------------------


def test_engine_caches_stay_at_their_bounds_over_100000_accounts_and_an_evicted_account_decides_correctly(
    fake_redis: redis.Redis, make_ticket: TicketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_side = Engine(fake_redis)
    setup_account(worker_side, online=("ana",))
    worker_side.set_office_hours("acme", BERLIN_WEEKDAYS, "max", NOW)
    sunday = berlin(22, 12)
    assert worker_side.decide(make_ticket(channel=Channel.WEBCHAT, created_at=sunday), NOW).reason == "after_hours"
    assert "acme" in worker_side._keys and "acme" in worker_side._office_hours

    # The walk's accounts have nothing stored, so Redis would answer ("", None) for each: answering
    # that here skips 100,000 HMGETs (~10 s on fakeredis); "acme" still goes to Redis.
    real_load = worker_side.load_office_hours
    loads: Counter[str] = Counter()

    def load(account_id: str) -> StoredOfficeHours:
        loads[account_id] += 1
        return real_load(account_id) if account_id == "acme" else StoredOfficeHours("", None)

    monkeypatch.setattr(worker_side, "load_office_hours", load)
    largest = [0, 0]
    for n in range(WALK):
        account = f"walk{n}"
        worker_side.keys(account)
        worker_side._cached_office_hours(account)
        largest = [max(largest[0], len(worker_side._keys)), max(largest[1], len(worker_side._office_hours))]
    assert largest == [ACCOUNT_KEYS_CACHE_SIZE, OFFICE_HOURS_CACHE_SIZE]
    assert (len(worker_side._keys), len(worker_side._office_hours)) == tuple(largest)
    assert f"walk{WALK - 1}" in worker_side._office_hours and "walk0" not in worker_side._keys
    assert len(loads) == WALK and set(loads.values()) == {1}  # one load per account: each a miss, then cached
    assert "acme" not in worker_side._keys and "acme" not in worker_side._office_hours

    # Evicted: the next webchat ticket reloads acme's office hours from Redis and decides as before.
    decision = worker_side.decide(make_ticket(channel=Channel.WEBCHAT, created_at=sunday), NOW)
    assert (decision.reason, decision.available_at) == ("after_hours", datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    assert loads["acme"] == 1
    # And a change made by someone else while acme was cached again is still caught by the version check.
    always_open = OfficeHours.from_specs("Europe/Berlin", ["daily 00:00-24:00"])
    Engine(fake_redis).set_office_hours("acme", always_open, "max", NOW)
    assert worker_side.decide(make_ticket(channel=Channel.WEBCHAT, created_at=sunday), NOW).agent_id == "ana"
    assert loads["acme"] == 2


def test_engine_for_keeps_a_bounded_number_of_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker.jobs, "_engines", LRUCache(ENGINES_CACHE_SIZE))
    clients = [fakeredis.FakeRedis(server=fakeredis.FakeServer()) for _ in range(ENGINES_CACHE_SIZE + 3)]
    engines = [engine_for(client) for client in clients]
    assert len(worker.jobs._engines) == ENGINES_CACHE_SIZE
    assert engine_for(clients[-1]) is engines[-1]  # recent: the same engine (scripts and caches kept)
    assert engine_for(clients[0]) is not engines[0]  # evicted: a new engine on the same client
    assert engine_for(clients[0]).client is clients[0]
    for client in clients:
        client.close()
