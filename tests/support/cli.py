"""Running the ``helpdesk-rr`` CLI from a test: in-process (click's CliRunner) or as a real subprocess."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from click.testing import CliRunner

from worker.cli import cli

SCRIPT = Path(sys.executable).parent / "helpdesk-rr"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "worker.cli"]


@contextmanager
def logging_restored() -> Iterator[None]:
    """The CLI points structlog and the root logger at CliRunner's streams; put them back afterwards."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        yield
    finally:
        structlog.configure(**config)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)


def run(
    url: str | None, *args: str, env: dict[str, str] | None = None, separate_process: bool = False
) -> subprocess.CompletedProcess[str]:
    if url is not None and env is None and not separate_process:
        with logging_restored():
            result = CliRunner().invoke(cli, ["--log-json", "--redis-url", url, *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)
    base = [*COMMAND, "--log-json"] + (["--redis-url", url] if url else [])
    full_env = {**os.environ, **(env or {})}
    if url is None:
        full_env.pop("REDIS_URL", None)
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120, env=full_env)


def ok(url: str | None, *args: str, env: dict[str, str] | None = None, separate_process: bool = False) -> str:
    result = run(url, *args, env=env, separate_process=separate_process)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(url: str | None, *args: str, code: int = 1) -> str:
    result = run(url, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr.strip()
