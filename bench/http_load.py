"""The HTTP benches' load generator: raw HTTP/1.1 over asyncio streams (uvloop), requests built and signed
before the clock starts, so the client spends its time writing bytes and reading answers only.

- **closed loop** (throughput): ``clients`` processes (spawned), each with ``connections`` keep-alive
  connections spread over the servers' ports; every connection sends its next request as soon as the
  answer to the last one is read. All processes start together on a wall-clock time the parent gives them
  after each has built its requests, warm up, then count the answers that arrive inside the measured window.
- **open loop** (latency): one sender on a fixed schedule (``rate`` requests/s), each request on an idle
  connection (a new one when none is idle), so a slow answer never delays the next request: queueing shows.
- **bare responder**: an asyncio server (uvloop) that reads a request and answers a fixed 202, the client's
  ceiling: what the same client processes reach when the server costs almost nothing.

Answers are parsed just enough: the status line and ``content-length``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode

from bench.http_stack import ACCOUNT, PUBLIC_URL, TRIVIAL_PATH, TWILIO_TOKEN, WEBCHAT_SECRET
from producers.webhooks.common import derived_ticket_id
from producers.webhooks.twilio_sms import twilio_signature
from producers.webhooks.webchat import webchat_signature

WORKLOADS = ("trivial", "webchat", "twilio")


def webchat_path(account: str = ACCOUNT) -> str:
    return f"/v1/webhooks/{account}/webchat"


def twilio_path(account: str = ACCOUNT) -> str:
    return f"/v1/webhooks/{account}/twilio"


def _raw(path: str, content_type: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def webchat_request(conversation: str, path: str, now: float) -> tuple[bytes, str]:
    """A signed webchat delivery (docs/WEBHOOKS.md) to ``path``, and the ticket id it derives to."""
    body = json.dumps(
        {
            "conversation_id": conversation,
            "visitor_id": f"v-{conversation}",
            "visitor_name": "Bench Visitor",
            "first_message": "Hello, my order has not arrived yet. Can you help?",
        }
    ).encode()
    timestamp = str(int(now))
    signature = webchat_signature(WEBCHAT_SECRET, timestamp, body)
    headers = {"X-Helpdesk-Timestamp": timestamp, "X-Helpdesk-Signature": signature}
    return _raw(path, "application/json", body, headers), derived_ticket_id("webchat", conversation)


def twilio_request(sid: str, path: str) -> tuple[bytes, str]:
    """A signed Twilio SMS delivery to ``path`` (signed for ``PUBLIC_URL`` + the webhook's path)."""
    params = {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15551230001",
        "To": "+15559870002",
        "Body": "Hello, my order has not arrived yet. Can you help?",
        "NumMedia": "0",
    }
    signature = twilio_signature(TWILIO_TOKEN, PUBLIC_URL + twilio_path(), params)
    body = urlencode(params).encode()
    raw = _raw(path, "application/x-www-form-urlencoded", body, {"X-Twilio-Signature": signature})
    return raw, derived_ticket_id("twilio", sid)


def build_requests(workload: str, count: int, prefix: str) -> list[tuple[bytes, str]]:
    """``count`` distinct requests of ``workload`` (each a new conversation or message: no retries), with the
    ticket id each derives to. ``trivial`` sends the webchat request's exact bytes to the trivial route."""
    now = time.time()
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    if workload == "twilio":
        return [twilio_request(f"SM{tag}{i:09d}", twilio_path()) for i in range(count)]
    path = TRIVIAL_PATH if workload == "trivial" else webchat_path()
    if workload not in ("trivial", "webchat"):
        raise ValueError(f"unknown workload {workload!r}")
    return [webchat_request(f"c-{tag}-{i:09d}", path, now) for i in range(count)]


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one answer; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at < 0:
        raise RuntimeError("an answer without content-length (the bench reads only those)")
    end = lower.find(b"\r\n", at)
    length = int(lower[at + 15 : end])
    if length:
        await reader.readexactly(length)
    return status


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# --------------------------------------------------------------------------------------------
# Closed loop (throughput)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosedLoop:
    ports: list[int]
    workload: str
    connections: int
    warmup_s: float
    duration_s: float
    requests: int
    """Requests each client process builds (it stops, and says so, if it runs out)."""


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1], 3), "n": len(ordered)}


