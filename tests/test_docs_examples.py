"""The code examples in the docs run as written, against the test Redis, so they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis

DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_blocks(document: str) -> list[str]:
    """The ```python blocks of a doc that are whole programs (a lone import line is a signpost)."""
    text = (DOCS / document).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    return [block for block in blocks if len(block.strip().splitlines()) > 1]


def test_the_api_example_runs_as_written(
    real_redis: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    (example,) = python_blocks("API.md")
    exec(compile(example, "docs/API.md", "exec"), {"__name__": "docs_example"})
    printed = capsys.readouterr().out
    assert "refused: ana is an agent; only owner, admin or manager may turn round robin on or off" in printed
    assert "ana online 1" in printed
    assert real_redis.exists(*real_redis.keys("*:a:acme:users"))


def test_a_broken_example_fails(monkeypatch: pytest.MonkeyPatch, redis_url: str, real_redis: redis.Redis) -> None:
    """The runner really runs the block: an example calling a method that does not exist fails."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    broken = "from worker.api import Helpdesk\nHelpdesk.from_env().no_such_verb('acme')\n"
    with pytest.raises(AttributeError):
        exec(compile(broken, "broken example", "exec"), {"__name__": "docs_example"})
