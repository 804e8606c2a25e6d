"""Issue 14, views and feedback: ``users`` and ``settings`` views, unknown accounts named as such, times
in the account's zone next to UTC, and "(unchanged)" when a user is saved with the role they have."""

from __future__ import annotations

import pytest
import redis

from schemas.common import Role
from tests.support.accounts import NOW
from tests.support.cli import ok
from worker.api import Helpdesk

pytestmark = pytest.mark.engine


@pytest.fixture(params=["real", "fake"])
def helpdesk(request: pytest.FixtureRequest) -> Helpdesk:
    client: redis.Redis = request.getfixturevalue("real_redis" if request.param == "real" else "fake_redis")
    return Helpdesk.for_client(client)


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    return redis_url


# --- item 8: re-saving a user with the same role ---------------------------------------------------


def test_saving_a_user_with_the_role_they_have_changes_nothing(helpdesk: Helpdesk) -> None:
    assert helpdesk.save_user("acme", "ana", Role.AGENT, now=NOW).changed is True
    saved = helpdesk.save_user("acme", "ana", Role.AGENT, now=NOW)
    assert (saved.changed, saved.previous_role, saved.went_offline) == (False, Role.AGENT, False)
    assert helpdesk.save_user("acme", "ana", Role.MANAGER, now=NOW).changed is True


def test_the_cli_says_unchanged_when_a_user_is_saved_again_with_the_same_role(url: str) -> None:
    assert ok(url, "user", "acme", "ben", "--role", "agent").strip() == "ben created in acme as agent"
    assert ok(url, "user", "acme", "ben", "--role", "agent").strip() == "ben in acme as agent (unchanged)"
    assert ok(url, "user", "acme", "ben", "--role", "manager").strip() == "ben updated (agent -> manager) in acme as manager"
