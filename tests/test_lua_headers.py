"""Every Lua header documents exactly the KEYS its Python wrapper passes: same keys, same order, same shape.

Key names are built only in worker/core/keys.py; a header's ``Input:`` block is what a reader of the
script trusts. Here every wrapper in worker/core/scripts.py is called for real (on real Redis and on
fakeredis) with distinctive ids, the KEYS of each call are recorded, turned back into patterns by
putting the placeholders in place of the ids (``{rr:p07}:a:acme:t:T-1`` → ``{rr:pNN}:a:<acct>:t:<ticket>``)
and compared, position by position, with the patterns the header documents. A variadic script
(``bulk_assign-28+``) documents its fixed keys and then its repeated tail as ``KEYS[29...]``; every
key past the fixed ones must have the tail's shape. (The bulk job's pipelined calls take their KEYS
from ``Scripts.bulk_assign_call``, the same function the recorded ``bulk_assign`` wrapper uses.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis

from tests.support.recording import RecordingScripts, exercise
from worker.core.keys import PREFIX, AccountKeys, partition_tag
from worker.core.script_sources import SCRIPT_FILES, _read, key_count, takes_more_keys
from worker.core.scripts import Scripts

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
NOW_ISO = "2026-11-24T15:00:00.000Z"
TICKETS = ("T-1", "T-2")
LATE = ("T-3", "T-4")
TEAM = "team-x"
JOB = "job-x"
USERS = ("boss", "ana")
ACCOUNTS = ("acme", "a.b@c+d-e_f")
TAG_PLACEHOLDER = f"{{{PREFIX}:pNN}}"

ANY_KEY_OF_THE_PARTITION = f"{TAG_PLACEHOLDER}:<any>"
"""A tail of any keys of the account's partition (``decide_batch`` takes each distinct key of its tickets once)."""
KEY_LINE = re.compile(r"^\s*KEYS\[(?P<n>\d+)(?P<tail>\.\.\.)?\]\s+(?P<name>\w+)\s+(?P<pattern>\S+)(?:\s+.*)?$")
"""``KEYS[n] name pattern description`` (or ``KEYS[n...]`` for a variadic tail), as STYLE.md asks."""


@dataclass(frozen=True)
class Documented:
    fixed: list[str]
    """Patterns of KEYS[1..N], in order."""
    tail: str | None
    """Pattern of every key after them (``KEYS[N+1...]``), for a variadic script."""


def header_of(name: str) -> str:
    source = _read(SCRIPT_FILES[name])
    assert source.startswith("--[["), f"{SCRIPT_FILES[name]} does not open with a --[[ header ]]"
    return source.split("]]", 1)[0]


def parse_header(name: str, header: str) -> tuple[Documented, list[str]]:
    """The KEYS a header documents, and what is wrong with its ``KEYS`` lines (empty when nothing)."""
    problems: list[str] = []
    fixed: dict[int, str] = {}
    tail: tuple[int, str] | None = None
    for line in header.splitlines():
        if "KEYS[" not in line:
            continue
        match = KEY_LINE.match(line)
        if match is None:
            problems.append(f"not a 'KEYS[n] name pattern description' line: {line.strip()!r}")
            continue
        n, pattern = int(match["n"]), match["pattern"]
        if match["tail"]:
            if tail is not None:
                problems.append(f"a second variadic tail KEYS[{n}...]")
            tail = (n, pattern)
        elif n in fixed:
            problems.append(f"KEYS[{n}] documented twice")
        else:
            fixed[n] = pattern
    count = key_count(name)
    if sorted(fixed) != list(range(1, count + 1)):
        problems.append(f"documents KEYS{sorted(fixed)}, the file name says KEYS[1..{count}]")
    if takes_more_keys(name) and (tail is None or tail[0] != count + 1):
        problems.append(f"variadic script: document its repeated keys as KEYS[{count + 1}...]")
    if not takes_more_keys(name) and tail is not None:
        problems.append(f"KEYS[{tail[0]}...] documented, but {SCRIPT_FILES[name]} takes exactly {count} keys")
    return Documented([fixed[n] for n in sorted(fixed)], tail[1] if tail else None), problems


def as_pattern(key: str, keys: AccountKeys) -> str:
    """A concrete key with its partition tag and every known id replaced by the header placeholders.

    Ids cannot contain ``:`` (schemas/common.py), so a key splits into segments at ``:`` after its tag;
    a segment equal to one of the ids used in the calls becomes that id's placeholder."""
    placeholders = {
        keys.account_id: "<acct>",
        **dict.fromkeys((*TICKETS, *LATE), "<ticket>"),
        **dict.fromkeys(USERS, "<user>"),
        TEAM: "<team>",
        JOB: "<job>",
        NOW.strftime("%Y-%m-%d"): "<DAY>",
        NOW.strftime("%H"): "<HH>",
    }
    tag = partition_tag(keys.partition)
    if not key.startswith(tag + ":"):
        return key  # no partition tag: cannot match any documented pattern
    segments = key[len(tag) + 1 :].split(":")
    return ":".join([TAG_PLACEHOLDER, *(placeholders.get(segment, segment) for segment in segments)])


def call_every_script(scripts: Scripts, keys: AccountKeys) -> None:
    """One call of every wrapper, with the ids ``as_pattern`` knows."""
    exercise(scripts, keys, users=USERS, tickets=TICKETS, team=TEAM, job=JOB, late=LATE)


