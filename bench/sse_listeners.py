"""Live toasts (issue 17): how many idle SSE listeners one ``helpdesk-rr serve`` process holds, and how fast a toast
reaches them.

    python -m bench --only sse_listeners [--quick]

**Set-up**: one ``helpdesk-rr serve`` process (uvicorn, uvloop, one worker process, the default 16 partitions)
against the bench's Redis; ``accounts`` accounts (10) of 100 agents each, every agent with an agent link
(``Helpdesk.agent_link``). This process opens the listeners with plain asyncio sockets (one ``GET
/v1/accounts/{account}/users/{user}/toasts?token=…`` each, the users taken in turn, so at ``N`` listeners each of
the 1,000 agents has ``N / 1,000`` of them, like tabs) and counts a listener once its ``ready`` event arrived
(the server sends it once the fan-out delivers to that stream).

**Measured at each size** ``N`` (1,000, 5,000, 10,000; ``--quick``: 200, 1,000), with every listener open:

- **open**: listeners opened per second (100 connecting at a time), and the server's resident memory (``VmRSS``)
  over its size before the first listener, per listener;
- **idle**: the server's CPU (user + system, ``/proc``) over 5 s with nothing happening — what holding them
  costs — and the Redis connections: the fan-out readers (``CLIENT LIST`` names ``helpdesk-rr:toasts:pNN``; at
  most one per partition whatever ``N``) and every connection Redis has (this bench's and the server's pool too);
- **one toast**: with all of them open and idle, one more user (of another account, Online alone) gets 30
  toasts one at a time (``Engine.decide`` in a thread of this process, 50 ms apart): the time from the ``decide``
  call to the toast arriving at that user's one listener, median and largest — does holding ``N`` idle
  listeners slow a delivery?
- **burst**: all 1,000 agents go Online, then 1,000 tickets are decided through ``Engine.decide`` as fast as one
  client goes (in a process of its own), one per agent by the rotation, so every listener gets exactly one
  toast. **Delivery lag** is the time from the ``decide`` call (its start: the toast can arrive before the
  call returns, since Redis serves the blocked reader as the script ends) to the toast's ``data`` arriving at a
  listener (one clock: the machine's monotonic clock, shared by the processes), per delivery: median, 95th
  percentile and the largest; the burst's deliveries per second from the first decision to the last delivery;
  and the server's CPU seconds over the same wall time (near the wall time: the server is the bottleneck; far
  below: the deciding or the client is).

This process's client runs on uvloop, like the server. Then every listener is closed and the fan-out readers
must be gone within 10 s (checked). The lag includes this process's own event loop reading ``N`` sockets on the
same two cores as the server, Redis and the deciding process: read it as an upper bound.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench.common import helpdesk_rr_command, markdown_table, run_quietly
from schemas.common import AgentStatus, Channel, Role
from schemas.inbound import TicketCreated
from worker.api import Helpdesk
from worker.logging import configure_logging

FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_sse_listeners.md"
"""Hand-written analysis of a run, appended to the generated table (edit it there, not in the doc)."""
NAME = "sse_listeners"
TITLE = "Live toasts: SSE listeners per process (issue 17)"
AGENTS = 100
CONNECT_AT_ONCE = 100
IDLE_SECONDS = 5.0
SOLO = "solo"
SINGLE_TOASTS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Listener:
    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.ready = asyncio.Event()
        self.toast_at: float | None = None
        self.arrivals: list[float] = []
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int, path: str) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        seen = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            seen = seen[-64:] + chunk
            if not self.ready.is_set() and b"event: ready" in seen:
                self.ready.set()
            toasts = chunk.count(b"event: toast")
            if toasts:
                now = time.monotonic()
                self.arrivals += [now] * toasts
                self.toast_at = self.toast_at or now

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def setup(url: str, accounts: int) -> tuple[Helpdesk, dict[tuple[str, str], str]]:
    helpdesk = Helpdesk.from_url(url)
    helpdesk.save_user(SOLO, SOLO, Role.AGENT)
    helpdesk.save_user(SOLO, "lead", Role.MANAGER)
    helpdesk.set_round_robin(SOLO, True, "lead")
    helpdesk.set_status(SOLO, SOLO, AgentStatus.ONLINE)
    tokens = {}
    for a in range(accounts):
        account = f"acct{a:02d}"
        helpdesk.save_user(account, "lead", Role.MANAGER)
        helpdesk.set_round_robin(account, True, "lead")
        for n in range(AGENTS):
            helpdesk.save_user(account, f"agent{n:03d}", Role.AGENT)
            tokens[(account, f"agent{n:03d}")] = helpdesk.agent_link(account, f"agent{n:03d}", hours=24).token
    return helpdesk, tokens


def decide_one(helpdesk: Helpdesk, ticket_id: str) -> float:
    now = datetime.now(UTC)
    ticket = TicketCreated(account_id=SOLO, ticket_id=ticket_id, channel=Channel.SMS, created_at=now, subject=None)
    called = time.monotonic()
    helpdesk.engine.decide(ticket, now)
    return called


async def single_toasts(helpdesk: Helpdesk, port: int, size: int) -> list[float]:
    """With every listener open and idle, one more user's toasts one at a time: decide → arrival, each."""
    token = helpdesk.agent_link(SOLO, SOLO, hours=1).token
    listener = Listener((SOLO, SOLO))
    task = asyncio.create_task(listener.run(port, f"/v1/accounts/{SOLO}/users/{SOLO}/toasts?token={token}"))
    await asyncio.wait_for(listener.ready.wait(), 30)
    lags = []
    for number in range(SINGLE_TOASTS):
        before = len(listener.arrivals)
        decided = await asyncio.to_thread(decide_one, helpdesk, f"S{size}-{number}")
        deadline = time.monotonic() + 10
        while len(listener.arrivals) == before and time.monotonic() < deadline:
            await asyncio.sleep(0.0005)
        if len(listener.arrivals) > before:
            lags.append(listener.arrivals[before] - decided)
        await asyncio.sleep(0.05)
    listener.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return sorted(lags)


