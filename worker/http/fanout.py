"""One Redis reader per partition per process, fanning toasts out to every SSE listener of that partition.

A listener (one open ``/toasts`` stream, worker/http/toasts.py) is an ``asyncio.Queue`` in this process: it
holds no Redis connection. The first listener of a partition starts that partition's reader — one thread with
one dedicated connection (named ``helpdesk-rr:toasts:pNN`` in ``CLIENT LIST``) looping on a blocking
``XREAD`` of the partition stream (the stream every account of the partition writes its events to,
worker/core/keys.py) — and the last listener to leave stops it (``CLIENT UNBLOCK`` wakes it; its connection
is closed). Each entry is routed on the loop's thread by the fields the workers write beside the event
(``account_id``, ``type``) and the toast's ``user_id``, to the queues of that account's user only.

Ids: every partition entry carries ``account_entry_id``, the id of the same event on the account's own
stream (docs/EVENTS.md). That is the SSE ``id:``, so a client resumes (``Last-Event-ID``) from the account
stream, which keeps ~100,000 events, whatever partition stream fed it live.

No gap when a listener joins: a new reader starts at the partition stream's newest entry *before* its first
listener is told it is ready, and every listener reads the account's history after its position only once it
is registered; whatever arrives both ways is de-duplicated by id (toasts.py). A slow listener whose queue is
full is dropped (its stream ends): the browser reconnects with ``Last-Event-ID`` and the account stream
replays what it missed — nothing is lost, and one slow client never holds the reader back. Keep-alives come
from one ticker per process (a marker in each idle listener's queue every 15 s), not a timer per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
import structlog

from worker.core.keys import partition_of, partition_stream
from worker.core.text import text

log = structlog.get_logger("worker.http.fanout")

KEEPALIVE_SECONDS = 15.0
"""How often an idle stream gets a keep-alive comment (one ticker for all streams, not a timer per stream)."""
QUEUE_SIZE = 256
"""Toasts a listener may have waiting; one more drops it (it reconnects and replays from the account stream)."""
BLOCK_MS = 5000
READ_COUNT = 500
RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Toast:
    """A toast as the fan-out delivers it: its account-stream id (None for an entry written before the workers
    wrote ``account_entry_id``) and the event's JSON exactly as the worker wrote it."""

    entry_id: str | None
    data: str


