"""Looking at a ``redis-server`` from outside: is its pid alive, is it ours, does it answer PING.

Shared by :mod:`worker.ops.redis_process` (starting and stopping one server) and
:mod:`worker.ops.embedded` (deciding whether the per-user server is up, stale or merely slow).
Every check is short-timeout and exception-free: a hung or vanished server must make the caller
wait or retry, never hang it or crash it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

import redis
from redis import Redis

__all__ = [
    "free_tcp_port",
    "kill_quietly",
    "looks_like_redis_in",
    "pid_alive",
    "ping",
    "read_pid",
    "server_pid",
    "short_timeout_client",
    "tail",
    "tail_from",
]


def pid_alive(pid: int) -> bool:
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


def looks_like_redis_in(pid: int, directory: Path) -> bool:
    """Best-effort check that ``pid`` is a redis-server working in ``directory``.

    Guards against pid reuse: a stale pidfile may name a pid now used by an unrelated process.
    Redis ``chdir``s to its ``--dir``, so the cwd identifies the server. Without a readable /proc
    we cannot tell, and conservatively assume it is ours (better to report than to start a twin).
    """
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return pid_alive(pid)
    try:
        comm = (proc / "comm").read_text().strip()
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        cwd = Path(os.readlink(proc / "cwd"))
    except OSError:
        return pid_alive(pid)
    if "redis" not in comm and "redis" not in cmdline:
        return False
    try:
        return cwd.resolve() == directory.resolve()
    except OSError:
        return False


def read_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile``, or None if it is missing or not a number (half-written)."""
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log, or "" if there is none: for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def tail_from(path: Path, offset: int, lines: int = 20) -> str:
    """Like :func:`tail`, but only of what was written after ``offset`` (this start attempt's part)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def short_timeout_client(url: str, timeout: float = 1.0) -> Redis:
    """A short-timeout client: a hung server must not hang the caller."""
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def ping(url: str) -> bool:
    """True if the server at ``url`` answers PING (False while it is still loading its AOF)."""
    conn = short_timeout_client(url)
    try:
        return bool(conn.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        conn.close()


def server_pid(url: str) -> int | None:
    """The pid the server reports itself (``INFO server``): authoritative, unlike a pidfile."""
    conn = short_timeout_client(url)
    try:
        info = conn.info("server")
        pid = info.get("process_id")
        return int(pid) if pid is not None else None
    except (redis.RedisError, OSError, ValueError):
        return None
    finally:
        conn.close()


def free_tcp_port() -> int:
    """A currently free port on 127.0.0.1 (racy by nature; :meth:`RedisServer.start` retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kill_quietly(process: subprocess.Popen[bytes] | None, pid: int | None) -> None:
    """SIGKILL our child ``process`` (and reap it), else the daemon ``pid``; errors are ignored
    because this only runs on the way to reporting a failure that matters more."""
    if process is not None:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    elif pid is not None and pid > 0:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
