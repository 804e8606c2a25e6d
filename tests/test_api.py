"""The control API (``worker.api.Helpdesk``): the verbs, its typed errors, and who may call below it."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from schemas.common import AgentStatus, Channel, Role, utc_iso
from schemas.office_hours import OfficeHours
from tests.support.accounts import NOW
from tests.support.cli import run
from worker.api import (
    EmptyTeam,
    Forbidden,
    Helpdesk,
    HelpdeskError,
    InvalidInput,
    Unavailable,
    UnknownTeam,
    UnknownTicket,
    UnknownUser,
)
from worker.config import Settings
from worker.core.keys import partition_of

pytestmark = pytest.mark.engine
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["real", "fake"])
def helpdesk(request: pytest.FixtureRequest) -> Helpdesk:
    client: redis.Redis = request.getfixturevalue("real_redis" if request.param == "real" else "fake_redis")
    return Helpdesk.for_client(client)


def staffed(helpdesk: Helpdesk) -> Helpdesk:
    for user, role in [("olivia", Role.OWNER), ("max", Role.MANAGER), ("ana", Role.AGENT), ("ben", Role.AGENT)]:
        helpdesk.save_user("acme", user, role, now=NOW)
    helpdesk.save_user("acme", "vic", Role.VIEWER, now=NOW)
    return helpdesk


def test_people_and_settings_round_trip_through_the_api(helpdesk: Helpdesk) -> None:
    staffed(helpdesk)
    assert helpdesk.save_user("acme", "ana", Role.AGENT, now=NOW).previous_role is Role.AGENT
    assert helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW) is True
    assert helpdesk.set_status("acme", "ana", "online", now=NOW) is False  # unchanged
    assert helpdesk.set_round_robin("acme", True, "max", now=NOW) is True
    hours = OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"], [])
    assert helpdesk.set_office_hours("acme", hours, "olivia", now=NOW) is True
    assert helpdesk.set_team("acme", "billing", ["ben", "ana", "ana"], "max", now=NOW) is True

    settings = helpdesk.settings("acme")
    assert settings.round_robin is True and settings.office_hours == hours
    views = {view.user_id: view for view in helpdesk.users("acme")}
    assert views["ana"].status is AgentStatus.ONLINE and views["ben"].status is AgentStatus.OFFLINE
    (team,) = helpdesk.teams("acme")
    assert team.members == ["ana", "ben"] and team.online == ["ana"]
    saved = helpdesk.save_user("acme", "ana", Role.VIEWER, now=NOW)
    assert saved.previous_role is Role.AGENT and saved.went_offline is True


def test_a_ticket_goes_in_and_is_decided_by_drain(helpdesk: Helpdesk) -> None:
    staffed(helpdesk)
    helpdesk.set_round_robin("acme", True, "max", now=NOW)
    helpdesk.set_status("acme", "ben", AgentStatus.ONLINE, now=NOW)
    fields = {"account_id": "acme", "ticket_id": "T1", "channel": "sms", "created_at": utc_iso(NOW)}
    job = helpdesk.submit_ticket(fields, now=NOW)
    assert job.id
    assert helpdesk.drain() is True
    types = [(event.type, getattr(event, "agent_id", None)) for _id, event in helpdesk.events("acme")]
    assert ("ticket.assigned", "ben") in types
    assert helpdesk.unassigned("acme") == []
    helpdesk.set_status("acme", "ben", AgentStatus.OFFLINE, now=NOW)
    helpdesk.submit_ticket({**fields, "ticket_id": "T2", "channel": Channel.EMAIL.value}, now=NOW)
    helpdesk.drain()
    assert [row.ticket_id for row in helpdesk.unassigned("acme")] == ["T2"]


def test_refusals_are_typed_and_change_nothing(helpdesk: Helpdesk) -> None:
    staffed(helpdesk)
    before = helpdesk.users("acme")
    with pytest.raises(Forbidden, match="only owner, admin or manager"):
        helpdesk.set_round_robin("acme", True, "ana", now=NOW)
    with pytest.raises(Forbidden):
        helpdesk.set_status("acme", "vic", AgentStatus.ONLINE, now=NOW)
    with pytest.raises(UnknownUser, match="ghost"):
        helpdesk.set_status("acme", "ghost", AgentStatus.ONLINE, now=NOW)
    with pytest.raises(InvalidInput, match="account"):
        helpdesk.users("ac{me}")
    with pytest.raises(InvalidInput, match="channel"):
        helpdesk.submit_ticket({"account_id": "acme", "ticket_id": "T1", "channel": "fax", "created_at": NOW})
    with pytest.raises(UnknownTicket, match="unknown ticket T9 in acme"):
        helpdesk.report_first_reply("acme", "T9", "ana", at=NOW, now=NOW)
    with pytest.raises(UnknownTeam):
        helpdesk.bulk_assign("acme", "nobody", "max", ["T1"])
    with pytest.raises(InvalidInput, match="exactly one"):
        helpdesk.bulk_assign("acme", "billing", "max")
    with pytest.raises(InvalidInput, match="--from"):
        helpdesk.report("acme", "2026-13-01")
    assert helpdesk.users("acme") == before
    assert helpdesk.settings("acme").round_robin is False


def test_a_team_without_members_cannot_be_bulk_assigned(helpdesk: Helpdesk) -> None:
    staffed(helpdesk)
    with pytest.raises(InvalidInput, match="at least one member"):
        helpdesk.set_team("acme", "billing", [], "max", now=NOW)
    helpdesk.set_team("acme", "billing", ["ana"], "max", now=NOW)
    helpdesk.state.delete(helpdesk.engine.keys("acme").team("billing"))
    with pytest.raises(EmptyTeam):
        helpdesk.bulk_assign("acme", "billing", "max", unassigned=True)


def test_first_reply_is_checked_before_it_is_enqueued(helpdesk: Helpdesk) -> None:
    staffed(helpdesk)
    helpdesk.set_round_robin("acme", True, "max", now=NOW)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    created = NOW - timedelta(minutes=10)
    fields = {"account_id": "acme", "ticket_id": "T1", "channel": "email", "created_at": created}
    helpdesk.submit_ticket(fields, now=NOW)
    helpdesk.drain()
    with pytest.raises(InvalidInput, match="before the ticket was created"):
        helpdesk.report_first_reply("acme", "T1", "ana", at=created - timedelta(minutes=1), now=NOW)
    with pytest.raises(UnknownUser):
        helpdesk.report_first_reply("acme", "T1", "ghost", at=NOW, now=NOW)
    assert helpdesk.report_first_reply("acme", "T1", "ana", at=NOW, now=NOW).id


def test_api_errors_carry_the_lines_the_cli_prints(real_redis: redis.Redis, redis_url: str) -> None:
    helpdesk = staffed(Helpdesk.from_url(redis_url))
    with pytest.raises(HelpdeskError) as refused:
        helpdesk.set_round_robin("acme", True, "ana")
    result = run(redis_url, "round-robin", "acme", "on", "--actor", "ana")
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == f"error: {refused.value}"


def test_unreachable_redis_is_unavailable_with_the_url() -> None:
    helpdesk = Helpdesk.from_url("redis://127.0.0.1:9/0", Settings(redis_url="redis://127.0.0.1:9/0", redis_retries=0))
    with pytest.raises(Unavailable, match="^cannot reach Redis at redis://127.0.0.1:9/0: "):
        helpdesk.users("acme")


def test_building_one_reads_the_environment_once_and_touches_no_redis() -> None:
    helpdesk = Helpdesk.from_env(environ={"REDIS_URL": "redis://127.0.0.1:9/0", "HELPDESK_RR_PARTITIONS": "64"})
    assert helpdesk._topology is None and helpdesk._state is None  # nothing resolved or connected yet
    assert helpdesk.config.partitions == 64
    assert helpdesk.config.redis_url == "redis://127.0.0.1:9/0"
    with pytest.raises(InvalidInput, match="HELPDESK_RR_PARTITIONS must be between 1 and 1024"):
        Helpdesk.from_env(environ={"HELPDESK_RR_PARTITIONS": "0"})
    with pytest.raises(InvalidInput, match="HELPDESK_RR_RECORD_TTL_SECONDS must be an integer"):
        Helpdesk.from_env(environ={"HELPDESK_RR_RECORD_TTL_SECONDS": "soon"})


def test_the_partition_setting_reaches_the_keys(fake_redis: redis.Redis) -> None:
    helpdesk = Helpdesk.for_client(fake_redis, Settings(partitions=64))
    helpdesk.save_user("acme", "ana", Role.AGENT, now=NOW)
    tag = f"{{rr:p{partition_of('acme', 64):02d}}}"
    assert fake_redis.exists(f"{tag}:a:acme:users")


def _imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_the_cli_reaches_helpdesk_state_only_through_the_api() -> None:
    """Below the API are the engine, the queries, the scripts and the key names: the CLI never imports
    them. Its ops commands (workers, metrics, the embedded server) manage processes, not state."""
    below = ("worker.core", "worker.jobs")
    process_tools = ("worker.runtime", "worker.ops")
    for path in sorted((ROOT / "worker" / "cli").glob("*.py")):
        for module in _imports(path):
            assert not module.startswith(below), f"{path.name} imports {module}: call worker.api instead"
            if path.name != "ops.py":
                assert not module.startswith(process_tools), f"{path.name} imports {module}"


def test_an_unreachable_cluster_is_unavailable_not_a_traceback() -> None:
    helpdesk = Helpdesk.from_env(
        environ={"REDIS_STATE_URL": "redis+cluster://:pw@127.0.0.1:9", "REDIS_QUEUE_URLS": "redis://127.0.0.1:9/0"}
    )
    with pytest.raises(Unavailable, match=r"^cannot reach Redis at redis\+cluster://\*\*\*@127.0.0.1:9: "):
        helpdesk.teams("acme")


def test_bulk_assign_finds_the_actor_with_a_non_default_partition_count(fake_redis: redis.Redis) -> None:
    helpdesk = staffed(Helpdesk.for_client(fake_redis, Settings(partitions=64)))
    helpdesk.set_team("acme", "billing", ["ana"], "max", now=NOW)
    helpdesk.submit_ticket({"account_id": "acme", "ticket_id": "T1", "channel": "email", "created_at": NOW}, now=NOW)
    helpdesk.drain()
    assert helpdesk.bulk_assign("acme", "billing", "max", ["T1"]).id
