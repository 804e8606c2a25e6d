"""Shared helpers for the benches: a throwaway Redis, machine facts, command counts, statistics."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from worker.ops.redis_binary import find_redis_server
from worker.ops.redis_process import RedisServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

NOOP = "bench.noop"
"""Dotted name of the baseline job (:func:`bench.noop`), as RQ imports it in the worker process."""


# --------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_redis(url: str | None, binary: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(url, description)``: ``url`` as given, else a fresh throwaway redis-server on
    127.0.0.1 (a free port, in-memory), stopped again on exit. Never touches the system Redis
    unless its URL is passed explicitly."""
    if url:
        yield url, "given by --redis-url"
        return
    binary = binary or find_redis_server("path")
    directory = Path(tempfile.mkdtemp(prefix="rr-bench-"))
    try:
        with RedisServer.start(directory, binary=binary, unix_socket=False) as server:
            yield server.url, f"throwaway {binary} on {server.url}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def command_calls(client: redis.Redis) -> dict[str, int]:
    """``INFO commandstats`` as {command: calls}. Includes commands run inside Lua scripts."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def command_delta(
    before: Mapping[str, int], after: Mapping[str, int], ignore: Sequence[str] = ("info",)
) -> dict[str, int]:
    """Calls per command between two snapshots, without the bench's own ``INFO`` calls."""
    delta = {name: calls - before.get(name, 0) for name, calls in after.items() if name not in ignore}
    return {name: calls for name, calls in sorted(delta.items(), key=lambda kv: -kv[1]) if calls}


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine(client: redis.Redis | None = None) -> dict[str, Any]:
    """What a result was measured on."""
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rq": package_version("rq"),
        "redis_py": package_version("redis"),
    }
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    if client is not None:
        server = client.info("server")
        info["redis_server"] = server.get("redis_version")
        info["redis_executable"] = server.get("executable")
    return info


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Statistics and output
# --------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def write_json(name: str, data: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def worker_env(pycache: Path) -> dict[str, str]:
    """Environment for worker subprocesses: the project root importable (for ``bench.noop``), no
    REDIS_URL leaking in from the caller (the bench always passes ``--redis-url``), and bytecode
    caching on but kept out of the source tree (``PYTHONPYCACHEPREFIX``): with
    ``PYTHONDONTWRITEBYTECODE`` set, as on these machines, every worker start and every forked
    horse's import would compile from source, which a deployment does not do."""
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + path if path else "")
    return env


def helpdesk_rr_command() -> list[str]:
    """The ``helpdesk-rr`` console script next to this interpreter, else ``python -m worker.cli``."""
    import sys

    script = Path(sys.executable).parent / "helpdesk-rr"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "worker.cli"]


def run_quietly(command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start a worker with stdout/stderr discarded (it logs one JSON line per decision)."""
    return subprocess.Popen(
        list(command), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(env)
    )


def script_name(command: str, shas: Mapping[str, str]) -> str:
    """``evalsha <sha>`` (SLOWLOG shows only the hash) as the name of the script in ``shas`` (name → sha) it runs;
    any other command as its first word."""
    for name, sha in shas.items():
        if command.startswith("evalsha ") and sha.startswith(command.removeprefix("evalsha ")[:12]):
            return name
    return command.split(" ")[0][:20]
