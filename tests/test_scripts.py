"""Each Lua script called directly through its typed wrapper, plus the rules every script follows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import redis
from redis.crc import key_slot

from tests.support.recording import RecordingScripts, exercise
from worker.core.keys import AccountKeys
from worker.core.script_sources import SCRIPT_FILES, _read, key_count
from worker.core.scripts import Scripts

BACKENDS = ("real", "fake", "cluster")
"""These tests also run on a local Redis Cluster (tests/conftest.py)."""

NOW_ISO = "2026-11-24T15:00:00.000Z"
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


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
    with pytest.raises(ValueError, match="takes 9 keys"):
        Scripts(fake_redis)._call("set_round_robin", ["a"], [])


def test_scripts_reload_after_script_flush(real_redis: redis.Redis) -> None:
    scripts = Scripts(real_redis)
    exercise(scripts, "acme")
    real_redis.script_flush()
    keys = AccountKeys.for_account("acme")
    assert scripts.set_status(keys, "ana", "offline", "ana", NOW, "e9") == (True, False)
