"""A Server-Sent Events reader for tests: one streaming request in a thread, frames parsed as a browser parses
them, and waits on what arrived. Closing it drops the connection mid-stream, as a closed tab does."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Frame:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseReader:
    base_url: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    frames: list[Frame] = field(default_factory=list)
    comments: int = 0
    ended: bool = False
    _opened: threading.Event = field(default_factory=threading.Event)
    head: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> SseReader:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "the stream did not open"
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _read(self) -> None:
        """A plain socket (so closing it from the test drops the connection at once, and a quiet stream is
        polled, not timed out): the request, the status line, then the chunked body parsed as it comes."""
        url = httpx.URL(self.base_url).join(self.path).copy_merge_params(self.params)
        try:
            with socket.create_connection((url.host, url.port or 80), timeout=10) as sock:
                head = [f"GET {url.raw_path.decode()} HTTP/1.1", f"Host: {url.host}", "Accept: text/event-stream"]
                head += [f"{name}: {value}" for name, value in self.headers.items()]
                sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                sock.settimeout(0.1)
                self._body(sock)
        except OSError:
            pass
        finally:
            self.ended = True
            self._opened.set()

    def _recv(self, sock: socket.socket) -> bytes | None:
        """Some bytes; b"" when there were none yet; None when the server closed or the test stops."""
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            return data or None
        return None

    def _body(self, sock: socket.socket) -> None:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            data = self._recv(sock)
            if data is None:
                return
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])
        self.head = head.decode("latin-1")
        self._opened.set()
        text = b""
        while True:
            while b"\r\n" in buffer:
                size_line, rest = buffer.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    self._parse(text)
                    return
                if len(rest) < size + 2:
                    break
                text += rest[:size]
                buffer = rest[size + 2 :]
            text = self._parse(text)
            data = self._recv(sock)
            if data is None:
                return
            buffer += data

    def _parse(self, text: bytes) -> bytes:
        """Take every complete frame (up to a blank line) out of ``text``; the rest waits for more bytes."""
        while b"\n\n" in text:
            block, text = text.split(b"\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.comments += 1
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            if "data" in fields:
                self.frames.append(Frame(fields.get("event", "message"), fields["data"], fields.get("id")))
        return text

    def toasts(self) -> list[Frame]:
        return [frame for frame in self.frames if frame.event == "toast"]

    def wait_toasts(self, count: int, timeout: float = 10.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while len(self.toasts()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.toasts())} toasts of {count} within {timeout} s: {self.frames}")
            if self.ended:
                raise AssertionError(f"the stream ended after {len(self.toasts())} toasts of {count}")
            time.sleep(0.01)
        return self.toasts()

    def wait_ready(self, timeout: float = 10.0) -> Frame:
        deadline = time.monotonic() + timeout
        while not any(frame.event == "ready" for frame in self.frames):
            if time.monotonic() > deadline or self.ended:
                raise AssertionError(f"no ready event (status {self.status}): {self.frames}")
            time.sleep(0.01)
        return next(frame for frame in self.frames if frame.event == "ready")
