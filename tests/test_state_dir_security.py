"""The embedded server's state directory is checked, and its files are owner-only (issue 13, item 4).

Another user who owns or can write the state directory (``HELPDESK_RR_STATE_DIR``, or
``XDG_STATE_HOME`` above it) could read the AOF or put their own server behind ``redis.sock``; such a
directory is refused with one line, as ssh refuses one for its keys (docs/SECURITY.md).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from tests.support.cli import run
from worker.ops.embedded import check_private_directory, ensure_embedded_server, stop_embedded_server
from worker.ops.redis_errors import UnsafeDirectory
from worker.ops.redis_process import RedisServer

NOBODY = 65534


@pytest.fixture
def base() -> Iterator[Path]:
    """A fresh private directory under /tmp (short paths: the socket lives in the state dir)."""
    path = Path(tempfile.mkdtemp(prefix="rr-sd-"))
    try:
        yield path
    finally:
        for state in [path, *(p for p in path.rglob("*") if p.is_dir())]:
            if (state / "redis.pid").exists():
                stop_embedded_server(state)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022), so files come out private only because the code makes them so."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def refused_by_cli(env: dict[str, str]) -> str:
    result = run(None, "unassigned", "acme", env=env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing "), result.stderr
    return lines[0]


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_state_dir_others_can_write_is_refused(base: Path, mode: int) -> None:
    state = base / "state"
    state.mkdir(mode=0o700)
    state.chmod(mode)
    with pytest.raises(UnsafeDirectory, match="writable by group or others"):
        ensure_embedded_server(state)
    assert not (state / "redis.sock").exists()
    assert "writable by group or others" in refused_by_cli({"HELPDESK_RR_STATE_DIR": str(state)})


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to hand a directory to another user")
def test_a_state_dir_owned_by_another_user_is_refused(base: Path) -> None:
    state = base / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    with pytest.raises(UnsafeDirectory, match=f"owned by uid {NOBODY}"):
        ensure_embedded_server(state)
    assert f"owned by uid {NOBODY}" in refused_by_cli({"HELPDESK_RR_STATE_DIR": str(state)})


def test_xdg_state_home_others_can_write_is_refused(base: Path) -> None:
    xdg = base / "xdg"
    xdg.mkdir()
    xdg.chmod(0o777)  # no sticky bit: anyone could rename our helpdesk-rr away and put theirs there
    line = refused_by_cli({"XDG_STATE_HOME": str(xdg), "HELPDESK_RR_STATE_DIR": ""})
    assert f"{xdg} is writable by group or others" in line
    with pytest.raises(UnsafeDirectory):
        check_private_directory(xdg / "helpdesk-rr")


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to hand a directory to another user")
def test_a_parent_owned_by_another_user_is_refused(base: Path) -> None:
    parent = base / "theirs"
    parent.mkdir(mode=0o755)
    (parent / "state").mkdir(mode=0o700)
    os.chown(parent, NOBODY, NOBODY)
    with pytest.raises(UnsafeDirectory, match=f"{parent} is owned by uid {NOBODY}"):
        ensure_embedded_server(parent / "state")


def test_a_sticky_shared_parent_like_tmp_is_fine(base: Path) -> None:
    shared = base / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "mine").mkdir(mode=0o700)
    check_private_directory(shared / "mine")


def test_a_loose_short_socket_dir_is_refused(base: Path) -> None:
    state = base / ("d" * 100)  # too long for a unix socket: it goes to /tmp/rr-<uid>-<digest>
    digest = hashlib.sha256(str(state).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"rr-{os.getuid()}-{digest}"
    short.mkdir(mode=0o700)
    try:
        short.chmod(0o777)
        with pytest.raises(UnsafeDirectory, match="writable by group or others"):
            ensure_embedded_server(state)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def private(path: Path) -> bool:
    return stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0


@pytest.mark.usefixtures("loose_umask")
def test_the_embedded_servers_files_are_owner_only(base: Path) -> None:
    state = base / "new" / "state"
    url = ensure_embedded_server(state)
    assert url == f"unix://{state}/redis.sock"
    client = Redis.from_url(url)  # the AOF is written from the start; SAVE writes the RDB too
    client.set("k", "v")
    client.save()
    client.close()
    stop_embedded_server(state)
    files = sorted(state.rglob("*"))
    names = {path.name for path in files}
    assert {"redis.log", "redis-server.out", "embedded.lock", "dump.rdb"} <= names
    assert any(name.startswith("appendonly") for name in names)
    for path in [state, state.parent, *files]:
        assert private(path), f"{path} is {stat.S_IMODE(path.lstat().st_mode):o}"


@pytest.mark.usefixtures("loose_umask")
def test_the_socket_and_pidfile_of_a_running_server_are_owner_only(base: Path) -> None:
    ensure_embedded_server(base / "state")
    for name in ("redis.sock", "redis.pid"):
        path = base / "state" / name
        assert path.exists() and private(path), name
    with RedisServer.start(base / "plain") as server:  # the tests' servers too
        assert private(base / "plain" / "redis.log")
        assert server.url.startswith("unix://")
