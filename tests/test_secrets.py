"""A Redis password never leaves the process as text (issue 13, item 1; docs/SECURITY.md).

Every command runs with a password-bearing URL — against a real password-protected redis-server for
the success paths, against a closed port or with a wrong password for the refusals — and its stdout,
stderr (log lines included), the worker children's argv and their output are searched for the secret.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog
from click.testing import CliRunner

from tests.support.cli import COMMAND, logging_restored
from worker.cli import cli
from worker.config import Settings
from worker.logging import configure_logging
from worker.ops.redis_process import RedisServer
from worker.redaction import redacted
from worker.runtime.topology import Topology

SECRET = "s3cretpw-4f9a"
ACL_USER = "helpdesk"


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real redis-server that requires a password (and knows an ACL user with the same one)."""
    server = RedisServer.start(tmp_path_factory.mktemp("locked"), unix_socket=False)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    admin = redis.Redis(port=port)
    admin.acl_setuser(ACL_USER, enabled=True, passwords=[f"+{SECRET}"], keys=["*"], channels=["*"], commands=["+@all"])
    admin.config_set("requirepass", SECRET)
    try:
        yield "127.0.0.1", port
    finally:
        redis.Redis(port=port, password=SECRET).config_set("requirepass", "")  # lets stop() say SHUTDOWN
        server.stop()


@pytest.fixture
def secret_url(locked_server: tuple[str, int]) -> str:
    host, port = locked_server
    redis.Redis(host=host, port=port, password=SECRET).flushall()
    return f"redis://:{SECRET}@{host}:{port}/0"


