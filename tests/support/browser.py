"""Open a page in headless Chromium (Debian's ``chromium`` package) and read back what it laid out.

The report page has no scripts; a test injects one into its own copy that writes each measured element's
box (``getBoundingClientRect``) into a ``data-box`` attribute, and ``--dump-dom`` prints the DOM after it
ran. No driver package, no DevTools connection: one ``chromium`` process per page, flags that keep it off
the (closed) network. ``.ci/run`` installs ``chromium`` when it is missing; under CI a missing browser is
a failure, locally a skip (``require_chromium``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WINDOW = (1200, 2400)

MEASURE = """<script>
(function () {
  var marked = document.querySelectorAll('svg, svg .peak, svg .spike, svg .bar');
  for (var i = 0; i < marked.length; i++) {
    var r = marked[i].getBoundingClientRect();
    marked[i].setAttribute('data-box', [r.left, r.top, r.width, r.height].join(' '));
  }
  document.body.setAttribute('data-measured', String(marked.length));
})();
</script>"""
"""Runs once the page is parsed (it is the last thing in the body) and forces a layout to measure."""


def in_ci() -> bool:
    """Under CI (``.ci/run`` sets HELPDESK_RR_VENV=.venv-ci; most CI services set CI=1 or CI=true)."""
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("HELPDESK_RR_VENV") == ".venv-ci"


def require_chromium() -> str:
    """The browser's path; a missing browser fails the test under CI and skips it elsewhere."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        message = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return binary


def chromium(binary: str, profile: Path, *args: str, timeout: float = 90) -> str:
    """Run Chromium once with the offline flags, a throwaway profile and ``args``; its stdout."""
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


@dataclass(frozen=True)
class Box:
    tag: str
    cls: str
    label: str
    left: float
    top: float
    width: float
    height: float


class _Boxes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.boxes: list[Box] = []
        self.measured: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "body":
            self.measured = found.get("data-measured")
        box = found.get("data-box")
        if box:
            left, top, width, height = (float(v) for v in box.split())
            label = found.get("aria-label") or ""
            self.boxes.append(Box(tag, found.get("class") or "", label, left, top, width, height))


def measure(binary: str, page: str, workdir: Path) -> list[Box]:
    """Lay ``page`` out in Chromium and return the boxes of its charts, their peak and spike marks and their
    histogram bars (``bar``)."""
    copy = workdir / "measured.html"
    copy.write_text(page.replace("</body>", MEASURE + "</body>", 1), encoding="utf-8")
    dom = chromium(binary, workdir / "profile", "--dump-dom", copy.as_uri())
    parser = _Boxes()
    parser.feed(dom)
    assert parser.measured is not None, "the measuring script did not run: " + dom[:500]
    assert int(parser.measured) == len(parser.boxes)
    return parser.boxes


def screenshot(binary: str, page_file: Path, png: Path, workdir: Path) -> None:
    """A PNG of the page as Chromium draws it (for a person to look at)."""
    chromium(binary, workdir / "profile-shot", f"--screenshot={png}", page_file.as_uri())
