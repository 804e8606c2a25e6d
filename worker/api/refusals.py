"""Every expected failure below the API becomes one typed ``HelpdeskError`` with a one-line message.

The CLI prints ``error: <message>``, an HTTP edge answers with it, a platform's backend catches the
class: all three see the same words, so they are written once, here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from producers.queue import EnqueueFailed
from schemas.common import check_id
from worker.core.queries import Queries
from worker.errors import HelpdeskError, InvalidInput, Unavailable, UnknownAccount, UnknownUser, validation_summary
from worker.ops.redis_errors import UnsafeDirectory
from worker.redaction import redacted

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def typed_refusals(where: Callable[[], str]) -> Iterator[None]:
    """Map validation, bad ids, unreachable Redis and failed enqueues to ``HelpdeskError`` subclasses.

    ``where`` names the Redis for the message; it is called only when Redis was unreachable. Every
    message is redacted (worker/redaction.py): a URL's password never reaches a caller's output."""
    try:
        yield
    except HelpdeskError:
        raise
    except ValidationError as error:
        raise InvalidInput(validation_summary(error)) from None
    except (EnqueueFailed, UnsafeDirectory) as error:  # UnsafeDirectory: the embedded server's (one line)
        raise Unavailable(redacted(str(error))) from None
    except (RedisConnectionError, RedisTimeoutError, RedisClusterException) as error:
        # RedisClusterException: a redis+cluster:// URL none of whose nodes answers
        raise Unavailable(redacted(f"cannot reach Redis at {where()}: {error}")) from None
    except ValueError as error:  # ids (check_id), periods, office-hours specs: one line each
        raise InvalidInput(redacted(str(error))) from None


class Located(Protocol):
    """Anything that can say which Redis it talks to (for the "cannot reach Redis at …" message)."""

    def redis_location(self) -> str: ...


S = TypeVar("S", bound=Located)


def refusing(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Decorate an API method: its expected failures come out as typed ``HelpdeskError``s."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with typed_refusals(self.redis_location):
            return method(self, *args, **kwargs)

    return wrapper


def known_account(queries: Queries, account_id: str) -> None:
    """Refuse with ``UnknownAccount`` an account nobody set up (no users). Every ``Helpdesk`` method on
    an account checks it but ``save_user`` (which creates accounts), the failed-job methods (the jobs
    of such an account are listed there) and ``reset_account``."""
    check_id("account", account_id)
    if not queries.has_users(account_id):
        raise UnknownAccount(f"unknown account '{account_id}'")


@contextmanager
def account_checked_on_refusal(queries: Queries, account_id: str) -> Iterator[None]:
    """For writes made in one Lua call. The scripts' refusal names only the unknown user: this names the
    account too (``unknown user ana in account acme``), or refuses the account itself when nobody set it
    up. The account is looked at only then, so a call that succeeds costs no extra round trip."""
    try:
        yield
    except UnknownUser as error:
        known_account(queries, account_id)
        raise UnknownUser(f"{error} in account {account_id}") from None
