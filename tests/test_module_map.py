"""The house stays readable: every module is on docs/DESIGN.md's map, and none grows past its limits.

Limits (issue 12): a module ≤ 400 lines, a function ≤ 60 lines; complexity ≤ 13 is ruff's C90 in
``./dev lint``. They hold for the shipped packages; tests and benchmarks are exempt (a test module
groups one concern's behaviours, and a long scenario reads best in one piece).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "producers", "worker")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def shipped_modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def mapped_paths() -> set[str]:
    design = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    section = design.split("## Module map", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([\w/]+\.py)`", section))


def test_every_module_is_on_the_design_map() -> None:
    listed = mapped_paths()
    missing = [
        str(path.relative_to(ROOT))
        for path in shipped_modules()
        if path.name not in ("__init__.py", "__main__.py") and str(path.relative_to(ROOT)) not in listed
    ]
    assert not missing, f"add these to docs/DESIGN.md's module map: {missing}"


def test_the_map_names_no_module_that_is_gone() -> None:
    gone = sorted(path for path in mapped_paths() if not (ROOT / path).exists())
    assert not gone, f"docs/DESIGN.md's module map names modules that do not exist: {gone}"


@pytest.mark.parametrize("path", shipped_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: split it by what its parts do"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: break up {long}"


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A guard that cannot fail guards nothing: a long function and an unlisted module are caught."""
    body = "\n".join(f"    x{n} = {n}" for n in range(MAX_FUNCTION_LINES + 1))
    source = f"def long():\n{body}\n"
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef) and node.end_lineno is not None
    assert node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    assert "worker/not_a_module.py" not in mapped_paths()
