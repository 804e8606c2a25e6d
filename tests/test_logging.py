"""One structured log line per decision, JSON off a terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
import structlog

from tests.support.accounts import NOW, TicketFactory, setup_account
from worker.core.engine import Engine
from worker.logging import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging binds the (captured) stderr: put structlog back for later tests."""
    yield
    structlog.reset_defaults()


def test_each_decision_logs_one_json_line_with_account_ticket_agent_and_reason(
    fake_redis: redis.Redis, make_ticket: TicketFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json=True)
    engine = Engine(fake_redis)
    setup_account(engine, online=("ana",))
    capsys.readouterr()
    ticket = make_ticket()
    engine.decide(ticket, NOW)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "ticket.decided" and line["level"] == "info"
    assert (line["account_id"], line["ticket_id"], line["agent_id"], line["reason"]) == (
        "acme",
        ticket.ticket_id,
        "ana",
        "round_robin",
    )


def test_console_format_is_readable_key_value(
    fake_redis: redis.Redis, make_ticket: TicketFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json=False)
    engine = Engine(fake_redis)
    setup_account(engine)
    capsys.readouterr()
    engine.decide(make_ticket(), NOW)
    err = capsys.readouterr().err
    assert "ticket.decided" in err and "reason=no_agent_online" in err and not err.lstrip().startswith("{")


def test_a_warning_level_keeps_warnings_and_drops_info_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """What CLI commands get without --verbose (worker/cli/base.py): their info lines are not written."""
    configure_logging(json=True, level="WARNING")
    log = structlog.get_logger("test")
    log.info("user.saved", account_id="acme")
    log.warning("consumer.redis_unavailable", group="ops")
    assert [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()] == [
        "consumer.redis_unavailable"
    ]
