"""Each Lua script called directly through its typed wrapper, plus the rules every script follows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from worker.core.keys import AccountKeys
from worker.core.scripts import SCRIPT_FILES, Scripts, TicketArgs, _read, key_count

BACKENDS = ("real", "fake", "cluster")
"""These tests also run on a local Redis Cluster (tests/conftest.py)."""

NOW_ISO = "2026-11-24T15:00:00.000Z"
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class RecordingScripts(Scripts):
    """Records the KEYS of every call, so tests can check them (Redis itself is real)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self.calls: list[tuple[str, list[str]]] = []

    def _call(self, name: str, keys: list[str], args: list[Any]) -> list[Any]:
        self.calls.append((name, keys))
        return super()._call(name, keys, args)


def exercise(scripts: Scripts, account: str) -> None:
    keys = AccountKeys.for_account(account)
    scripts.set_user(keys, "boss", "owner", NOW_ISO, "e1")
    scripts.set_user(keys, "ana", "agent", NOW_ISO, "e2")
    scripts.set_round_robin(keys, "boss", "on", NOW_ISO, "e3")
    scripts.set_office_hours(keys, "boss", '{"timezone":"UTC","weekly":{},"closed_dates":[]}', NOW_ISO, "e4")
    scripts.set_status(keys, "ana", "online", "ana", NOW, "e5")
    scripts.decide_ticket(
        keys,
        TicketArgs("t1", "email", NOW_ISO, 1),
        now_iso=NOW_ISO,
        office_hours_version="",
        open_at_arrival=True,
        available_at_iso="",
        event_ids=("e6", "e7"),
        now=NOW,
        enqueued_ms=1,
    )
    scripts.trim_events(keys.partition_events, horizon_ms=1)
    scripts.set_team(keys, "billing", ["ana"], "boss", NOW_ISO, "e8")
    scripts.bulk_assign(keys, "billing", "job1", ["t1", "t2"], 0, NOW)
    scripts.bulk_finish(keys, "billing", "job1", NOW, 60)
    scripts.record_first_reply(keys, "t1", "ana", NOW, NOW)


@pytest.mark.parametrize("account", ["acme", "globex", "a.b@c+d-e_f", "9" * 128])
def test_every_script_call_touches_one_cluster_slot(client: redis.Redis, account: str) -> None:
    scripts = RecordingScripts(client)
    exercise(scripts, account)
    assert {name for name, _ in scripts.calls} == set(SCRIPT_FILES)
    for name, keys in scripts.calls:
        assert len({key_slot(key.encode()) for key in keys}) == 1, (name, keys)


@pytest.mark.parametrize("name", sorted(SCRIPT_FILES))
def test_script_header_documents_every_key_and_the_reply(name: str) -> None:
    source = _read(SCRIPT_FILES[name])
    header = source.split("]]", 1)[0]
    assert "Input:" in header and "Output:" in header
    documented = set(re.findall(r"KEYS\[(\d+)\]", header))
    assert documented == {str(n) for n in range(1, key_count(name) + 1)}


@pytest.mark.parametrize("name", ["_common.lua", *sorted(SCRIPT_FILES.values())])
def test_scripts_build_no_key_names_and_set_no_globals(name: str) -> None:
    body = _read(name).split("]]", 1)[1]
    # every redis.call's key argument is a named local from KEYS, never a literal or a concatenation
    for match in re.finditer(r"rcall\('(\w+)',\s*([^,)]+)", body):
        argument = match.group(2).strip()
        if re.fullmatch(r"'[A-Z]+'", argument) and match.group(1) in ("XINFO",):
            continue  # a subcommand (XINFO GROUPS key): the key follows it
        assert not argument.startswith(("'", '"')), match.group(0)
    assert "SCAN" not in body and "'KEYS'" not in body
    for line in body.splitlines():
        assignment = re.match(r"^([A-Za-z_]\w*)\s*=[^=]", line)
        assert assignment is None, f"global assignment in {name}: {line}"


def test_wrapper_refuses_a_wrong_number_of_keys(fake_redis: redis.Redis) -> None:
    with pytest.raises(ValueError, match="takes 4 keys"):
        Scripts(fake_redis)._call("set_round_robin", ["a"], [])


def test_scripts_reload_after_script_flush(real_redis: redis.Redis) -> None:
    scripts = Scripts(real_redis)
    exercise(scripts, "acme")
    real_redis.script_flush()
    keys = AccountKeys.for_account("acme")
    assert scripts.set_status(keys, "ana", "offline", "ana", NOW, "e9") is True
