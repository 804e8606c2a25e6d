"""Per-account API keys (issue 17, part 2): made, listed, checked, revoked — on real Redis and fakeredis,
through the CLI, and as the HTTP edge's ``account_key`` dependency over a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.support.cli import ok, refused
from tests.support.http import live_server
from worker.api import Helpdesk, InvalidInput, Unauthorized, UnknownAccount
from worker.core.keys import AccountKeys
from worker.http import create_app
from worker.http.auth import AccountKey


@pytest.fixture
def helpdesk(client: redis.Redis) -> Helpdesk:
    desk = Helpdesk.for_client(client)
    desk.save_user("acme", "mia", "manager")
    desk.save_user("globex", "gus", "manager")
    return desk


def test_a_key_is_shown_once_stored_hashed_and_checked(helpdesk: Helpdesk, client: redis.Redis) -> None:
    made = helpdesk.create_api_key("acme", "billing backend")
    assert made.key.startswith(f"rrk_{made.key_id}_")
    assert helpdesk.authenticate("acme", made.key) == made.key_id
    stored = client.hgetall(AccountKeys.for_account("acme").api_keys)
    assert list(stored) == [made.key_id.encode()]
    assert all(made.key.encode() not in bytes(value) for value in stored.values())  # type: ignore[arg-type]
    assert [key.model_dump() for key in helpdesk.api_keys("acme")] == [
        {"key_id": made.key_id, "label": "billing backend", "created_at": made.created_at}
    ]


def test_a_key_opens_only_its_own_account(helpdesk: Helpdesk) -> None:
    made = helpdesk.create_api_key("acme")
    with pytest.raises(Unauthorized, match="not a key of account globex"):
        helpdesk.authenticate("globex", made.key)


@pytest.mark.parametrize("presented", ["", "rrk_", "Bearer x", "rrk_0123456789ab_" + "a" * 43, "x" * 5000])
def test_malformed_or_unknown_keys_get_the_same_refusal(helpdesk: Helpdesk, presented: str) -> None:
    with pytest.raises(Unauthorized) as refusal:
        helpdesk.authenticate("acme", presented)
    assert str(refusal.value) == "the API key is missing, malformed, revoked or not a key of account acme"


def test_a_tampered_key_is_refused(helpdesk: Helpdesk) -> None:
    made = helpdesk.create_api_key("acme")
    last = made.key[-1]
    tampered = made.key[:-1] + ("A" if last != "A" else "B")
    with pytest.raises(Unauthorized):
        helpdesk.authenticate("acme", tampered)


def test_revoked_keys_stop_working_at_once(helpdesk: Helpdesk) -> None:
    first, second = helpdesk.create_api_key("acme", "one"), helpdesk.create_api_key("acme", "two")
    assert helpdesk.revoke_api_key("acme", first.key_id) is True
    assert helpdesk.revoke_api_key("acme", first.key_id) is False
    with pytest.raises(Unauthorized):
        helpdesk.authenticate("acme", first.key)
    assert helpdesk.authenticate("acme", second.key) == second.key_id
    assert [key.key_id for key in helpdesk.api_keys("acme")] == [second.key_id]


def test_refusals_change_nothing(helpdesk: Helpdesk, client: redis.Redis) -> None:
    with pytest.raises(UnknownAccount):
        helpdesk.create_api_key("ghostco")
    with pytest.raises(InvalidInput, match="label"):
        helpdesk.create_api_key("acme", "two\nlines")
    with pytest.raises(InvalidInput, match="key id"):
        helpdesk.revoke_api_key("acme", "nothex")
    assert client.exists(AccountKeys.for_account("acme").api_keys, AccountKeys.for_account("ghostco").api_keys) == 0


def test_the_cli_prints_the_key_alone_once_and_never_again(real_redis: redis.Redis, redis_url: str) -> None:
    Helpdesk.from_url(redis_url).save_user("acme", "mia", "manager")
    key = ok(redis_url, "api-key", "acme", "create", "--label", "crm").strip()
    assert key.startswith("rrk_")
    listed = ok(redis_url, "api-key", "acme", "list")
    key_id = key.split("_")[1]
    assert key_id in listed and "crm" in listed and key not in listed
    assert listed.splitlines()[1].split() == [
        key_id,
        json.loads(ok(redis_url, "api-key", "acme", "list", "--json"))[0]["created_at"],
        "crm",
    ]
    assert json.loads(ok(redis_url, "api-key", "acme", "list", "--json"))[0]["key_id"] == key_id
    assert ok(redis_url, "api-key", "acme", "revoke", key_id).strip() == f"api key {key_id} of acme revoked"
    gone = refused(redis_url, "api-key", "acme", "revoke", key_id)
    assert gone.strip() == f"error: no api key {key_id} in account acme"
    assert ok(redis_url, "api-key", "acme", "list").strip() == "no api keys for acme"
    assert refused(redis_url, "api-key", "ghostco", "create").strip() == "error: unknown account 'ghostco'"


@pytest.fixture
def guarded(real_redis: redis.Redis, redis_url: str) -> Iterator[tuple[httpx.Client, Helpdesk]]:
    helpdesk = Helpdesk.from_url(redis_url)
    helpdesk.save_user("acme", "mia", "manager")
    helpdesk.save_user("globex", "gus", "manager")
    app = create_app(helpdesk)

    @app.get("/v1/accounts/{account}/whoami")
    async def whoami(account: str, key_id: AccountKey) -> dict[str, str]:
        return {"account": account, "key_id": key_id}

    with live_server(helpdesk, app=app) as live, live.client() as http:
        yield http, helpdesk


def test_the_http_dependency_lets_in_only_the_accounts_own_live_key(
    guarded: tuple[httpx.Client, Helpdesk],
) -> None:
    http, helpdesk = guarded
    acme = helpdesk.create_api_key("acme")
    answer = http.get("/v1/accounts/acme/whoami", headers={"Authorization": f"Bearer {acme.key}"})
    assert answer.status_code == 200
    assert answer.json() == {"account": "acme", "key_id": acme.key_id}
    other = http.get("/v1/accounts/globex/whoami", headers={"Authorization": f"Bearer {acme.key}"})
    assert other.status_code == 401
    assert other.json() == {"error": "the API key is missing, malformed, revoked or not a key of account globex"}
    missing = http.get("/v1/accounts/acme/whoami")
    assert missing.status_code == 401
    assert missing.json()["error"].startswith("missing API key: send `Authorization: Bearer <key>`")
    helpdesk.revoke_api_key("acme", acme.key_id)
    assert http.get("/v1/accounts/acme/whoami", headers={"Authorization": f"Bearer {acme.key}"}).status_code == 401
