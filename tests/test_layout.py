"""The test tree's layout: shared helpers live in tests/support/, and no test imports another test or conftest.

A test module that imports another one runs that module's collection side effects (its fixtures, its
``BACKENDS``) in the wrong place and ties two files together that should change independently; a helper
two test modules need belongs in a support module named for what it holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODULES = sorted([*TESTS.glob("*.py"), *(TESTS / "support").glob("*.py")])


def imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports, absolute or relative (``from . import x`` names ``tests.x``)."""
    package = "tests.support" if path.parent.name == "support" else "tests"
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def imported_test_modules(path: Path) -> list[str]:
    """The test modules (``tests.test_*``) and ``tests.conftest`` that ``path`` imports, or imports from."""
    found: set[str] = set()
    for name in imported_modules(path):
        parts = name.split(".")
        if len(parts) >= 2 and parts[0] == "tests" and (parts[1] == "conftest" or parts[1].startswith("test_")):
            found.add(".".join(parts[:2]))
    return sorted(found)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(TESTS)))
def test_no_module_under_tests_imports_a_test_module_or_conftest(path: Path) -> None:
    offending = imported_test_modules(path)
    assert offending == [], f"{path.relative_to(TESTS)} imports {offending}: move the helper to tests/support/"


def test_the_check_catches_every_form_of_import(tmp_path: Path) -> None:
    module = tmp_path / "test_example.py"
    module.write_text(
        "import tests.test_cli\n"
        "from tests.conftest import NOW\n"
        "from tests import test_engine\n"
        "from . import conftest\n"
        "from .test_scripts import exercise\n"
        "from tests.support.cli import ok\n"
    )
    assert imported_test_modules(module) == [
        "tests.conftest",
        "tests.test_cli",
        "tests.test_engine",
        "tests.test_scripts",
    ]
