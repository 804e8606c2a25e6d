"""The control API's settings routes: the settings page. One ``PUT`` per policy (idempotent: the same body
twice changes nothing the second time, ``changed: false``), each by an owner, admin or manager named in
``X-Actor``, each the one ``Helpdesk`` method the CLI's command calls."""

from __future__ import annotations

from fastapi import APIRouter

from schemas.control import (
    CapacityBody,
    Changed,
    EnabledBody,
    PresenceTimeoutBody,
    ReassignAwayBody,
    ReassignUnansweredBody,
)
from schemas.office_hours import OfficeHours
from schemas.views import SettingsView
from worker.http.control_base import Actor, Desk, Now, account_router

_router = account_router("settings")


@_router.get("/settings", summary="The settings, and what they mean now (open now? next opening?)")
def settings(account: str, desk: Desk, now: Now) -> SettingsView:
    """What `helpdesk-rr settings ACCOUNT --json` prints: every policy, plus webchat's office hours now."""
    return desk.settings_view(account, now=now)


@_router.put("/settings/round-robin", summary="Round robin on or off")
def set_round_robin(account: str, body: EnabledBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    return Changed(changed=desk.set_round_robin(account, body.enabled, actor, now=now))


@_router.put("/settings/office-hours", summary="Replace the office hours gating webchat")
def set_office_hours(account: str, body: OfficeHours, actor: Actor, desk: Desk, now: Now) -> Changed:
    """The body is the `office_hours` object `GET …/settings` answers (a zone, weekly intervals, closed dates):
    read, edit, write back. Intervals may be written `"09:00-17:00"`."""
    return Changed(changed=desk.set_office_hours(account, body, actor, now=now))


@_router.delete("/settings/office-hours", summary="Remove the office hours (webchat always open)")
def clear_office_hours(account: str, actor: Actor, desk: Desk, now: Now) -> Changed:
    return Changed(changed=desk.set_office_hours(account, None, actor, now=now))


@_router.put("/settings/capacity", summary="The account's capacity: most open tickets per agent")
def set_capacity(account: str, body: CapacityBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    """`null` clears it (refused with 409 while auto-assign is on)."""
    return Changed(changed=desk.set_capacity(account, body.capacity, actor, now=now))


@_router.put("/settings/auto-assign", summary="Release waiting tickets as agents have room")
def set_auto_assign(account: str, body: EnabledBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    """Turning it on needs the account's capacity (409 otherwise)."""
    return Changed(changed=desk.set_auto_assign(account, body.enabled, actor, now=now))


@_router.put("/settings/presence-timeout", summary="Set silent Online agents Offline after this long")
def set_presence_timeout(account: str, body: PresenceTimeoutBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    return Changed(changed=desk.set_presence_timeout(account, body.seconds, actor, now=now))


@_router.put("/settings/reassign-away", summary="Reassign a ticket whose assignee is away when the customer writes")
def set_reassign_away(account: str, body: ReassignAwayBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    return Changed(changed=desk.set_reassign_away(account, body.enabled, body.grace_seconds, actor, now=now))


@_router.put("/settings/reassign-unanswered", summary="Reassign a ticket without a first reply in time")
def set_reassign_unanswered(account: str, body: ReassignUnansweredBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    changed = desk.set_reassign_unanswered(account, body.after_seconds, body.max, actor, now=now)
    return Changed(changed=changed)


def router() -> APIRouter:
    return _router