async def _closed(spec: ClosedLoop, requests: list[bytes], start_at: float) -> dict[str, Any]:
    streams = []
    for i in range(spec.connections):
        streams.append(await asyncio.open_connection("127.0.0.1", spec.ports[i % len(spec.ports)]))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    window_start = time.time() + spec.warmup_s
    window_end = window_start + spec.duration_s
    cursor = iter(range(len(requests)))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    exhausted = False

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal exhausted
        while True:
            index = next(cursor, None)
            if index is None:
                exhausted = True
                return
            sent = time.time()
            if sent >= window_end:
                return
            writer.write(requests[index])
            status = await read_response(reader)
            done = time.time()
            if sent >= window_start and done <= window_end:
                latencies.append((done - sent) * 1000)
                statuses[status] += 1

    cpu = time.process_time()
    await asyncio.gather(*(run(r, w) for r, w in streams))
    cpu = time.process_time() - cpu
    sent_total = next(cursor, len(requests))
    for _, writer in streams:
        writer.close()
    return {
        "answered": len(latencies),
        "statuses": dict(statuses),
        "latencies_ms": latencies,
        "cpu_s": cpu,
        "sent_total": sent_total,
        "exhausted": exhausted,
    }


def _closed_child(spec: ClosedLoop, pipe: Connection, prefix: str) -> None:
    _use_uvloop()
    requests = [raw for raw, _ in build_requests(spec.workload, spec.requests, prefix)]
    pipe.send("ready")
    start_at = pipe.recv()
    pipe.send(asyncio.run(_closed(spec, requests, start_at)))
    pipe.close()


def closed_loop(
    spec: ClosedLoop, clients: int, probe: Callable[[], dict[str, float]] | None = None
) -> dict[str, Any]:
    """Run ``clients`` client processes against ``spec.ports``; answers/s inside the window (all processes
    summed), latency percentiles, statuses, and the clients' CPU seconds per answer. ``probe`` (e.g. the
    servers' CPU seconds) is read by this process at the window's start and end: ``probed`` is the change."""
    context = multiprocessing.get_context("spawn")
    children = []
    for i in range(clients):
        parent, child = context.Pipe()
        process = context.Process(target=_closed_child, args=(spec, child, f"p{i}"), daemon=True)
        process.start()
        children.append((process, parent))
    try:
        for _, pipe in children:
            if not pipe.poll(120) or pipe.recv() != "ready":
                raise RuntimeError("a client process did not get ready")
        start_at = time.time() + 0.3
        for _, pipe in children:
            pipe.send(start_at)
        probed: dict[str, float] = {}
        if probe is not None:
            time.sleep(max(0.0, start_at + spec.warmup_s - time.time()))
            before = probe()
            time.sleep(max(0.0, start_at + spec.warmup_s + spec.duration_s - time.time()))
            probed = {key: value - before[key] for key, value in probe().items()}
        timeout = 0.3 + spec.warmup_s + spec.duration_s + 60
        results = []
        for _, pipe in children:
            if not pipe.poll(timeout):
                raise RuntimeError("a client process did not finish")
            results.append(pipe.recv())
    finally:
        for process, _ in children:
            process.join(10)
            if process.is_alive():
                process.kill()
    latencies = [x for r in results for x in r["latencies_ms"]]
    statuses: Counter[int] = Counter()
    for r in results:
        statuses.update({int(k): v for k, v in r["statuses"].items()})
    answered = sum(r["answered"] for r in results)
    sent_total = sum(r["sent_total"] for r in results)
    return {
        "workload": spec.workload,
        "rate": round(answered / spec.duration_s, 1),
        "answered": answered,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": percentiles(latencies),
        "client_cpu_ms_per_request": round(sum(r["cpu_s"] for r in results) * 1000 / max(1, sent_total), 4),
        "exhausted": any(r["exhausted"] for r in results),
        "probed": probed,
    }


