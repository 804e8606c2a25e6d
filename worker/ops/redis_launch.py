"""One start attempt of a ``redis-server``: its command line, where it listens, spawning it and
waiting until it answers — the steps ``RedisServer.start`` retries (worker/ops/redis_process.py).

Kept apart so each step is a short function a reader can follow, and a failure names the step and
carries the tails of the server's output and log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from worker.ops.redis_errors import RedisServerError
from worker.ops.redis_probe import (
    kill_quietly,
    pid_alive,
    ping,
    read_pid,
    tail,
    tail_from,
)

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


def base_args(binary: str, directory: Path, *, daemonize: bool, appendonly: bool) -> list[str]:
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
class Listener:
    """Where a server about to start listens: its options, and the URL that reaches it."""

    args: list[str]
    url: str
    socket_path: Path | None
    owned_socket_dir: Path | None
    """A ``/tmp/rr-*`` directory made for the socket because the default path was too long; the
    server removes it when it stops (or when its start fails)."""


def listener_for(directory: Path, *, unix_socket: bool, port: int, socket_path: Path | None) -> Listener:
    """A unix socket only (no TCP port, mode 700), or 127.0.0.1:``port``."""
    if not unix_socket:
        return Listener(
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
    return Listener(
        args=["--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"],
        url=f"unix://{socket_path}",
        socket_path=socket_path,
        owned_socket_dir=owned_socket_dir,
    )


# --------------------------------------------------------------------------------------------
# One start attempt: spawn, wait until it answers, explain a failure
# --------------------------------------------------------------------------------------------


class StartAttempt:
    """Spawns one server and waits for it; every failure it raises carries the server's own words.

    Where the log file already has content (restart of the embedded server), only what this
    attempt wrote is reported, so the offset is taken before spawning.
    """

    def __init__(self, directory: Path, binary: str, *, daemonize: bool, listener: Listener) -> None:
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
        """Start the binary with its stdout/stderr captured in :data:`OUTPUT_NAME`.

        Under umask 077, so everything the server creates (AOF, RDB, log, pidfile) is owner-only
        (0600); the socket is 0700 (``--unixsocketperm``). See docs/SECURITY.md."""
        out_fh: IO[bytes]
        fd = os.open(self.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file left by an older version may be 0644
        with open(fd, "wb") as out_fh:
            try:
                return subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=out_fh,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    umask=0o077,
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