def reader_connections(client: redis.Redis) -> int:
    return sum(1 for entry in client.client_list() if entry.get("name", "").startswith("helpdesk-rr:toasts:"))


def burst_child(url: str, users: list[tuple[str, str]], size: int, go: Any, out: Any) -> None:
    """In its own process (so the deciding never competes with the listeners' event loop for this process's GIL):
    every agent Online, "ready", then on ``go`` one ticket each (the rotation gives each agent one), reporting when
    each agent's was decided (``time.monotonic`` is the machine's one monotonic clock), then every agent Offline."""
    configure_logging(level="WARNING")  # a spawned process: the bench's own set-up does not reach it
    helpdesk = Helpdesk.from_url(url)
    for account, user in users:
        helpdesk.set_status(account, user, AgentStatus.ONLINE)
    engine = helpdesk.engine
    out.put("ready")
    go.wait()
    decided: dict[tuple[str, str], float] = {}
    for number, (account, _user) in enumerate(users):
        now = datetime.now(UTC)
        ticket = TicketCreated(
            account_id=account, ticket_id=f"N{size}-{number}", channel=Channel.EMAIL, created_at=now, subject=None
        )
        called = time.monotonic()
        decision = engine.decide(ticket, now)
        decided[(account, str(decision.agent_id))] = called
    out.put(decided)
    for account, user in users:
        helpdesk.set_status(account, user, AgentStatus.OFFLINE)


async def run_burst(
    url: str, users: list[tuple[str, str]], size: int, pid: int
) -> tuple[dict[Any, float], float, float]:
    """The burst: (when each agent's ticket was decided, when the first decision started, server CPU s before)."""
    context = multiprocessing.get_context("spawn")
    go, out = context.Event(), context.Queue()
    child = context.Process(target=burst_child, args=(url, users, size, go, out))
    child.start()
    assert await asyncio.to_thread(out.get, True, 120) == "ready"
    cpu_before, started = proc_cpu_seconds(pid), time.monotonic()
    go.set()
    decided = await asyncio.to_thread(out.get, True, 120)
    await asyncio.to_thread(child.join, 120)
    return decided, started, cpu_before