def mismatches(name: str, documented: Documented, call_keys: list[str], keys: AccountKeys) -> list[str]:
    """How one call's KEYS differ from what the header documents (empty when they agree)."""
    passed = [as_pattern(key, keys) for key in call_keys]
    fixed, rest = passed[: len(documented.fixed)], passed[len(documented.fixed) :]
    problems = [
        f"KEYS[{n}]: header says {doc!r}, the wrapper passes {got!r}"
        for n, (doc, got) in enumerate(zip(documented.fixed, fixed, strict=False), start=1)
        if doc != got
    ]
    if len(fixed) < len(documented.fixed):
        problems.append(f"header documents {len(documented.fixed)} keys, the wrapper passes {len(fixed)}")
    if rest and documented.tail is None:
        problems.append(f"the wrapper passes {len(rest)} keys the header does not document: {rest}")
    for n, got in enumerate(rest, start=len(documented.fixed) + 1):
        if documented.tail == ANY_KEY_OF_THE_PARTITION and got.startswith(f"{TAG_PLACEHOLDER}:"):
            continue
        if documented.tail is not None and got != documented.tail:
            problems.append(f"KEYS[{n}] (tail): header says {documented.tail!r}, the wrapper passes {got!r}")
    return [f"{SCRIPT_FILES[name]}: {problem}" for problem in problems]


def recorded_calls(client: redis.Redis, account: str) -> tuple[AccountKeys, list[tuple[str, list[str]]]]:
    keys = AccountKeys.for_account(account)
    scripts = RecordingScripts(client)
    call_every_script(scripts, keys)
    assert {name for name, _ in scripts.calls} == set(SCRIPT_FILES), "call_every_script must call every script"
    return keys, scripts.calls


# --- the headers against the real calls -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCRIPT_FILES))
def test_header_keys_lines_are_well_formed(name: str) -> None:
    _, problems = parse_header(name, header_of(name))
    assert problems == []


@pytest.mark.parametrize("account", ACCOUNTS)
def test_every_header_documents_the_keys_its_wrapper_passes(client: redis.Redis, account: str) -> None:
    keys, calls = recorded_calls(client, account)
    problems: list[str] = []
    for name, call_keys in calls:
        documented, _ = parse_header(name, header_of(name))
        problems += mismatches(name, documented, call_keys, keys)
    assert problems == [], "\n".join(problems)


def test_the_variadic_tail_is_exercised(fake_redis: redis.Redis) -> None:
    keys, calls = recorded_calls(fake_redis, ACCOUNTS[0])
    variadic = {name for name in SCRIPT_FILES if takes_more_keys(name)}
    expected = {"bulk_assign", "promote_later", "release_waiting", "decide_batch"}
    assert variadic == expected, "a new variadic script: exercise() must pass it 2+ tail keys"
    tails = [call_keys[key_count(name) :] for name, call_keys in calls if name in variadic]
    assert tails and all(len(tail) >= 2 for tail in tails)


def test_placeholders_cannot_be_confused_with_literal_segments() -> None:
    """``as_pattern`` replaces whole segments: an id equal to a fixed segment (``users``, ``t``) would hide a bug."""
    keys = AccountKeys.for_account(ACCOUNTS[0])
    ids = [*ACCOUNTS, *TICKETS, *LATE, *USERS, TEAM, JOB, NOW.strftime("%Y-%m-%d"), NOW.strftime("%H")]
    assert len(set(ids)) == len(ids)
    literals = {
        segment
        for name in SCRIPT_FILES
        for pattern in parse_header(name, header_of(name))[0].fixed
        for segment in pattern.split(":")
        if not segment.startswith(("<", "{")) and "}" not in segment
    }
    assert literals.isdisjoint(ids), literals & set(ids)
    assert as_pattern(keys.ticket("T-1"), keys) == "{rr:pNN}:a:<acct>:t:<ticket>"


# --- the check itself catches drift -----------------------------------------------------------------


def _swap(header: str, first: str, second: str) -> str:
    return header.replace(first, "\0").replace(second, first).replace("\0", second)


@pytest.mark.parametrize(
    ("name", "break_header"),
    [
        # the old, wrong prefix
        ("set_user", lambda h: h.replace("{rr:pNN}:a:<acct>:users", "rr:{rr:pNN}:a:<acct>:users")),
        # two keys in another order
        ("set_round_robin", lambda h: _swap(h, "{rr:pNN}:a:<acct>:users", "{rr:pNN}:a:<acct>:settings")),
        # another shape (a placeholder missing)
        ("decide_ticket", lambda h: h.replace(":stats:<DAY>:online:<HH>", ":stats:<DAY>:online")),
        # a key the wrapper does not pass
        (
            "trim_events",
            lambda h: h.replace("KEYS[1] pevents", "KEYS[1] metrics  {rr:pNN}:metrics  ops\n    KEYS[2] pevents"),
        ),
        # a key the wrapper passes left out
        ("set_team", lambda h: re.sub(r"\n\s*KEYS\[5\][^\n]*", "", h)),
        # the variadic tail in another shape, or missing
        ("bulk_assign", lambda h: h.replace("<acct>:t:<ticket>", "<acct>:ticket:<ticket>")),
        ("bulk_assign", lambda h: re.sub(r"\n\s*KEYS\[29\.\.\.\][^\n]*", "", h)),
    ],
)
def test_a_drifted_header_is_reported(fake_redis: redis.Redis, name: str, break_header: Callable[[str], str]) -> None:
    original = header_of(name)
    broken = break_header(original)
    assert broken != original, "the mutation did not apply: update this test's header text"
    keys, calls = recorded_calls(fake_redis, ACCOUNTS[0])
    documented, problems = parse_header(name, broken)
    for script, call_keys in calls:
        if script == name:
            problems += mismatches(name, documented, call_keys, keys)
    assert problems, f"a broken {SCRIPT_FILES[name]} header passed the check"
