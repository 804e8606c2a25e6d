"""Drive headless Chromium over the Chrome DevTools Protocol: open a page, run JavaScript in it, click.

Debian's ``chromium`` with ``--remote-debugging-port=0`` writes the port it chose to ``DevToolsActivePort`` in its
profile; one page target is opened over ``/json/new`` and driven through its websocket with the ``websockets``
package's synchronous client (it comes with ``uvicorn[standard]``; the test extras name it). No driver download,
no playwright or selenium: three CDP methods (``Page.navigate``, ``Runtime.evaluate``, ``Page.captureScreenshot``).
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.browser import CHROMIUM_FLAGS


class Page:
    """One tab: commands go out with increasing ids; events in between are skipped."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        self._socket.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=30))
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'", 15, "page load")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        assert self.evaluate(
            f"(function () {{ var e = document.querySelector({json.dumps(selector)}); "
            "if (!e) return false; e.click(); return true; })()"
        ), f"nothing to click at {selector}"

    def wait_for(self, expression: str, timeout: float, what: str) -> float:
        """Poll ``expression`` in the page until it is truthy; the seconds it took."""
        return poll(lambda: bool(self.evaluate(expression)), timeout, what)

    def screenshot(self, png: Path) -> None:
        png.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))


def poll(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - started


@contextmanager
def browser_page(binary: str, profile: Path, window: tuple[int, int] = (1000, 760)) -> Iterator[Page]:
    """A headless Chromium (its own throwaway profile) and one blank tab on it; both gone after the block."""
    command = [
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        "about:blank",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        poll(lambda: port_file.exists() and bool(port_file.read_text().strip()), 30, "chromium's DevTools port")
        port = int(port_file.read_text().split()[0])
        request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as answer:
            target = json.load(answer)
        with connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=10) as socket:
            page = Page(socket)
            page.send("Page.enable")
            page.send("Runtime.enable")
            yield page
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
