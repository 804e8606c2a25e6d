"""Agent links and the agent page's reads, on real Redis and fakeredis: tokens (signed, expiring, per account,
revocable), who may get one, the agent's open tickets, and the partition entries' ``account_entry_id``."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import redis

from schemas.common import AgentStatus, Role, utc_iso
from tests.support.accounts import NOW
from tests.support.cli import ok, refused
from worker.api import Forbidden, Helpdesk, InvalidInput, Unauthorized, UnknownAccount, UnknownUser
from worker.core.agent_links import claims_of
from worker.core.keys import AccountKeys
from worker.core.open_tickets import PAGE

pytestmark = pytest.mark.engine


@pytest.fixture(params=["real", "fake"])
def helpdesk(request: pytest.FixtureRequest) -> Helpdesk:
    client: redis.Redis = request.getfixturevalue("real_redis" if request.param == "real" else "fake_redis")
    desk = Helpdesk.for_client(client)
    for account in ("acme", "globex"):
        desk.save_user(account, "mia", Role.MANAGER, now=NOW)
        desk.save_user(account, "ana", Role.AGENT, now=NOW)
        desk.save_user(account, "ben", Role.AGENT, now=NOW)
        desk.save_user(account, "vic", Role.VIEWER, now=NOW)
    return desk


def longer(payload: str) -> str:
    """The same payload with an expiry a year later (the signature no longer matches it)."""
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["x"] += 365 * 86400
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def decide(helpdesk: Helpdesk, ids: list[str], account: str = "acme") -> None:
    for ticket_id in ids:
        fields = {"account_id": account, "ticket_id": ticket_id, "channel": "email", "created_at": utc_iso(NOW)}
        helpdesk.submit_ticket(fields, now=NOW)
    helpdesk.drain()


def test_a_token_names_its_account_and_user_until_it_expires(helpdesk: Helpdesk) -> None:
    link = helpdesk.agent_link("acme", "ana", hours=2, now=NOW)
    assert link.expires_at == NOW + timedelta(hours=2)
    assert helpdesk.verify_agent_token(link.token, now=NOW + timedelta(hours=1, minutes=59)) == ("acme", "ana")
    with pytest.raises(Unauthorized, match="expired at 2026-11-24T17:00:00Z"):
        helpdesk.verify_agent_token(link.token, now=NOW + timedelta(hours=2))


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # another signature
        lambda token: ".".join([token.split(".")[0], longer(token.split(".")[1]), token.split(".")[2]]),
        lambda token: "",
        lambda token: "rra1..",
        lambda token: token + "." + token,
        lambda token: "rrk_0123456789ab_" + "a" * 43,  # an API key
        lambda token: "x" * 5000,
    ],
)
def test_a_forged_or_malformed_token_is_unauthorized_and_changes_nothing(helpdesk: Helpdesk, forge: object) -> None:
    token = helpdesk.agent_link("acme", "ana", now=NOW).token
    assert callable(forge)
    keys_before = sorted(helpdesk.state.keys("*"))
    with pytest.raises(Unauthorized, match="not valid"):
        helpdesk.verify_agent_token(forge(token), now=NOW)
    assert sorted(helpdesk.state.keys("*")) == keys_before


def test_a_token_signed_with_another_accounts_key_is_not_valid(helpdesk: Helpdesk) -> None:
    """The payload names acme, the signature is globex's: checked with acme's key, it fails."""
    acme = helpdesk.agent_link("acme", "ana", now=NOW).token
    globex = helpdesk.agent_link("globex", "ana", now=NOW).token
    spliced = acme.rsplit(".", 1)[0] + "." + globex.rsplit(".", 1)[1]
    with pytest.raises(Unauthorized, match="not valid"):
        helpdesk.verify_agent_token(spliced, now=NOW)


def test_a_token_for_an_account_that_never_made_a_link_creates_no_key(helpdesk: Helpdesk) -> None:
    token = helpdesk.agent_link("acme", "ana", now=NOW).token
    claims = claims_of(token)
    assert claims is not None
    helpdesk.state.delete(AccountKeys.for_account("acme").agent_link_key)
    with pytest.raises(Unauthorized, match="not valid"):
        helpdesk.verify_agent_token(token, now=NOW)
    assert not helpdesk.state.exists(AccountKeys.for_account("acme").agent_link_key)


def test_revoking_all_voids_every_earlier_link_of_that_account_only(helpdesk: Helpdesk) -> None:
    old = helpdesk.agent_link("acme", "ana", now=NOW).token
    other = helpdesk.agent_link("globex", "ana", now=NOW).token
    helpdesk.revoke_agent_links("acme")
    with pytest.raises(Unauthorized, match="not valid"):
        helpdesk.verify_agent_token(old, now=NOW)
    assert helpdesk.verify_agent_token(other, now=NOW) == ("globex", "ana")
    fresh = helpdesk.agent_link("acme", "ana", now=NOW).token
    assert helpdesk.verify_agent_token(fresh, now=NOW) == ("acme", "ana")


def test_concurrent_first_links_share_one_signing_key(helpdesk: Helpdesk) -> None:
    first = helpdesk.agent_link("acme", "ana", now=NOW).token
    second = helpdesk.agent_link("acme", "ben", now=NOW).token
    assert helpdesk.verify_agent_token(first, now=NOW) == ("acme", "ana")
    assert helpdesk.verify_agent_token(second, now=NOW) == ("acme", "ben")


def test_links_are_for_known_users_who_take_tickets_for_1_to_720_hours(helpdesk: Helpdesk) -> None:
    with pytest.raises(UnknownUser, match="unknown user ghost in account acme"):
        helpdesk.agent_link("acme", "ghost", now=NOW)
    with pytest.raises(UnknownAccount):
        helpdesk.agent_link("nobody", "ana", now=NOW)
    with pytest.raises(Forbidden, match="vic is a viewer"):
        helpdesk.agent_link("acme", "vic", now=NOW)
    for hours in (0, 721, -1):
        with pytest.raises(InvalidInput, match="1 to 720 hours"):
            helpdesk.agent_link("acme", "ana", hours=hours, now=NOW)
    with pytest.raises(InvalidInput, match="user"):
        helpdesk.agent_link("acme", "a{b}", now=NOW)
    assert helpdesk.agent_link("acme", "mia", hours=720, now=NOW).expires_at == NOW + timedelta(hours=720)


def test_open_tickets_are_the_agents_assigned_and_not_closed(helpdesk: Helpdesk) -> None:
    helpdesk.set_round_robin("acme", True, "mia", now=NOW)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    helpdesk.set_status("acme", "ben", AgentStatus.ONLINE, now=NOW)
    decide(helpdesk, ["T1", "T2", "T3", "T4", "T5"])
    mine = {
        view.user_id: [t.ticket_id for t in helpdesk.open_tickets("acme", view.user_id).tickets]
        for view in helpdesk.users("acme")
    }
    ana = sorted(mine["ana"])
    helpdesk.close_ticket("acme", ana[0], now=NOW)
    helpdesk.drain()
    opened = helpdesk.open_tickets("acme", "ana")
    assert sorted(t.ticket_id for t in opened.tickets) == ana[1:]
    assert opened.load == len(ana) - 1 and opened.complete
    assert sorted(mine["ana"] + mine["ben"]) == ["T1", "T2", "T3", "T4", "T5"]
    helpdesk.reopen_ticket("acme", ana[0], now=NOW)
    helpdesk.drain()
    assert sorted(t.ticket_id for t in helpdesk.open_tickets("acme", "ana").tickets) == ana
    view = helpdesk.agent_view("acme", "ana")
    assert view.status is AgentStatus.ONLINE and view.can_be_online and view.open_tickets.load == len(ana)


def test_a_bulk_reassignment_moves_tickets_between_agents_pages(helpdesk: Helpdesk) -> None:
    helpdesk.set_round_robin("acme", True, "mia", now=NOW)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    decide(helpdesk, ["T1", "T2"])
    helpdesk.set_team("acme", "billing", ["ben"], "mia", now=NOW)
    helpdesk.set_status("acme", "ben", AgentStatus.ONLINE, now=NOW)
    helpdesk.bulk_assign("acme", "billing", "mia", ["T1"])
    helpdesk.drain()
    assert [t.ticket_id for t in helpdesk.open_tickets("acme", "ana").tickets] == ["T2"]
    assert [t.ticket_id for t in helpdesk.open_tickets("acme", "ben").tickets] == ["T1"]


def test_open_tickets_say_when_some_are_older_than_the_retained_history(helpdesk: Helpdesk) -> None:
    helpdesk.set_round_robin("acme", True, "mia", now=NOW)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    decide(helpdesk, ["T1", "T2"])
    events = AccountKeys.for_account("acme").events
    oldest = helpdesk.state.xrange(events)
    first_assigned = next(i for i, (_id, f) in enumerate(oldest) if b"ticket.assigned" in f[b"type"])
    helpdesk.state.xdel(events, oldest[first_assigned][0])  # as if trimmed away
    opened = helpdesk.open_tickets("acme", "ana")
    assert [t.ticket_id for t in opened.tickets] == ["T2"] and opened.load == 2 and not opened.complete


def test_open_tickets_read_past_a_page_of_events(helpdesk: Helpdesk) -> None:
    helpdesk.set_round_robin("acme", True, "mia", now=NOW)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    decide(helpdesk, ["OLD"])
    for n in range(PAGE // 2 + 1):  # two events per toggle: the ticket's event is more than a page back
        helpdesk.set_status("acme", "ben", AgentStatus.ONLINE if n % 2 == 0 else AgentStatus.OFFLINE, now=NOW)
    assert [t.ticket_id for t in helpdesk.open_tickets("acme", "ana").tickets] == ["OLD"]


def test_every_partition_entry_names_its_account_entry(helpdesk: Helpdesk) -> None:
    helpdesk.set_round_robin("acme", True, "mia", now=NOW)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    decide(helpdesk, ["T1"])
    keys = AccountKeys.for_account("acme")
    account = {entry_id: fields[b"data"] for entry_id, fields in helpdesk.state.xrange(keys.events)}
    shared = [f for _id, f in helpdesk.state.xrange(keys.partition_events) if f[b"account_id"] == b"acme"]
    assert len(shared) == len(account) > 3
    for fields in shared:
        assert account[fields[b"account_entry_id"]] == fields[b"data"]


def test_the_cli_prints_a_link_and_revokes_them_all(real_redis: redis.Redis, redis_url: str) -> None:
    desk = Helpdesk.from_url(redis_url)
    desk.save_user("acme", "ana", Role.AGENT)
    desk.save_user("acme", "vic", Role.VIEWER)
    url = ok(redis_url, "agent-link", "acme", "ana", "--hours", "3", "--base-url", "https://help.example.com/").strip()
    assert url.startswith("https://help.example.com/agent?token=rra1.")
    token = url.split("token=", 1)[1]
    assert desk.verify_agent_token(token) == ("acme", "ana")
    default = ok(redis_url, "agent-link", "acme", "ana").strip()
    assert default.startswith("http://127.0.0.1:8000/agent?token=")
    assert "every agent link of acme" in ok(redis_url, "agent-link", "acme", "--revoke-all")
    with pytest.raises(Unauthorized):
        desk.verify_agent_token(token)
    assert refused(redis_url, "agent-link", "acme", "vic") == (
        "error: vic is a viewer: agent links are for users who take tickets (agent or above)"
    )
    assert refused(redis_url, "agent-link", "acme", "ghost") == "error: unknown user ghost in account acme"
    assert "--base-url must be" in refused(redis_url, "agent-link", "acme", "ana", "--base-url", "ftp://x")
    assert "1<=x<=720" in refused(redis_url, "agent-link", "acme", "ana", "--hours", "0", code=2)
    assert "give USER" in refused(redis_url, "agent-link", "acme")
