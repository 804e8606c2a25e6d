"""The fan-out's listeners in isolation: a full queue drops its listener (its stream ends, the client resumes
from ``Last-Event-ID``), and a dropped listener's stream ends instead of waiting for more."""

from __future__ import annotations

import asyncio

import redis

from schemas.common import Role
from worker.api import Helpdesk
from worker.http.fanout import QUEUE_SIZE, Fanout, Listener, Toast
from worker.http.toasts import ToastStream


def test_a_listener_whose_queue_is_full_is_dropped_not_waited_for() -> None:
    async def scenario() -> tuple[bool, int]:
        listener = Listener("acme", "ana")
        for number in range(QUEUE_SIZE + 5):
            listener.offer(Toast(f"1-{number}", "{}"))
        return listener.dropped, listener.queue.qsize()

    dropped, queued = asyncio.run(scenario())
    assert dropped and queued == QUEUE_SIZE


def test_a_dropped_listeners_stream_ends(real_redis: redis.Redis, redis_url: str) -> None:
    helpdesk = Helpdesk.from_url(redis_url)
    helpdesk.save_user("acme", "ana", Role.AGENT)

    async def scenario() -> list[str]:
        fanout = Fanout(lambda: helpdesk.state)
        stream = ToastStream(helpdesk, fanout, "acme", "ana", helpdesk.newest_event_id("acme"))
        listener = await fanout.subscribe("acme", "ana")
        for number in range(QUEUE_SIZE + 1):
            listener.offer(Toast(f"9999999999999-{number}", f'{{"n": {number}}}'))
        sent = [text async for text in stream._live(listener)]
        fanout.unsubscribe(listener)
        await asyncio.sleep(0.2)
        fanout.close()
        return sent

    assert asyncio.run(scenario()) == []  # it ends at once: the client resumes and the history replays


def test_idle_listeners_get_keep_alives_from_one_ticker(real_redis: redis.Redis, redis_url: str) -> None:
    helpdesk = Helpdesk.from_url(redis_url)
    helpdesk.save_user("acme", "ana", Role.AGENT)

    async def scenario() -> tuple[list[Toast | None], bool]:
        fanout = Fanout(lambda: helpdesk.state)
        fanout.keepalive = 0.05
        listeners = [await fanout.subscribe("acme", "ana") for _ in range(3)]
        ticks = [await asyncio.wait_for(listener.queue.get(), 2) for listener in listeners]
        for listener in listeners:
            fanout.unsubscribe(listener)
        await asyncio.sleep(0.3)
        ticker_ended = fanout._ticker is not None and fanout._ticker.done()  # nobody listens: it stops
        fanout.close()
        return ticks, ticker_ended

    ticks, ended = asyncio.run(scenario())
    assert ticks == [None, None, None] and ended
