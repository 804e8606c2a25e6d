"""Webhook secrets (worker/api/webhook_secrets.py, ``helpdesk-rr webhook-secret``): set and cleared by owners,
admins and managers only, in one Lua call that emits ``settings.changed`` naming the secret but never its value;
listed without values; read back only by the HTTP edge's ``webhook_secret``; never printed or logged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis
from click.testing import CliRunner

from schemas.common import WebhookSecretName
from schemas.events import SettingsChanged
from tests.support.cli import logging_restored
from tests.support.snapshots import snapshot
from worker.api import Forbidden, Helpdesk, InvalidInput, UnknownAccount, UnknownUser
from worker.cli import cli
from worker.core.keys import AccountKeys

SECRET = "tw_auth_8c1e5b7a0f3d4e2b9a6c"
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def helpdesk(client: redis.Redis) -> Helpdesk:
    desk = Helpdesk.for_client(client)
    for user, role in (("olga", "owner"), ("mia", "manager"), ("ana", "agent"), ("vic", "viewer")):
        desk.save_user("acme", user, role)
    return desk


def test_a_manager_sets_a_secret_that_only_the_edges_read_returns(helpdesk: Helpdesk, client: redis.Redis) -> None:
    assert helpdesk.set_webhook_secret("acme", "twilio", SECRET, "mia", NOW) is True
    assert helpdesk.webhook_secret("acme", WebhookSecretName.TWILIO) == SECRET
    assert helpdesk.webhook_secret("acme", "mailgun") is None
    listed = {view.name.value: view for view in helpdesk.webhook_secrets("acme")}
    assert list(listed) == ["twilio", "mailgun", "meta", "meta-verify-token", "webchat"]
    assert listed["twilio"].is_set and listed["twilio"].set_at == NOW and listed["twilio"].set_by == "mia"
    assert (listed["twilio"].provider, listed["twilio"].kind) == ("twilio", "auth_token")
    assert not listed["meta-verify-token"].is_set and listed["meta-verify-token"].kind == "verify_token"
    assert SECRET not in json.dumps([view.model_dump(mode="json") for view in listed.values()])


def test_setting_and_clearing_emit_settings_changed_without_the_value(helpdesk: Helpdesk) -> None:
    helpdesk.set_webhook_secret("acme", "meta-verify-token", "verify-me-4711", "olga", NOW)
    assert helpdesk.set_webhook_secret("acme", "meta-verify-token", "verify-me-4711", "olga", NOW) is False
    assert helpdesk.clear_webhook_secret("acme", "meta-verify-token", "mia", NOW) is True
    assert helpdesk.clear_webhook_secret("acme", "meta-verify-token", "mia", NOW) is False
    changes = [event for _, event in helpdesk.events("acme") if isinstance(event, SettingsChanged)]
    named = {"name": "meta-verify-token", "provider": "meta", "kind": "verify_token"}
    assert [(event.actor_id, event.changes) for event in changes] == [
        ("olga", {"webhook_secret": {**named, "set": True}}),
        ("mia", {"webhook_secret": {**named, "set": False}}),
    ]
    assert "verify-me-4711" not in str(helpdesk.events("acme"))
    assert helpdesk.webhook_secret("acme", "meta-verify-token") is None


@pytest.mark.parametrize(("actor", "refusal"), [("ana", Forbidden), ("vic", Forbidden), ("nobody", UnknownUser)])
def test_agents_viewers_and_unknown_actors_are_refused_and_nothing_changes(
    helpdesk: Helpdesk, client: redis.Redis, actor: str, refusal: type[Exception]
) -> None:
    before = snapshot(client)
    with pytest.raises(refusal) as refused:
        helpdesk.set_webhook_secret("acme", "webchat", SECRET, actor, NOW)
    assert SECRET not in str(refused.value)
    with pytest.raises(refusal):
        helpdesk.clear_webhook_secret("acme", "webchat", actor, NOW)
    assert snapshot(client) == before


def test_an_unknown_account_is_refused_for_writes_and_lists_but_reads_as_no_secret(helpdesk: Helpdesk) -> None:
    with pytest.raises(UnknownAccount):
        helpdesk.set_webhook_secret("ghostco", "webchat", SECRET, "mia", NOW)
    with pytest.raises(UnknownAccount):
        helpdesk.webhook_secrets("ghostco")
    assert helpdesk.webhook_secret("ghostco", "webchat") is None


@pytest.mark.parametrize("bad", ["", " padded", "two\nlines", "tab\tin", "x" * 513, "bell\x07"])
def test_a_secret_that_is_not_one_line_of_printable_text_is_refused_without_being_shown(
    helpdesk: Helpdesk, bad: str
) -> None:
    with pytest.raises(InvalidInput, match="^secret: use 1 to 512 printable characters") as refused:
        helpdesk.set_webhook_secret("acme", "webchat", bad, "mia", NOW)
    assert bad.strip() == "" or bad.strip()[:5] not in str(refused.value)


def test_an_unknown_secret_name_is_refused_naming_the_good_ones(helpdesk: Helpdesk) -> None:
    with pytest.raises(InvalidInput, match="use twilio, mailgun, meta, meta-verify-token, webchat"):
        helpdesk.set_webhook_secret("acme", "slack", SECRET, "mia", NOW)


def test_the_secret_and_its_record_live_under_the_accounts_hash_tag(helpdesk: Helpdesk, client: redis.Redis) -> None:
    helpdesk.set_webhook_secret("acme", "webchat", SECRET, "mia", NOW)
    keys = AccountKeys.for_account("acme")
    assert client.hget(keys.webhook_secrets, "webchat") == SECRET.encode()
    assert json.loads(client.hget(keys.webhook_secrets_set, "webchat") or b"{}") == {
        "set_at": "2026-12-01T09:30:00.000Z",
        "set_by": "mia",
    }
    assert keys.webhook_secrets.startswith(keys.base) and keys.webhook_secrets_set.startswith(keys.base)


# --- the CLI ---------------------------------------------------------------------------------------------------


def cli_run(url: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """The CLI in-process with ``--verbose`` (its info log lines on stderr too), ``stdin`` piped in."""
    with logging_restored():
        result = CliRunner().invoke(cli, ["--log-json", "--verbose", "--redis-url", url, *args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    helpdesk = Helpdesk.from_url(redis_url)
    helpdesk.save_user("acme", "mia", "manager")
    helpdesk.save_user("acme", "ana", "agent")
    return redis_url


def test_the_cli_reads_the_secret_from_stdin_and_never_prints_or_logs_it(url: str) -> None:
    code, out, err = cli_run(url, "webhook-secret", "acme", "twilio", "set", "--actor", "mia", stdin=SECRET + "\n")
    assert (code, out) == (0, "twilio webhook secret of acme set\n")
    assert Helpdesk.from_url(url).webhook_secret("acme", "twilio") == SECRET  # the final line break is not kept
    outputs = [out, err]
    code, out, err = cli_run(url, "webhook-secret", "acme", "twilio", "set", "--actor", "mia", stdin=SECRET)
    assert out == "twilio webhook secret of acme unchanged (the same secret)\n"
    outputs += [out, err]
    code, out, err = cli_run(url, "webhook-secret", "acme", "list")
    assert out.splitlines()[0].split() == ["NAME", "SET", "SET", "AT", "SET", "BY"]
    assert out.splitlines()[1].split()[:2] == ["twilio", "yes"] and out.splitlines()[1].endswith("mia")
    assert out.splitlines()[2].split() == ["mailgun", "no", "-", "-"]
    outputs += [out, err, *cli_run(url, "webhook-secret", "acme", "list", "--json")[1:]]
    outputs += list(cli_run(url, "settings", "acme")[1:]) + list(cli_run(url, "events", "acme")[1:])
    assert "settings.webhook_secret" in "".join(outputs)  # the info line was logged, and searched
    assert all(SECRET not in text for text in outputs)
    assert "twilio set" in cli_run(url, "settings", "acme")[1]


def test_the_cli_clears_a_secret(url: str) -> None:
    cli_run(url, "webhook-secret", "acme", "webchat", "set", "--actor", "mia", stdin="wc-secret")
    assert cli_run(url, "webhook-secret", "acme", "webchat", "clear", "--actor", "mia")[1] == (
        "webchat webhook secret of acme cleared\n"
    )
    again = cli_run(url, "webhook-secret", "acme", "webchat", "clear", "--actor", "mia")
    assert again[1] == "no webchat secret was set\n"
    assert Helpdesk.from_url(url).webhook_secret("acme", "webchat") is None


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (("twilio", "set", "--actor", "ana"), SECRET, "error: ana is an agent; only owner, admin or manager may"),
        (("twilio", "set", "--actor", "zed"), SECRET, "error: unknown user zed in account acme"),
        (("twilio", "set", "--actor", "mia"), "", "error: no secret on standard input"),
        (("twilio", "set", "--actor", "mia"), "a\nb", "error: secret: use 1 to 512 printable characters"),
        (("twilio", "set"), SECRET, "error: give the action and the actor"),
        (("list", "set"), None, "error: `webhook-secret ACCOUNT list` takes no action"),
    ],
)
def test_the_cli_refuses_in_one_line_without_showing_the_secret(
    url: str, args: tuple[str, ...], stdin: str | None, words: str
) -> None:
    code, out, err = cli_run(url, "webhook-secret", "acme", *args, stdin=stdin)
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1].startswith(words)
    assert SECRET not in err
    assert Helpdesk.from_url(url).webhook_secret("acme", "twilio") is None


def test_an_unknown_name_is_a_usage_error(url: str) -> None:
    code, _out, err = cli_run(url, "webhook-secret", "acme", "slack", "set", "--actor", "mia", stdin=SECRET)
    assert code == 2 and "'slack' is not one of" in err
