"""Time zones are checked against the tzdata package's zone list, and a zone a worker cannot load costs no ticket.

A host with a system zone database loads names that are not IANA zones (``posixrules``,
``localtime``, the ``right/`` leap-second zones); a worker with only ``tzdata`` could not, and used to
fail the ticket four times, filing it with a pydantic URL as its reason.
"""

from __future__ import annotations

import json

import pytest
import redis
from pydantic import ValidationError
from structlog.testing import capture_logs

from schemas.common import Channel
from schemas.office_hours import OfficeHours
from schemas.timezones import load_zone, tzdata_zones
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.cli import ok, refused
from worker.core.engine import Engine
from worker.ops.metrics import HelpdeskCollector

HOST_ONLY_ZONES = ("right/UTC", "posixrules", "localtime")
"""Names the host's zone database may load, which the tzdata package does not ship."""


@pytest.mark.parametrize("zone", HOST_ONLY_ZONES)
def test_a_zone_outside_tzdata_is_refused_in_one_line_naming_it(zone: str) -> None:
    with pytest.raises(ValidationError) as exc_info:
        OfficeHours.from_specs(zone, ["mon-fri 09:00-17:00"])
    (error,) = exc_info.value.errors()
    assert error["loc"] == ("timezone",)
    assert zone in error["msg"] and "\n" not in error["msg"]


def test_the_zones_accepted_are_exactly_those_of_the_tzdata_package() -> None:
    zones = tzdata_zones()
    assert {"Europe/Berlin", "America/New_York", "UTC", "Etc/UTC"} <= zones
    assert not zones & set(HOST_ONLY_ZONES)
    assert str(load_zone("Europe/Berlin")) == "Europe/Berlin"


@pytest.mark.parametrize("zone", ("right/UTC", "posixrules"))
def test_the_cli_refuses_a_host_only_zone_with_one_line(real_redis: redis.Redis, redis_url: str, zone: str) -> None:
    ok(redis_url, "user", "acme", "olivia", "--role", "owner")
    line = refused(
        redis_url, "office-hours", "acme", "--timezone", zone, "--hours", "mon 09:00-17:00", "--actor", "olivia"
    )
    assert line.startswith("error: ") and zone in line and len(line.splitlines()) == 1
    assert "pydantic" not in line


def store_office_hours_json(client: redis.Redis, engine: Engine, document: dict[str, object]) -> None:
    """Office hours as some other process stored them (version bumped, active), bypassing our validation."""
    client.hset(
        engine.keys("acme").settings,
        mapping={"office_hours": json.dumps(document), "oh_active": "1", "office_hours_version": "7"},
    )


@pytest.mark.parametrize("zone", ("right/UTC", "Mars/Olympus_Mons"))
def test_stored_office_hours_this_worker_cannot_load_still_decide_the_webchat_ticket(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory, zone: str
) -> None:
    setup_account(engine, online=("ana",))
    store_office_hours_json(client, engine, {"timezone": zone, "weekly": {"mon": ["09:00-17:00"]}})
    with capture_logs() as logs:
        decision = engine.decide(make_ticket(channel=Channel.WEBCHAT), NOW)
        again = engine.decide(make_ticket(channel=Channel.WEBCHAT), NOW)
    assert (decision.outcome, decision.agent_id) == ("assigned", "ana")  # as if there were no office hours
    assert again.outcome == "assigned"
    unloadable = [entry for entry in logs if entry["event"] == "office_hours.unloadable"]
    assert len(unloadable) == 1  # once per load, not per ticket
    assert unloadable[0]["account_id"] == "acme" and zone in unloadable[0]["error"]
    assert "pydantic" not in unloadable[0]["error"]
    assert engine.decide(make_ticket(channel=Channel.EMAIL), NOW).outcome == "assigned"
    snapshot = HelpdeskCollector(client).read()
    assert snapshot.office_hours_unloadable == 2  # the two webchat tickets; email never reads office hours


def test_loadable_office_hours_are_not_counted_as_unloadable(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    store_office_hours_json(client, engine, {"timezone": "UTC", "weekly": {"mon": ["09:00-17:00"]}})
    assert engine.decide(make_ticket(channel=Channel.WEBCHAT), NOW).reason == "after_hours"  # a Tuesday, 15:00
    assert HelpdeskCollector(client).read().office_hours_unloadable == 0
