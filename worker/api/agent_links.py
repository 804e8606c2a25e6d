"""``Helpdesk.agent_link``/``verify_agent_token``/``revoke_agent_links``/``agent_view`` (a mixin): the agent page's
verbs (docs/HTTP.md, "The agent page"; docs/SECURITY.md, "Agent links").

An agent link is made by an operator (``helpdesk-rr agent-link``, a platform's backend) for one user of one
account, and lets whoever holds it see that user's status, open tickets and toasts, and set that user Online
or Offline — nothing else. Links are for users who can take tickets (agent and above): a viewer's page would
have nothing to show but a toggle that is always refused, so a viewer gets none (``Forbidden``). A user
demoted after their link was made keeps a working link, and the page shows the toggle disabled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from schemas.agent import AgentLink, AgentView, OpenTickets
from schemas.common import AgentStatus, check_id
from worker.api.refusals import known_account, refusing
from worker.config import Settings
from worker.core.agent_links import AgentLinkKeys, claims_of
from worker.core.engine import utc_now
from worker.core.open_tickets import is_online, newest_event_id, open_tickets
from worker.core.queries import Queries
from worker.errors import Forbidden, InvalidInput, Unauthorized, UnknownUser

MIN_HOURS, MAX_HOURS, DEFAULT_HOURS = 1, 720, 12
NOT_VALID = "this agent link is not valid (it was altered, revoked, or never issued): ask for a new one"
EXPIRED = "this agent link expired at {at}: ask for a new one (`helpdesk-rr agent-link ACCOUNT USER`)"


class _Host(Protocol):
    config: Settings

    @property
    def state(self) -> Any: ...

    @property
    def queries(self) -> Queries: ...

    def redis_location(self) -> str: ...


def _keys(host: _Host) -> AgentLinkKeys:
    return AgentLinkKeys(host.state, host.config.partitions)


def _known_user(host: _Host, account_id: str, user_id: str) -> Any:
    check_id("account", account_id)
    check_id("user", user_id)
    known_account(host.queries, account_id)
    role = host.queries.role(account_id, user_id)
    if role is None:
        raise UnknownUser(f"unknown user {user_id} in account {account_id}")
    return role


class AgentLinksApi:
    """Agent links and the reads behind the agent page, on a host with ``state``, ``queries`` and ``config``."""

    @refusing
    def agent_link(
        self: _Host, account_id: str, user_id: str, hours: int = DEFAULT_HOURS, now: datetime | None = None
    ) -> AgentLink:
        """A token for ``user_id``'s agent page, valid ``hours`` (1–720) from ``now``."""
        if not MIN_HOURS <= hours <= MAX_HOURS:
            raise InvalidInput(f"hours: a link lasts {MIN_HOURS} to {MAX_HOURS} hours (got {hours})")
        role = _known_user(self, account_id, user_id)
        if not role.can_be_online:
            raise Forbidden(f"{user_id} is a {role.value}: agent links are for users who take tickets (agent or above)")
        expires = int((now or utc_now()).timestamp()) + hours * 3600
        token = _keys(self).sign(account_id, user_id, expires)
        return AgentLink(
            account_id=account_id, user_id=user_id, token=token, expires_at=datetime.fromtimestamp(expires, UTC)
        )

    @refusing
    def revoke_agent_links(self: _Host, account_id: str) -> None:
        """Replace the account's signing key: every agent link made so far stops working at once."""
        check_id("account", account_id)
        known_account(self.queries, account_id)
        _keys(self).rotate(account_id)

    @refusing
    def verify_agent_token(self: _Host, token: str, now: datetime | None = None) -> tuple[str, str]:
        """``(account, user)`` of a live token; ``Unauthorized`` for a malformed, forged, revoked or expired one
        (expiry is told only once the signature holds, so a forger learns nothing)."""
        claims = _keys(self).verify(token) if _valid_ids(token) else None
        if claims is None:
            raise Unauthorized(NOT_VALID)
        moment = now or utc_now()
        if claims.expires <= moment.timestamp():
            at = datetime.fromtimestamp(claims.expires, UTC).isoformat().replace("+00:00", "Z")
            raise Unauthorized(EXPIRED.format(at=at))
        return claims.account_id, claims.user_id

    @refusing
    def open_tickets(self: _Host, account_id: str, user_id: str) -> OpenTickets:
        """``user_id``'s open tickets (assigned to them, not closed), newest assignment first."""
        _known_user(self, account_id, user_id)
        return open_tickets(self.state, account_id, user_id, self.config.partitions)

    @refusing
    def agent_view(self: _Host, account_id: str, user_id: str) -> AgentView:
        """What the agent page shows: role, status and open tickets."""
        role = _known_user(self, account_id, user_id)
        online = is_online(self.state, account_id, user_id, self.config.partitions)
        return AgentView(
            account_id=account_id,
            user_id=user_id,
            role=role,
            status=AgentStatus.ONLINE if online else AgentStatus.OFFLINE,
            can_be_online=role.can_be_online,
            open_tickets=open_tickets(self.state, account_id, user_id, self.config.partitions),
        )

    @refusing
    def newest_event_id(self: _Host, account_id: str) -> str:
        """The id of the account's newest event (``0-0``: none yet): a live reader that has no position starts
        after it (worker/http/toasts.py)."""
        check_id("account", account_id)
        known_account(self.queries, account_id)
        return newest_event_id(self.state, account_id, self.config.partitions)

    @refusing
    def check_user(self: _Host, account_id: str, user_id: str) -> None:
        """Refuse (``UnknownAccount``/``UnknownUser``) unless ``user_id`` is a user of ``account_id``."""
        _known_user(self, account_id, user_id)


def _valid_ids(token: str) -> bool:
    """Whether the token's account and user are ids at all (a forged token must not build a key name)."""
    claims = claims_of(token)
    if claims is None:
        return False
    try:
        check_id("account", claims.account_id)
        check_id("user", claims.user_id)
    except ValueError:
        return False
    return True
