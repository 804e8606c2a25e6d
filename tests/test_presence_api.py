"""Issue 16, part 1 through the control API: ``Helpdesk.heartbeat`` / ``set_presence_timeout``, their refusals,
the presence timeout in ``settings`` and each user's last heartbeat in ``users``, and a worker's sweep setting
a silent agent Offline. Real Redis and fakeredis, like the other API tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import redis

from schemas.common import AgentStatus, Role, StatusChangeReason
from schemas.durations import MAX_SECONDS
from schemas.events import AgentStatusChanged, SettingsChanged
from tests.support.accounts import NOW
from tests.support.snapshots import snapshot
from worker.api import Forbidden, Helpdesk, InvalidInput, UnknownAccount, UnknownUser

pytestmark = pytest.mark.engine


@pytest.fixture(params=["real", "fake"])
def helpdesk(request: pytest.FixtureRequest) -> Helpdesk:
    client: redis.Redis = request.getfixturevalue("real_redis" if request.param == "real" else "fake_redis")
    helpdesk = Helpdesk.for_client(client)
    for user, role in [("max", Role.MANAGER), ("ana", Role.AGENT), ("ben", Role.AGENT), ("vic", Role.VIEWER)]:
        helpdesk.save_user("acme", user, role, now=NOW)
    return helpdesk


def status_changes(helpdesk: Helpdesk) -> list[tuple[str, str, str | None, StatusChangeReason]]:
    return [
        (event.user_id, event.status.value, event.actor_id, event.reason)
        for _id, event in helpdesk.events("acme")
        if isinstance(event, AgentStatusChanged)
    ]


def test_a_heartbeat_says_whether_the_user_is_online_and_never_sets_them_online(helpdesk: Helpdesk) -> None:
    helpdesk.set_presence_timeout("acme", 60, "max", now=NOW)
    assert helpdesk.heartbeat("acme", "ana", now=NOW) is False
    assert helpdesk.heartbeat("acme", "vic", now=NOW) is False  # anyone's app may send them
    assert {view.user_id: view.status for view in helpdesk.users("acme")}["ana"] is AgentStatus.OFFLINE
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    assert helpdesk.heartbeat("acme", "ana", now=NOW + timedelta(seconds=30)) is True
    assert status_changes(helpdesk) == [("ana", "online", "ana", StatusChangeReason.MANUAL)]


def test_users_show_each_users_last_heartbeat_and_going_online_counts_as_one(helpdesk: Helpdesk) -> None:
    assert {view.user_id: view.last_heartbeat for view in helpdesk.users("acme")} == dict.fromkeys(
        ["ana", "ben", "max", "vic"]
    )
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    helpdesk.heartbeat("acme", "ben", now=NOW + timedelta(milliseconds=1_234))
    helpdesk.heartbeat("acme", "vic", now=NOW + timedelta(minutes=5))
    beats = {view.user_id: view.last_heartbeat for view in helpdesk.users("acme")}
    assert beats == {
        "ana": NOW,
        "ben": NOW + timedelta(milliseconds=1_234),  # to the millisecond, no float rounding
        "max": None,
        "vic": NOW + timedelta(minutes=5),
    }
    helpdesk.heartbeat("acme", "ana", now=NOW + timedelta(minutes=1))
    assert {view.user_id: view.last_heartbeat for view in helpdesk.users("acme")}["ana"] == NOW + timedelta(minutes=1)


def test_settings_show_the_presence_timeout_in_seconds(helpdesk: Helpdesk) -> None:
    assert helpdesk.settings("acme").presence_timeout_seconds is None
    assert helpdesk.set_presence_timeout("acme", 900, "max", now=NOW) is True
    assert helpdesk.settings("acme").presence_timeout_seconds == 900
    assert helpdesk.settings_view("acme", now=NOW).presence_timeout_seconds == 900
    assert helpdesk.set_presence_timeout("acme", None, "max", now=NOW) is True
    assert helpdesk.settings_view("acme", now=NOW).presence_timeout_seconds is None


def test_setting_what_is_set_changes_nothing_and_emits_nothing(helpdesk: Helpdesk) -> None:
    assert helpdesk.set_presence_timeout("acme", None, "max", now=NOW) is False  # off by default
    assert helpdesk.set_presence_timeout("acme", 120, "max", now=NOW) is True
    assert helpdesk.set_presence_timeout("acme", 120, "max", now=NOW) is False
    assert helpdesk.set_presence_timeout("acme", MAX_SECONDS, "max", now=NOW) is True
    changes = [event.changes for _id, event in helpdesk.events("acme") if isinstance(event, SettingsChanged)]
    assert changes == [{"presence_timeout_seconds": 120}, {"presence_timeout_seconds": MAX_SECONDS}]


def test_a_drained_worker_sets_a_silent_agent_offline_and_keeps_one_with_heartbeats(helpdesk: Helpdesk) -> None:
    """``drain`` sweeps once at the wall clock, long after NOW: ana's last heartbeat (going Online at NOW)
    is older than the timeout; ben's is in the future of the wall clock."""
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    helpdesk.set_status("acme", "ben", AgentStatus.ONLINE, now=NOW)
    helpdesk.set_presence_timeout("acme", 60, "max", now=NOW)
    helpdesk.heartbeat("acme", "ben", now=NOW + timedelta(days=3650))
    helpdesk.drain()
    assert {view.user_id: view.status.value for view in helpdesk.users("acme")} == {
        "ana": "offline", "ben": "online", "max": "offline", "vic": "offline"
    }  # fmt: skip
    assert status_changes(helpdesk)[-1] == ("ana", "offline", None, StatusChangeReason.PRESENCE_TIMEOUT)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda h: h.set_presence_timeout("acme", 60, "ana", now=NOW),
            Forbidden,
            "^ana is an agent; only owner, admin or manager may set the presence timeout$",
        ),
        (
            lambda h: h.set_presence_timeout("acme", None, "vic", now=NOW),
            Forbidden,
            "^vic is a viewer; only owner, admin or manager may set the presence timeout$",
        ),
        (
            lambda h: h.set_presence_timeout("acme", 60, "ghost", now=NOW),
            UnknownUser,
            "^unknown user ghost in account acme$",
        ),
        (lambda h: h.set_presence_timeout("acme", 0, "max", now=NOW), InvalidInput, r"from 1 to 31536000 .*\(got 0\)$"),
        (lambda h: h.set_presence_timeout("acme", -5, "max", now=NOW), InvalidInput, r"\(got -5\)$"),
        (lambda h: h.set_presence_timeout("acme", True, "max", now=NOW), InvalidInput, r"\(got true\)$"),
        (lambda h: h.set_presence_timeout("acme", 1.5, "max", now=NOW), InvalidInput, r"\(got 1.5\)$"),
        (lambda h: h.set_presence_timeout("acme", "15m", "max", now=NOW), InvalidInput, r"\(got '15m'\)$"),
        (
            lambda h: h.set_presence_timeout("acme", MAX_SECONDS + 1, "max", now=NOW),
            InvalidInput,
            r"or None to turn it off \(got 31536001\)$",
        ),
        (lambda h: h.set_presence_timeout("acme", 60, "a:b", now=NOW), InvalidInput, "^actor: 'a:b' is not a valid id"),
        (lambda h: h.set_presence_timeout("ghostco", 6, "max", now=NOW), UnknownAccount, "^unknown account 'ghostco'$"),
        (lambda h: h.heartbeat("acme", "ghost", now=NOW), UnknownUser, "^unknown user ghost in account acme$"),
        (lambda h: h.heartbeat("ghostco", "ana", now=NOW), UnknownAccount, "^unknown account 'ghostco'$"),
        (lambda h: h.heartbeat("acme", "a b", now=NOW), InvalidInput, "^user: 'a b' is not a valid id"),
    ],
    ids=[
        "agent",
        "viewer",
        "ghost",
        "zero",
        "negative",
        "bool",
        "fraction",
        "text",
        "too-long",
        "bad-actor",
        "ghostco",
        "beat-ghost",
        "beat-ghostco",
        "beat-bad-id",
    ],  # fmt: skip
)
def test_refusals_are_typed_one_line_and_change_nothing(
    helpdesk: Helpdesk, call: Callable[[Helpdesk], object], error: type[Exception], message: str
) -> None:
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    helpdesk.set_presence_timeout("acme", 300, "max", now=NOW)
    before = snapshot(helpdesk.state)
    with pytest.raises(error, match=message):
        call(helpdesk)
    assert snapshot(helpdesk.state) == before
