"""Issue 16, parts 2 and 3 through the control API, the CLI and the jobs: ``customer_reply`` (validated, enqueued,
one job per reply), ``set_reassign_away`` / ``set_reassign_unanswered`` and their refusals, the settings view,
and a bad customer-reply job in the failed registry with its reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from rq import Queue
from rq.job import Job

from producers.queue import PROCESS_CUSTOMER_REPLY, QUEUE_NAME, SERIALIZER, enqueue_customer_reply
from schemas.common import AgentStatus, Role
from schemas.inbound import CustomerReply
from schemas.views import SettingsView
from tests.support.accounts import NOW, TicketFactory, setup_account
from tests.support.backends import NOT_ON_CLUSTER
from tests.support.cli import ok, refused
from tests.support.jobs import failure_reason, returned
from tests.support.reassign import assignments
from tests.support.snapshots import snapshot
from worker.api import Forbidden, Helpdesk, InvalidInput, UnknownAccount, UnknownTicket, UnknownUser
from worker.core.engine import Engine
from worker.core.keys import AccountKeys
from worker.runtime.runner import make_worker

pytestmark = pytest.mark.engine


@pytest.fixture(params=["real", "fake"])
def helpdesk(request: pytest.FixtureRequest) -> Helpdesk:
    client: redis.Redis = request.getfixturevalue("real_redis" if request.param == "real" else "fake_redis")
    helpdesk = Helpdesk.for_client(client)
    for user, role in [("max", Role.MANAGER), ("ana", Role.AGENT), ("ben", Role.AGENT), ("vic", Role.VIEWER)]:
        helpdesk.save_user("acme", user, role, now=NOW)
    return helpdesk


def test_a_customer_reply_is_enqueued_once_and_a_worker_reassigns_the_ticket(helpdesk: Helpdesk) -> None:
    helpdesk.set_round_robin("acme", True, "max", now=NOW)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    helpdesk.set_status("acme", "ben", AgentStatus.ONLINE, now=NOW)
    helpdesk.set_reassign_away("acme", True, 0, "max", now=NOW)
    helpdesk.submit_ticket({"account_id": "acme", "ticket_id": "t1", "channel": "email", "created_at": NOW}, now=NOW)
    helpdesk.drain()
    helpdesk.set_status("acme", "ana", AgentStatus.OFFLINE, now=NOW)
    later = NOW + timedelta(minutes=1)
    first = helpdesk.customer_reply("acme", "t1", later, now=later)
    again = helpdesk.customer_reply("acme", "t1", later.isoformat(), now=later)
    assert first.id == again.id  # the same reply: one job
    helpdesk.drain()
    assert assignments(helpdesk.state, "t1")[-1] == ("ben", "ana", "assignee_away")


def test_a_reopen_job_names_the_away_assignee_it_took_the_ticket_from(helpdesk: Helpdesk) -> None:
    helpdesk.set_round_robin("acme", True, "max", now=NOW)
    helpdesk.set_status("acme", "ana", AgentStatus.ONLINE, now=NOW)
    helpdesk.set_reassign_away("acme", True, 0, "max", now=NOW)
    helpdesk.submit_ticket({"account_id": "acme", "ticket_id": "t1", "channel": "email", "created_at": NOW}, now=NOW)
    helpdesk.close_ticket("acme", "t1", NOW, now=NOW)
    helpdesk.drain()
    helpdesk.set_status("acme", "ana", AgentStatus.OFFLINE, now=NOW)
    helpdesk.set_status("acme", "ben", AgentStatus.ONLINE, now=NOW)
    job = helpdesk.reopen_ticket("acme", "t1", NOW + timedelta(seconds=1), now=NOW + timedelta(seconds=1))
    helpdesk.drain()
    result = returned(Job.fetch(job.id, connection=helpdesk.state, serializer=SERIALIZER))
    assert (result["agent_id"], result["reassigned_from"]) == ("ben", "ana")


def test_settings_show_reassignment(helpdesk: Helpdesk) -> None:
    view = helpdesk.settings_view("acme")
    assert (view.reassign_away, view.reassign_away_grace_seconds) == (False, 0)
    assert (view.reassign_unanswered_after_seconds, view.reassign_unanswered_max) == (None, None)
    assert helpdesk.set_reassign_away("acme", True, 120, "max", now=NOW) is True
    assert helpdesk.set_reassign_unanswered("acme", 900, 2, "max", now=NOW) is True
    view = helpdesk.settings_view("acme")
    assert (view.reassign_away, view.reassign_away_grace_seconds) == (True, 120)
    assert (view.reassign_unanswered_after_seconds, view.reassign_unanswered_max) == (900, 2)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda h: h.set_reassign_away("acme", True, 0, "ana", now=NOW), Forbidden,
         "^ana is an agent; only owner, admin or manager may change reassignment$"),
        (lambda h: h.set_reassign_unanswered("acme", 60, 1, "vic", now=NOW), Forbidden,
         "^vic is a viewer; only owner, admin or manager may change reassignment$"),
        (lambda h: h.set_reassign_away("acme", True, 0, "ghost", now=NOW), UnknownUser, "^unknown user ghost"),
        (lambda h: h.set_reassign_away("acme", True, -1, "max", now=NOW), InvalidInput, r"\(got -1\)$"),
        (lambda h: h.set_reassign_away("acme", "yes", 0, "max", now=NOW), InvalidInput, r"\(got 'yes'\)$"),
        (lambda h: h.set_reassign_unanswered("acme", 0, 1, "max", now=NOW), InvalidInput, r"\(got 0\)$"),
        (lambda h: h.set_reassign_unanswered("acme", 1.5, 1, "max", now=NOW), InvalidInput, r"\(got 1.5\)$"),
        (lambda h: h.set_reassign_unanswered("acme", 60, 0, "max", now=NOW), InvalidInput, r"max: .*\(got 0\)$"),
        (lambda h: h.set_reassign_unanswered("ghostco", 60, 1, "max", now=NOW), UnknownAccount, "^unknown account"),
        (lambda h: h.customer_reply("acme", "nope", now=NOW), UnknownTicket, "^unknown ticket nope in acme"),
        (lambda h: h.customer_reply("ghostco", "t1", now=NOW), UnknownAccount, "^unknown account"),
        (lambda h: h.customer_reply("acme", "t1", "yesterday", now=NOW), InvalidInput, "at"),
    ],
    ids=["agent", "viewer", "ghost", "negative-grace", "not-bool", "zero-after", "fraction", "zero-max", "ghostco",
         "reply-unknown-ticket", "reply-ghostco", "reply-bad-at"],
)  # fmt: skip
def test_refusals_are_typed_one_line_and_change_nothing(
    helpdesk: Helpdesk, call: Callable[[Helpdesk], object], error: type[Exception], message: str
) -> None:
    before = snapshot(helpdesk.state)
    with pytest.raises(error, match=message):
        call(helpdesk)
    assert snapshot(helpdesk.state) == before


@NOT_ON_CLUSTER  # runs an RQ worker: RQ does not support Redis Cluster
def test_a_customer_reply_job_on_an_unknown_ticket_fails_once_with_its_reason(
    engine: Engine, client: redis.Redis, make_ticket: TicketFactory
) -> None:
    setup_account(engine, online=("ana",))
    engine.decide(make_ticket(ticket_id="t1"), NOW)
    now = NOW + timedelta(seconds=1)
    good = enqueue_customer_reply(CustomerReply(account_id="acme", ticket_id="t1", at=now), client)
    unknown = enqueue_customer_reply(CustomerReply(account_id="acme", ticket_id="nope", at=now), client)
    queue = Queue(QUEUE_NAME, connection=client, serializer=SERIALIZER)
    garbage = queue.enqueue(PROCESS_CUSTOMER_REPLY, {"ticket_id": "t1"})
    make_worker(client).work(burst=True)
    assert returned(Job.fetch(good.id, connection=client, serializer=SERIALIZER))["outcome"] == "kept"
    assert set(queue.failed_job_registry.get_job_ids()) == {unknown.id, garbage.id}
    assert "no such ticket nope" in failure_reason(Job.fetch(unknown.id, connection=client, serializer=SERIALIZER))
    assert "account_id" in failure_reason(Job.fetch(garbage.id, connection=client, serializer=SERIALIZER))


# --- the command line (real Redis) ------------------------------------------------------------------------------


@pytest.fixture
def url(real_redis: redis.Redis, redis_url: str) -> str:
    for user, role in [("max", "manager"), ("ana", "agent"), ("vic", "viewer")]:
        ok(redis_url, "user", "acme", user, "--role", role)
    return redis_url


def settings_rows(output: str) -> dict[str, str]:
    return {line[:13].strip(): line[14:] for line in output.splitlines()}


def test_the_cli_sets_both_settings_and_settings_shows_them(url: str) -> None:
    rows = settings_rows(ok(url, "settings", "acme"))
    assert (rows["reassign away"], rows["unanswered"]) == ("off", "off")
    assert ok(url, "reassign-away", "acme", "on", "--grace", "5m", "--actor", "max").strip() == (
        "reassign-away for acme: on, grace 5m"
    )
    assert ok(url, "reassign-away", "acme", "on", "--grace", "300s", "--actor", "max").strip().endswith("(unchanged)")
    assert ok(url, "reassign-unanswered", "acme", "--after", "15m", "--max", "2", "--actor", "max").strip() == (
        "reassign-unanswered for acme: after 15m, at most 2 times per ticket"
    )
    rows = settings_rows(ok(url, "settings", "acme"))
    assert (rows["reassign away"], rows["unanswered"]) == ("on, grace 5m", "after 15m, at most 2 times per ticket")
    view = SettingsView.model_validate_json(ok(url, "settings", "acme", "--json"))
    assert (view.reassign_away_grace_seconds, view.reassign_unanswered_after_seconds) == (300, 900)
    assert ok(url, "reassign-unanswered", "acme", "--off", "--actor", "max").strip() == (
        "reassign-unanswered for acme: off"
    )
    assert ok(url, "reassign-away", "acme", "off", "--actor", "max").strip() == "reassign-away for acme: off"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reassign-away", "acme", "on", "--grace", "0s", "--actor", "max"),
         "error: --grace 0s: is zero; write at least 1s, e.g. 90s, 15m, 2h or 1h30m, or leave --grace out for none"),
        (("reassign-away", "acme", "on", "--grace", "10", "--actor", "max"),
         "error: --grace 10: has no unit; write 10s, 10m or 10h"),
        (("reassign-away", "acme", "on", "--actor", "ana"),
         "error: ana is an agent; only owner, admin or manager may change reassignment"),
        (("reassign-unanswered", "acme", "--after", "15m", "--actor", "vic"),
         "error: vic is a viewer; only owner, admin or manager may change reassignment"),
        (("reassign-unanswered", "acme", "--actor", "max"),
         "error: give --after DURATION (e.g. --after 15m) or --off to turn reassign-unanswered off"),
        (("reassign-unanswered", "acme", "--after", "15m", "--off", "--actor", "max"),
         "error: give --after DURATION [--max N] or --off, not both"),
        (("reassign-unanswered", "acme", "--after", "1.5h", "--actor", "max"),
         "error: --after 1.5h: has a fraction; write 1h30m"),
        (("reassign-unanswered", "acme", "--after", "15m", "--max", "0", "--actor", "max"),
         "error: --max '0': use a whole number from 1 to 1000, e.g. 1 (how many times one ticket may be reassigned)"),
        (("reassign-unanswered", "acme", "--after", "15m", "--max", "two", "--actor", "max"),
         "error: --max 'two': use a whole number from 1 to 1000, e.g. 1 (how many times one ticket may be reassigned)"),
        (("customer-reply", "acme", "nope"), "error: unknown ticket nope in acme (never seen, or its record expired)"),
        (("customer-reply", "ghostco", "t1"), "error: unknown account 'ghostco'"),
    ],
    ids=["zero-grace", "no-unit", "agent", "viewer", "neither", "both", "fraction", "zero-max", "text-max",
         "unknown-ticket", "unknown-account"],
)  # fmt: skip
def test_cli_refusals_are_one_plain_line_and_change_nothing(
    url: str, real_redis: redis.Redis, args: tuple[str, ...], message: str
) -> None:
    before = snapshot(real_redis)
    assert refused(url, *args) == message
    assert snapshot(real_redis) == before


def test_customer_reply_on_the_command_line_is_enqueued(url: str, real_redis: redis.Redis) -> None:
    ok(url, "ticket", "acme", "t1", "--channel", "email", "--created-at", "2026-11-24T10:00:00Z")
    ok(url, "worker", "--burst")
    line = ok(url, "customer-reply", "acme", "t1", "--at", "2026-11-24T10:05:00Z").strip()
    assert line.startswith("enqueued customer reply on acme/t1 as job customer-reply-")
    ok(url, "worker", "--burst")
    stored = real_redis.hget(AccountKeys.for_account("acme").ticket("t1"), "customer_reply_at")
    assert stored == b"2026-11-24T10:05:00.000Z"
