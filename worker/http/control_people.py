"""The control API's people routes: users and their roles, Online/Offline, heartbeats, and what one agent
takes (their channels, their own capacity). Each calls the one ``Helpdesk`` method the CLI calls."""

from __future__ import annotations

from fastapi import APIRouter

from schemas.control import CapacityBody, Changed, ChannelsBody, HeartbeatBody, RoleBody, StatusBody, UserSavedBody
from schemas.views import UserView
from worker.http.control_base import Actor, Desk, MaybeActor, Now, account_router

_router = account_router("people")


@_router.get("/users", summary="Users: role, status, turn, load, capacity, last heartbeat")
def users(account: str, desk: Desk, now: Now) -> list[UserView]:
    """Every user by id, as `helpdesk-rr users ACCOUNT --json` prints them (`next_rank` 1 is next)."""
    return desk.users(account, now=now)


@_router.put("/users/{user}", summary="Create or update a user (operator provisioning: no actor)")
def save_user(account: str, user: str, body: RoleBody, desk: Desk, now: Now) -> UserSavedBody:
    """Your platform's user sync: creates the user, or changes their role (a demotion to viewer takes an Online
    user Offline). Like `helpdesk-rr user`, it names no actor: whoever holds the account's key provisions."""
    saved = desk.save_user(account, user, body.role, now=now)
    return UserSavedBody(
        user_id=user,
        role=body.role,
        previous_role=saved.previous_role,
        went_offline=saved.went_offline,
        changed=saved.changed,
    )


@_router.put("/users/{user}/status", summary="Set a user Online or Offline (the Inbox toggle)")
def set_status(account: str, user: str, body: StatusBody, desk: Desk, now: Now, actor: MaybeActor = None) -> Changed:
    """The user themself, or an owner, admin or manager for someone else (`X-Actor`; default: the user)."""
    return Changed(changed=desk.set_status(account, user, body.status, actor, now=now))


@_router.post("/users/{user}/heartbeat", summary="The user's app is open (never sets anyone Online)")
def heartbeat(account: str, user: str, desk: Desk, now: Now) -> HeartbeatBody:
    """Call it every so often while the agent's app is open, well within the presence timeout. No actor."""
    return HeartbeatBody(online=desk.heartbeat(account, user, now=now))


@_router.put("/users/{user}/channels", summary="The channels an agent takes (per-channel pools)")
def set_channels(account: str, user: str, body: ChannelsBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    """Owner, admin or manager. `null` (or all four channels): every channel again, the default."""
    return Changed(changed=desk.set_agent_channels(account, user, body.channels, actor, now=now))


@_router.put("/users/{user}/capacity", summary="One agent's own capacity (overrides the account's)")
def set_agent_capacity(account: str, user: str, body: CapacityBody, actor: Actor, desk: Desk, now: Now) -> Changed:
    """Owner, admin or manager; the user must be an agent or higher. `null` clears the override."""
    return Changed(changed=desk.set_capacity(account, body.capacity, actor, agent_id=user, now=now))


def router() -> APIRouter:
    return _router