async def measure_size(
    url: str, helpdesk: Helpdesk, tokens: dict[tuple[str, str], str], port: int, pid: int, size: int
) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    users = sorted(tokens)
    rss_before = proc_rss_kib(pid)
    listeners = [Listener(users[n % len(users)]) for n in range(size)]
    tasks = []
    started = time.perf_counter()
    for first in range(0, size, CONNECT_AT_ONCE):
        batch = listeners[first : first + CONNECT_AT_ONCE]
        for listener in batch:
            account, user = listener.key
            path = f"/v1/accounts/{account}/users/{user}/toasts?token={tokens[(account, user)]}"
            tasks.append(asyncio.create_task(listener.run(port, path)))
        await asyncio.wait_for(asyncio.gather(*(listener.ready.wait() for listener in batch)), 60)
    opened = time.perf_counter() - started
    rss_held = proc_rss_kib(pid)
    cpu_before = proc_cpu_seconds(pid)
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu = proc_cpu_seconds(pid) - cpu_before
    readers = reader_connections(client)
    connections = len(client.client_list())
    single = await single_toasts(helpdesk, port, size)
    decided, burst_started, cpu_before = await run_burst(url, users, size, pid)
    deadline = time.monotonic() + 60
    while any(listener.toast_at is None for listener in listeners) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    lags = [listener.toast_at - decided[listener.key] for listener in listeners if listener.toast_at is not None]
    delivered = len(lags)
    last = max(listener.toast_at or 0.0 for listener in listeners)
    burst_cpu = proc_cpu_seconds(pid) - cpu_before
    for listener in listeners:
        listener.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stop_deadline = time.monotonic() + 10
    while reader_connections(client) and time.monotonic() < stop_deadline:
        await asyncio.sleep(0.1)
    lags.sort()
    return {
        "listeners": size,
        "open_per_second": round(size / opened, 1),
        "rss_kib_before": rss_before,
        "rss_kib_held": rss_held,
        "kib_per_listener": round((rss_held - rss_before) / size, 2),
        "idle_cpu_percent": round(100 * idle_cpu / IDLE_SECONDS, 2),
        "reader_connections": readers,
        "redis_connections_all": connections,
        "single_ms_median": round(1000 * statistics.median(single), 2) if single else None,
        "single_ms_max": round(1000 * single[-1], 2) if single else None,
        "delivered": delivered,
        "lag_ms_median": round(1000 * statistics.median(lags), 1) if lags else None,
        "lag_ms_p95": round(1000 * lags[int(0.95 * (len(lags) - 1))], 1) if lags else None,
        "lag_ms_max": round(1000 * lags[-1], 1) if lags else None,
        "burst_deliveries_per_second": round(delivered / (last - burst_started), 1) if delivered else None,
        "burst_seconds": round(last - burst_started, 2),
        "burst_server_cpu_seconds": round(burst_cpu, 2),
        "readers_stopped": reader_connections(client) == 0,
    }


def run(url: str, quick: bool) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sizes = [200, 1000] if quick else [1000, 5000, 10000]
    accounts = 10
    helpdesk, tokens = setup(url, accounts)
    port = free_port()
    env = {**os.environ, "REDIS_URL": url}
    server = run_quietly([*helpdesk_rr_command(), "serve", "--host", "127.0.0.1", "--port", str(port)], env)
    try:
        wait_until_serving(port)
        rows = [run_loop(measure_size(url, helpdesk, tokens, port, server.pid, size)) for size in sizes]
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    largest = rows[-1]
    return {
        "params": {"sizes": sizes, "accounts": accounts, "agents_per_account": AGENTS, "idle_seconds": IDLE_SECONDS},
        "rows": rows,
        "verdict": {
            "listeners_held": float(largest["listeners"]),
            "one_reader_connection_per_partition": all(row["reader_connections"] <= 16 for row in rows),
            "every_toast_delivered": all(row["delivered"] == row["listeners"] for row in rows),
            "readers_stop_with_last_listener": all(row["readers_stopped"] for row in rows),
            "one_toast_ms_median_at_largest": float(largest["single_ms_median"] or 0.0),
            "burst_lag_ms_p95_at_largest": float(largest["lag_ms_p95"] or 0.0),
        },
    }


def run_loop(work: Any) -> Any:
    """uvloop when installed (uvicorn[standard] brings it), as the server runs: the client should not be the
    slower side."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


def wait_until_serving(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("helpdesk-rr serve did not start")


def render(result: dict[str, Any]) -> str:
    rows = [
        (
            f"{row['listeners']:,}",
            f"{row['open_per_second']:,.0f}",
            f"{row['kib_per_listener']:.1f}",
            f"{row['rss_kib_held'] / 1024:,.0f}",
            f"{row['idle_cpu_percent']:.1f} %",
            f"{row['reader_connections']} / {row['redis_connections_all']}",
            f"{row['single_ms_median']} / {row['single_ms_max']}",
            f"{row['delivered']:,}",
            f"{row['lag_ms_median']} / {row['lag_ms_p95']} / {row['lag_ms_max']}",
            f"{row['burst_deliveries_per_second']:,.0f}" if row["burst_deliveries_per_second"] else "–",
            f"{row.get('burst_server_cpu_seconds', '?')} / {row.get('burst_seconds', '?')}",
        )
        for row in result["rows"]
    ]
    header = (
        "listeners",
        "opened /s",
        "KiB per listener",
        "server RSS MiB",
        "idle CPU (5 s)",
        "reader / all Redis conns",
        "one toast ms median / max",
        "burst toasts delivered",
        "lag ms median / p95 / max",
        "burst deliveries /s",
        "burst: server CPU s / wall s",
    )
    findings = FINDINGS.read_text().strip() if FINDINGS.is_file() else ""
    return markdown_table(header, rows) + ("\n\n" + findings if findings else "")


__all__ = ["NAME", "TITLE", "render", "run"]