@dataclass(eq=False)
class Listener:
    account_id: str
    user_id: str
    queue: asyncio.Queue[Toast | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    """Toasts to send; None asks for a keep-alive comment."""
    dropped: bool = False
    """Set when its queue overflowed: its stream ends and the client resumes from its Last-Event-ID."""

    def tick(self) -> None:
        """Ask an idle stream for a keep-alive comment (a busy one is writing anyway)."""
        if self.queue.empty():
            self.queue.put_nowait(None)

    def offer(self, toast: Toast) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(toast)
        except asyncio.QueueFull:
            self.dropped = True
            log.info("toasts.listener_dropped", account_id=self.account_id, user_id=self.user_id, queued=QUEUE_SIZE)


class PartitionReader:
    """The thread reading one partition stream for this process's listeners of that partition."""

    def __init__(
        self, state_of: Callable[[], Any], partition: int, loop: asyncio.AbstractEventLoop, block_ms: int
    ) -> None:
        self.partition = partition
        self.stream = partition_stream(partition)
        self.listeners: dict[str, dict[str, set[Listener]]] = {}
        self.ready = asyncio.Event()
        self.failed: BaseException | None = None
        self.stopping = False
        self.exited = False
        self._state_of = state_of
        self._state: Any = None
        self._loop = loop
        self._block_ms = block_ms
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_id: int | None = None
        self._thread = threading.Thread(target=self._run, name=f"toasts-p{partition:02d}", daemon=True)

    # --- on the event loop's thread ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def add(self, listener: Listener) -> bool:
        """Register ``listener``; False when the reader already decided to stop (the caller starts a new one)."""
        with self._lock:
            if self.exited:
                return False
            self.stopping = False
        self.listeners.setdefault(listener.account_id, {}).setdefault(listener.user_id, set()).add(listener)
        return True

    def remove(self, listener: Listener) -> bool:
        """Unregister ``listener``; True when it was the last one (the reader is then told to stop)."""
        users = self.listeners.get(listener.account_id, {})
        users.get(listener.user_id, set()).discard(listener)
        if not users.get(listener.user_id, True):
            del users[listener.user_id]
        if not users:
            self.listeners.pop(listener.account_id, None)
        if self.listeners:
            return False
        with self._lock:
            self.stopping = True
        return True

    def dispatch(self, entries: list[tuple[Any, dict[Any, Any]]]) -> None:
        for _pid, fields in entries:
            users = self.listeners.get(text(fields.get(b"account_id", b"")))
            if not users or fields.get(b"type") != b"toast":
                continue
            raw = text(fields.get(b"data", b""))
            try:
                user = json.loads(raw).get("user_id")
            except (ValueError, AttributeError):
                continue
            targets = users.get(user) if isinstance(user, str) else None
            if targets:
                entry = fields.get(b"account_entry_id")
                toast = Toast(None if entry is None else text(entry), raw)
                for listener in list(targets):
                    listener.offer(toast)

    def unblock(self) -> None:
        """Wake the blocking read now (the last listener left), from a pooled connection; best effort."""
        if self._client_id is not None and self._state is not None:
            with contextlib.suppress(redis.RedisError):
                self._state.client_unblock(self._client_id)

    # --- on the reader's thread -------------------------------------------------------------------

    def _connect(self) -> str:
        """The dedicated connection and the partition stream's newest id, where reading starts. A plain Redis client
        gets a one-connection pool of its own, named in ``CLIENT LIST`` (the name is set again on every reconnect);
        a cluster client routes the read itself."""
        self._state = self._state_of()
        if isinstance(self._state, redis.Redis):
            pool = self._state.connection_pool
            kwargs = {**pool.connection_kwargs, "client_name": f"helpdesk-rr:toasts:p{self.partition:02d}"}
            own = redis.ConnectionPool(connection_class=pool.connection_class, max_connections=1, **kwargs)
            self._client = redis.Redis(connection_pool=own)
            self._client_id = int(self._client.client_id())
        else:
            self._client = self._state
        newest: Any = self._client.xrevrange(self.stream, count=1)
        return text(newest[0][0]) if newest else "0-0"

    def _run(self) -> None:
        try:
            cursor = self._connect()
        except BaseException as error:  # told to the first listener, which answers 503
            self.failed = error
            self._call(self.ready.set)
            with self._lock:
                self.exited = True
            return
        self._call(self.ready.set)
        try:
            self._loop_until_stopped(cursor)
        finally:
            self._close()

    def _loop_until_stopped(self, cursor: str) -> None:
        while True:
            with self._lock:
                if self.stopping:
                    self.exited = True
                    return
            try:
                reply: Any = self._client.xread({self.stream: cursor}, block=self._block_ms, count=READ_COUNT)
            except redis.RedisError as error:
                log.warning("toasts.reader_retry", partition=self.partition, error=type(error).__name__)
                time.sleep(RETRY_SECONDS)
                self._client_id = self._reconnected_id()
                continue
            entries = _entries(reply)
            if entries:
                cursor = text(entries[-1][0])
                if not self._call(self.dispatch, entries):
                    with self._lock:
                        self.exited = True
                    return

    def _call(self, function: Any, *args: Any) -> bool:
        """Run ``function`` on the loop's thread; False when the loop is gone (the server stopped)."""
        try:
            self._loop.call_soon_threadsafe(function, *args)
        except RuntimeError:
            return False
        return True

    def _reconnected_id(self) -> int | None:
        """The connection's id after a reconnect (``CLIENT UNBLOCK`` needs the current one); None meanwhile."""
        if self._client is self._state:
            return None
        try:
            return int(self._client.client_id())
        except redis.RedisError:
            return None

    def _close(self) -> None:
        if self._client is not None and self._client is not self._state:
            self._client.close()
            self._client.connection_pool.disconnect()


def _entries(reply: Any) -> list[tuple[Any, dict[Any, Any]]]:
    """The entries of an XREAD reply of one stream: RESP2 ``[[name, entries]]`` or RESP3 ``{name: [entries]}``."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [entry for batches in reply.values() for entry in batches[0]]
    return [entry for _name, entries in reply for entry in entries]


class Fanout:
    """The readers of one process (one per partition with listeners), shared by every toasts stream."""

    def __init__(self, state_of: Callable[[], Any], partitions: int | None = None, block_ms: int = BLOCK_MS) -> None:
        self._state_of = state_of
        self._partitions = partitions
        self._block_ms = block_ms
        self._readers: dict[int, PartitionReader] = {}
        self._ticker: asyncio.Task[None] | None = None
        self.keepalive = KEEPALIVE_SECONDS

    @property
    def listeners(self) -> int:
        return sum(
            len(group)
            for reader in self._readers.values()
            for users in reader.listeners.values()
            for group in users.values()
        )

    @property
    def readers(self) -> int:
        return sum(1 for reader in self._readers.values() if not reader.exited)

    async def subscribe(self, account_id: str, user_id: str) -> Listener:
        """Register a listener and return once its partition's reader is reading: everything written to the
        partition stream from then on reaches the listener's queue. Raises what the reader's first Redis call
        raised (the route answers 503)."""
        listener = Listener(account_id, user_id)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        partition = partition_of(account_id, self._partitions)
        reader = self._readers.get(partition)
        if reader is None or not reader.add(listener):
            reader = PartitionReader(self._state_of, partition, asyncio.get_running_loop(), self._block_ms)
            reader.add(listener)
            self._readers[partition] = reader
            reader.start()
        await reader.ready.wait()
        if reader.failed is not None:
            self.unsubscribe(listener)
            raise reader.failed
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        reader = self._readers.get(partition_of(listener.account_id, self._partitions))
        if reader is not None and reader.remove(listener):
            with contextlib.suppress(RuntimeError):  # shutting down: the reader stops within BLOCK_MS anyway
                asyncio.get_running_loop().run_in_executor(None, reader.unblock)

    async def _tick(self) -> None:
        """Every ``keepalive`` seconds, a keep-alive for every idle listener; ends once nobody listens."""
        while True:
            await asyncio.sleep(self.keepalive)
            listening = False
            for reader in list(self._readers.values()):
                for users in reader.listeners.values():
                    for group in users.values():
                        for listener in group:
                            listener.tick()
                            listening = True
            if not listening:
                return

    def close(self) -> None:
        """Stop every reader and the ticker (the server is stopping)."""
        if self._ticker is not None:
            self._ticker.cancel()
        for reader in self._readers.values():
            reader.listeners.clear()
            reader.stopping = True
            reader.unblock()