# --------------------------------------------------------------------------------------------
# The bare responder (the client's ceiling)
# --------------------------------------------------------------------------------------------

BARE_ANSWER = b'HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{"accepted":100}'


async def _bare_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lower = head.lower()
            at = lower.find(b"content-length:")
            if at >= 0:
                await reader.readexactly(int(lower[at + 15 : lower.find(b"\r\n", at)]))
            writer.write(BARE_ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _bare_child(pipe: Connection) -> None:
    _use_uvloop()

    async def main() -> None:
        server = await asyncio.start_server(_bare_connection, "127.0.0.1", 0, backlog=2048)
        pipe.send(server.sockets[0].getsockname()[1])  # any free port, bound: no race for it
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextlib.contextmanager
def bare_responders(count: int) -> Any:
    """``count`` bare responder processes, each on its own port; yields the ports; stopped on exit."""
    context = multiprocessing.get_context("spawn")
    processes, ports = [], []
    try:
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=_bare_child, args=(child,), daemon=True)
            process.start()
            processes.append(process)
            if not parent.poll(30):
                raise RuntimeError("a bare responder did not start")
            ports.append(int(parent.recv()))
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.join(10)


# --------------------------------------------------------------------------------------------
# Open loop (latency)
# --------------------------------------------------------------------------------------------


@dataclass
class Sent:
    ticket_id: str
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0


KEEP_IDLE_S = 2.0
"""An idle connection older than this is closed, not reused: uvicorn closes keep-alive connections idle for 5 s."""


async def _open(ports: Sequence[int], requests: list[tuple[bytes, str]], rate: float, preopen: int) -> dict[str, Any]:
    Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
    idle: list[tuple[float, Stream]] = []
    for i in range(preopen):
        idle.append((time.monotonic(), await asyncio.open_connection("127.0.0.1", ports[i % len(ports)])))
    opened = len(idle)
    records = [Sent(ticket) for _, ticket in requests]

    async def one(index: int, raw: bytes) -> None:
        nonlocal opened
        stream: Stream | None = None
        while idle and stream is None:
            since, candidate = idle.pop()
            if time.monotonic() - since < KEEP_IDLE_S:
                stream = candidate
            else:
                candidate[1].close()
        if stream is None:
            opened += 1
            stream = await asyncio.open_connection("127.0.0.1", ports[index % len(ports)])
        reader, writer = stream
        record = records[index]
        record.sent = time.time()
        writer.write(raw)
        record.status = await read_response(reader)
        record.answered = time.time()
        idle.append((time.monotonic(), stream))

    loop = asyncio.get_running_loop()
    lag = 0.0
    tasks = []
    t0 = loop.time() + 0.05
    for index, (raw, _) in enumerate(requests):
        delay = t0 + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag = max(lag, -delay)
        tasks.append(asyncio.create_task(one(index, raw)))
    offered_s = loop.time() - t0
    await asyncio.gather(*tasks)
    for _, (_, writer) in idle:
        writer.close()
    return {"records": records, "max_lag_ms": lag * 1000, "offered_s": offered_s, "connections": opened}


def open_loop(ports: Sequence[int], requests: list[tuple[bytes, str]], rate: float, preopen: int = 8) -> dict[str, Any]:
    """Send ``requests`` at ``rate``/s on a fixed schedule (this process, uvloop); each request's send and
    answer wall-clock times and status, the scheduler's worst lag, and how many connections it needed."""
    _use_uvloop()
    return asyncio.run(_open(ports, requests, rate, preopen))


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
