"""Many calls of one Lua script on one connection, with a few in flight at once.

A bulk job makes hundreds of calls in a row. Sent one by one, Redis sits idle while the worker packs
the next call and the worker sits idle while Redis runs it: the job takes the *sum* of both. With the
next call already sent while the current one runs, the two overlap (they are separate processes, on
separate cores) and the job takes roughly the *larger* of the two. Each call is still its own atomic
script run, so Redis serves other clients between them; the calls run in the order they were sent.

Works on ``redis.Redis`` (and fakeredis) and on ``RedisCluster``: there every call of one pipeline
must name keys of one slot (ours always do: one account), and goes to the node that serves it.
A NOSCRIPT reply (script cache flushed, failover to a node that never saw the script) loads the
script on that connection and re-sends the calls that hit it; other errors end the pipeline (its
connection is dropped, so no reply is left unread on a pooled connection; on a cluster, a dropped
connection or a MOVED reply also makes the client re-read the slot map, for the caller's next try).
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

import redis
import redis.exceptions
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import AskError, MovedError, NoScriptError, ResponseError

Tag = TypeVar("Tag")

_PENDING: Any = object()
_TOPOLOGY_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, MovedError, AskError)


@dataclass
class _Call(Generic[Tag]):
    command: tuple[Any, ...]
    tag: Tag
    reply: Any = field(default=_PENDING)


class ScriptPipeline(Generic[Tag]):
    """``send`` up to ``depth`` calls, then ``receive`` their replies oldest first. Use as a context
    manager: it holds one connection from the client's pool for its lifetime."""

    def __init__(self, client: redis.Redis | RedisCluster, script: Script, routing_key: str, depth: int = 2) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._client = client
        self._script = script
        self._routing_key = routing_key
        self.depth = depth
        self._in_flight: deque[_Call[Tag]] = deque()
        self._connection: Any = None
        self._pool: Any = None

    def __enter__(self) -> ScriptPipeline[Tag]:
        if isinstance(self._client, RedisCluster):
            node = self._client.get_node_from_key(self._routing_key)  # type: ignore[no-untyped-call]
            node_client = self._client.get_redis_connection(node)
            self._pool = node_client.connection_pool
        else:
            self._pool = self._client.connection_pool
        self._connection = self._pool.get_connection()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._connection is None:
            return
        if exc_type is not None or self._in_flight:
            self._connection.disconnect()  # replies may be left unread: never hand this socket back as is
        self._pool.release(self._connection)
        self._connection = None
        self._in_flight.clear()
        if isinstance(self._client, RedisCluster) and isinstance(exc, _TOPOLOGY_ERRORS):
            with contextlib.suppress(redis.exceptions.RedisError):  # the next attempt finds out again
                self._client.nodes_manager.initialize()  # re-read which node serves which slot

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def send(self, keys: list[str], args: list[Any], tag: Tag) -> None:
        """Send one call (it runs as soon as Redis reaches it); ``tag`` comes back with its reply."""
        if self._connection is None:
            raise RuntimeError("ScriptPipeline used outside its 'with' block")
        if len(self._in_flight) >= self.depth:
            raise RuntimeError(f"already {self.depth} calls in flight: receive one first")
        call: _Call[Tag] = _Call(("EVALSHA", self._script.sha, len(keys), *keys, *args), tag)
        self._send(call.command)
        self._in_flight.append(call)

    def _send(self, command: tuple[Any, ...]) -> None:
        # redis-py's health check (a PING when the connection has been idle) reads its PONG right away:
        # with a reply still unread it would read that reply instead. Only check with no call unresolved.
        pending = any(call.reply is _PENDING for call in self._in_flight)
        self._connection.send_command(*command, check_health=not pending)

    def receive(self) -> tuple[Tag, Any]:
        """The oldest call's tag and reply. Raises the call's error (``ResponseError``) if it failed."""
        if not self._in_flight:
            raise RuntimeError("no call in flight")
        call = self._in_flight[0]
        if call.reply is _PENDING:
            try:
                call.reply = self._connection.read_response()
            except NoScriptError:
                self._reload_and_resend()
                call.reply = self._connection.read_response()
        self._in_flight.popleft()
        if isinstance(call.reply, ResponseError):
            raise call.reply
        return call.tag, call.reply

    def _reload_and_resend(self) -> None:
        """The oldest call hit NOSCRIPT. Every later call was sent after it: read their replies (some
        may have run, if another client loaded the script meanwhile), load the script on this
        connection, and send again, in order, the calls that did not run."""
        failed = [self._in_flight[0]]
        for call in list(self._in_flight)[1:]:
            try:
                call.reply = self._connection.read_response()
            except NoScriptError:
                failed.append(call)
            except ResponseError as error:
                call.reply = error
        self._connection.send_command("SCRIPT", "LOAD", self._script.script)
        sha = self._connection.read_response()
        if isinstance(sha, bytes):
            sha = sha.decode()
        if sha != self._script.sha:  # pragma: no cover - the same text always hashes the same
            raise RuntimeError(f"SCRIPT LOAD returned {sha}, expected {self._script.sha}")
        for call in failed:  # still pending: their replies come next, in this order
            self._send(call.command)
