"""Per-channel pools on the control API and the command line (issue 16, part 4): ``set_agent_channels`` /
``agent-channels`` with their refusals, the agents' channels in ``users`` and the pools in ``settings``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from schemas.common import Channel, Role
from schemas.views import UserView
from tests.support.accounts import NOW
from tests.support.cli import ok, refused
from tests.support.snapshots import snapshot
from worker.api import Forbidden, Helpdesk, InvalidInput, UnknownAccount, UnknownUser

GOOD = "use email, webchat, sms, social (e.g. email,sms), or --all"


@pytest.fixture(params=["real", "fake"])
def helpdesk(request: pytest.FixtureRequest) -> Helpdesk:
    client: redis.Redis = request.getfixturevalue("real_redis" if request.param == "real" else "fake_redis")
    helpdesk = Helpdesk.for_client(client)
    for user, role in [("max", Role.MANAGER), ("ana", Role.AGENT), ("ben", Role.AGENT), ("vic", Role.VIEWER)]:
        helpdesk.save_user("acme", user, role, now=NOW)
    return helpdesk


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda h: h.set_agent_channels("acme", "ben", ["email"], "ana"), Forbidden, "only owner, admin or manager"),
        (lambda h: h.set_agent_channels("acme", "ben", ["email"], "vic"), Forbidden, "vic is a viewer"),
        (lambda h: h.set_agent_channels("acme", "vic", ["email"], "max"), Forbidden, "only agents and higher"),
        (lambda h: h.set_agent_channels("acme", "zed", ["email"], "max"), UnknownUser, "unknown user zed"),
        (lambda h: h.set_agent_channels("acme", "ben", ["fax"], "max"), InvalidInput, "'fax' is not a channel"),
        (lambda h: h.set_agent_channels("acme", "ben", [], "max"), InvalidInput, "at least one channel"),
        (lambda h: h.set_agent_channels("acme", "ben", "email", "max"), InvalidInput, "a list of channels"),
        (lambda h: h.set_agent_channels("ghostco", "ben", ["email"], "max"), UnknownAccount, "ghostco"),
    ],
    ids=["agent-actor", "viewer-actor", "viewer-target", "unknown-user", "bad-channel", "empty", "text", "ghostco"],
)
def test_refusals_are_typed_one_line_and_change_nothing(
    helpdesk: Helpdesk, call: Callable[[Helpdesk], object], error: type[Exception], message: str
) -> None:
    before = snapshot(helpdesk.state)
    with pytest.raises(error, match=message) as raised:
        call(helpdesk)
    assert "\n" not in str(raised.value)
    assert snapshot(helpdesk.state) == before


def test_users_and_settings_show_the_channels(helpdesk: Helpdesk) -> None:
    assert helpdesk.settings_view("acme", now=NOW).channel_pools is False
    assert helpdesk.set_agent_channels("acme", "ben", ["sms", Channel.EMAIL], "max", now=NOW) is True
    assert helpdesk.set_agent_channels("acme", "ben", ["email", "sms"], "max", now=NOW) is False
    views = {view.user_id: view.channels for view in helpdesk.users("acme")}
    assert views == {"ana": None, "ben": [Channel.EMAIL, Channel.SMS], "max": None, "vic": None}
    settings = helpdesk.settings_view("acme", now=NOW)
    assert (settings.channel_pools, settings.agent_channels) == (True, {"ben": [Channel.EMAIL, Channel.SMS]})
    assert helpdesk.set_agent_channels("acme", "ben", None, "max", now=NOW) is True
    assert helpdesk.settings_view("acme", now=NOW).channel_pools is False


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    for user, role in [("max", "manager"), ("ana", "agent"), ("ben", "agent"), ("vic", "viewer")]:
        ok(redis_url, "user", "acme", user, "--role", role)
    return redis_url


def test_agent_channels_sets_and_clears(url: str) -> None:
    assert ok(url, "agent-channels", "acme", "ben", "sms,email", "--actor", "max").strip() == (
        "ben in acme takes email, sms only"
    )
    assert ok(url, "agent-channels", "acme", "ben", "email,sms", "--actor", "max").strip().endswith("(unchanged)")
    assert ok(url, "agent-channels", "acme", "ben", "--all", "--actor", "max").strip() == (
        "ben in acme takes every channel"
    )
    assert ok(url, "agent-channels", "acme", "ben", "--all", "--actor", "max").strip().endswith("(unchanged)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fax",), f"error: channels: 'fax' is not a channel; {GOOD}"),
        (("email,,sms",), f"error: channels: an empty name is not a channel; {GOOD}"),
        (("email", "--all"), "error: give channels or --all, not both (got 'email' and --all)"),
        (
            (),
            "error: give the channels the agent takes, comma-separated (email, webchat, sms, social; e.g. "
            "email,sms), or --all",
        ),
    ],
)
def test_bad_channels_are_refused_in_one_plain_line(url: str, args: tuple[str, ...], message: str) -> None:
    assert refused(url, "agent-channels", "acme", "ben", *args, "--actor", "max") == message


def test_viewers_and_agents_are_refused(url: str) -> None:
    assert refused(url, "agent-channels", "acme", "ben", "email", "--actor", "ana").startswith("error: ana is an agent")
    assert refused(url, "agent-channels", "acme", "vic", "email", "--actor", "max").startswith("error: vic is a viewer")


def test_users_has_a_channels_column_while_pools_are_in_use_and_settings_says_so(url: str) -> None:
    assert "CHANNELS" not in ok(url, "users", "acme")
    assert "channels" not in ok(url, "settings", "acme")
    ok(url, "agent-channels", "acme", "ben", "webchat", "--actor", "max")
    lines = ok(url, "users", "acme").splitlines()
    assert lines[0].split()[-3:] == ["CHANNELS", "LAST", "HEARTBEAT"]
    cells = {line.split()[0]: line.split()[8] for line in lines[1:-1]}
    assert cells == {"ana": "all", "ben": "webchat", "max": "all", "vic": "-"}
    assert "per-channel pools in use; 1 agent restricted: ben webchat" in ok(url, "settings", "acme")
    views = [UserView.model_validate_json(line) for line in ok(url, "users", "acme", "--json").splitlines()]
    assert [view.channels for view in views if view.user_id == "ben"] == [[Channel.WEBCHAT]]