@pytest.fixture
def acl_url(secret_url: str) -> str:
    return secret_url.replace("redis://:", f"redis://{ACL_USER}:")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    """The CLI in-process with ``env`` (never ``--redis-url``: its argv would hold the secret), with
    ``--verbose``: its info log lines are searched too."""
    with logging_restored():
        result = CliRunner().invoke(cli, ["--log-json", "--verbose", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def no_secret(output: str) -> None:
    assert SECRET not in output, output


# --- the helper ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{SECRET}@h:6379/0", "redis://***@h:6379/0"),
        (f"redis://user:{SECRET}@h:6379/2", "redis://***@h:6379/2"),
        (f"rediss://user:p@{SECRET}@h/0", "rediss://***@h/0"),
        (f"redis+cluster://:{SECRET}@h:7000", "redis+cluster://***@h:7000"),
        (f"unix://:{SECRET}@/run/redis.sock?db=1", "unix://***@/run/redis.sock?db=1"),
        (f"redis://h/0?password={SECRET}&db=1", "redis://h/0?password=***&db=1"),
        (f"redis://:{SECRET}@a:1/0,redis://:{SECRET}@b:2/0", "redis://***@a:1/0,redis://***@b:2/0"),
        ("redis://redis.internal:6379/0", "redis://redis.internal:6379/0"),
        ("unix:///tmp/odd@name/redis.sock", "unix:///tmp/odd@name/redis.sock"),
    ],
)
def test_redacted_keeps_where_and_hides_the_credentials(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert redacted(shown) == shown


def test_settings_and_topology_never_show_the_password() -> None:
    url = f"redis://:{SECRET}@h:6379/0"
    settings = Settings.from_env(
        {"REDIS_URL": url, "REDIS_STATE_URL": f"redis+cluster://u:{SECRET}@c:7000", "REDIS_QUEUE_URLS": url}
    )
    topology = Topology(url, (url, url))
    for text in (repr(settings), str(settings), repr(topology), f"{topology}", repr([settings, topology])):
        no_secret(text)
        assert "***@h:6379/0" in text


def test_log_lines_redact_urls() -> None:
    stream = io.StringIO()
    with logging_restored(), redirect_stderr(stream):
        configure_logging(json=True)
        structlog.get_logger("test").warning(
            "redis.down", url=f"rediss://u:{SECRET}@h/0", error=f"at redis://:{SECRET}@h:1"
        )
    assert "rediss://***@h/0" in stream.getvalue()
    assert SECRET not in stream.getvalue()


# --- every command, refused -------------------------------------------------------------------------

COMMANDS_NEEDING_REDIS = [
    ("user", "acme", "ana", "--role", "agent"),
    ("status", "acme", "ana", "online"),
    ("round-robin", "acme", "on", "--actor", "max"),
    ("office-hours", "acme", "--timezone", "UTC", "--hours", "mon-fri 09:00-17:00", "--actor", "max"),
    ("ticket", "acme", "T1", "--channel", "email"),
    ("unassigned", "acme"),
    ("events", "acme"),
    ("team", "acme", "support", "ana", "--actor", "max"),
    ("teams", "acme"),
    ("bulk-assign", "acme", "--team", "support", "T1", "--actor", "max"),
    ("failed", "--all"),
    ("first-reply", "acme", "T1", "--agent", "ana"),
    ("report", "acme"),
    ("worker", "--burst"),
    ("worker", "--burst", "--processes", "2"),
    ("demo",),
]


@pytest.mark.parametrize(
    "variables",
    [
        {"REDIS_URL": "redis://:{secret}@127.0.0.1:{port}/0"},
        {"REDIS_URL": "redis://helpdesk:{secret}@127.0.0.1:{port}/0"},
        {"REDIS_URL": "rediss://helpdesk:{secret}@127.0.0.1:{port}/0"},
        {"REDIS_URL": "redis://127.0.0.1:{port}/0?password={secret}"},
        {
            "REDIS_STATE_URL": "redis://:{secret}@127.0.0.1:{port}/0",
            "REDIS_QUEUE_URLS": "redis://:{secret}@127.0.0.1:{port}/1,redis://:{secret}@127.0.0.1:{port}/2",
        },
    ],
    ids=["password", "acl-user", "tls", "query", "split"],
)
def test_a_refused_command_names_the_redis_but_not_its_password(variables: dict[str, str]) -> None:
    port = closed_port()
    env = {name: value.format(secret=SECRET, port=port) for name, value in variables.items()}
    env |= {"HELPDESK_RR_REDIS_RETRIES": "0"}
    for command in COMMANDS_NEEDING_REDIS:
        code, output = invoke(env, *command)
        assert code == 1, (command, output)
        assert f"127.0.0.1:{port}" in output, (command, output)  # still says which Redis
        no_secret(output)


def test_a_wrong_password_is_refused_without_echoing_it(locked_server: tuple[str, int]) -> None:
    host, port = locked_server
    env = {"REDIS_URL": f"redis://{ACL_USER}:{SECRET}-wrong@{host}:{port}/0", "HELPDESK_RR_REDIS_RETRIES": "0"}
    for command in [("status", "acme", "ana", "online"), ("worker", "--burst", "--processes", "2"), ("demo",)]:
        code, output = invoke(env, *command)
        assert code == 1, (command, output)
        assert f"redis://***@{host}:{port}/0" in output
        no_secret(output)


# --- every command, working -------------------------------------------------------------------------


class RecordedChildren:
    """Wraps ``subprocess.Popen`` for ``run_many``: keeps each child's argv (as given and as the kernel
    shows it in /proc) and environment, and captures its output in files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.argv: list[str] = []
        self.environments: list[dict[str, str]] = []
        self.outputs: list[Path] = []
        self._popen = subprocess.Popen

    def __call__(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        output = self.directory / f"child-{len(self.outputs)}.out"
        self.outputs.append(output)
        with open(output, "wb") as sink:
            child = self._popen(args, stdout=sink, stderr=subprocess.STDOUT, **kwargs)
        self.argv.append(" ".join(args))
        self.argv.append(self.shown_by_kernel(child.pid))
        self.environments.append(dict(kwargs.get("env") or os.environ))
        return child

    @staticmethod
    def shown_by_kernel(pid: int) -> str:
        """What ``ps`` shows: /proc/<pid>/cmdline (empty for a moment while the child is in execve)."""
        for _ in range(200):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if cmdline:
                return cmdline.replace(b"\0", b" ").decode()
            time.sleep(0.005)
        raise AssertionError(f"/proc/{pid}/cmdline stayed empty")


def test_worker_children_get_the_url_from_their_environment_not_argv(
    acl_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"REDIS_URL": acl_url}  # an ACL user, not the default one
    for command in [("user", "acme", "ana", "--role", "agent"), ("status", "acme", "ana", "online")]:
        assert invoke(env, *command)[0] == 0
    for n in range(4):
        assert invoke(env, "ticket", "acme", f"T{n}", "--channel", "email")[0] == 0
    children = RecordedChildren(tmp_path)
    monkeypatch.setattr(subprocess, "Popen", children)  # run_many calls subprocess.Popen
    code, output = invoke(env, "worker", "--burst", "--processes", "2")
    assert code == 0, output
    no_secret(output)
    assert len(children.outputs) == 2
    for argv in children.argv:
        assert "worker" in argv
        no_secret(argv)
    assert [child_env["REDIS_URL"] for child_env in children.environments] == [acl_url] * 2
    for path in children.outputs:
        no_secret(path.read_text())
    assert invoke(env, "events", "acme", "--json")[1].count('"round_robin_off"') == 4  # the children decided


def test_every_command_keeps_the_password_out_of_its_output(secret_url: str, tmp_path: Path) -> None:
    env = {"REDIS_URL": secret_url, "HELPDESK_RR_STATE_DIR": str(tmp_path / "state")}
    for command in [
        ("user", "acme", "max", "--role", "manager"),
        *COMMANDS_NEEDING_REDIS[:5],
        ("worker", "--burst"),
        ("unassigned", "acme", "--json"),
        ("events", "acme"),
        ("events", "acme", "--json"),
        *COMMANDS_NEEDING_REDIS[7:9],
        ("teams", "acme", "--json"),
        ("failed", "acme"),
        ("failed", "--all", "--json"),
        ("first-reply", "acme", "T1", "--agent", "ana"),
        ("report", "acme"),
        ("report", "acme", "--json"),
        ("report", "acme", "--html", str(tmp_path / "report.html")),
        ("demo", "--account", "demo"),
        ("schemas", "export", str(tmp_path / "schemas")),
        ("embedded", "stop"),
        ("status", "acme", "nobody", "online"),  # refused for another reason: still no secret
    ]:
        code, output = invoke(env, *command)
        assert code == (1 if "nobody" in command else 0), (command, output)
        no_secret(output)
    assert "Redis: redis://***@127.0.0.1:" in invoke(env, "demo")[1]
    no_secret((tmp_path / "report.html").read_text())


def test_bulk_wait_and_a_long_running_worker_keep_the_password_out(secret_url: str) -> None:
    env = {"REDIS_URL": secret_url}
    for command in [
        ("user", "acme", "max", "--role", "manager"),
        ("user", "acme", "ana", "--role", "agent"),
        ("status", "acme", "ana", "online"),
        ("team", "acme", "support", "ana", "--actor", "max"),
    ]:
        assert invoke(env, *command)[0] == 0
    worker = subprocess.Popen(
        [*COMMAND, "--log-json", "worker"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        code, output = invoke(env, "bulk-assign", "acme", "--team", "support", "x1", "x2", "--actor", "max", "--wait")
    finally:
        worker.terminate()
        worker_output, _ = worker.communicate(timeout=30)
    assert code == 0, output
    assert "2/2" in output
    no_secret(output)
    no_secret(worker_output)
    assert "worker started: queue helpdesk-rr at redis://***@127.0.0.1:" in worker_output  # where, not the password


def scrape(url: str, process: subprocess.Popen[str]) -> str:
    for _ in range(100):
        if process.poll() is not None:
            raise AssertionError(f"metrics exited early: {process.communicate()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body.decode()
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


@pytest.mark.parametrize("reachable", [True, False], ids=["up", "down"])
def test_metrics_keeps_the_password_out(locked_server: tuple[str, int], reachable: bool) -> None:
    host, port = locked_server if reachable else ("127.0.0.1", closed_port())
    listen = closed_port()
    process = subprocess.Popen(
        [*COMMAND, "--log-json", "metrics", "--port", str(listen)],
        env={**os.environ, "REDIS_URL": f"redis://:{SECRET}@{host}:{port}/0", "HELPDESK_RR_REDIS_RETRIES": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = scrape(f"http://127.0.0.1:{listen}/metrics", process)
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    assert f"helpdesk_rr_redis_up {1.0 if reachable else 0.0}" in body
    for text in (body, stdout, stderr):
        no_secret(text)
