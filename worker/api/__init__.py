"""The control API: ``from worker.api import Helpdesk``.

Everything that changes or reads helpdesk state goes through ``Helpdesk`` (docs/API.md). Expected
failures are the typed errors re-exported here, each with a one-line message.
"""

from worker.api.helpdesk import Helpdesk, UserSaved
from worker.core.bulk import BulkJobFailed, EmptyTeam, NothingToAssign, UnknownTeam
from worker.core.engine import utc_now
from worker.errors import (
    Forbidden,
    HelpdeskError,
    InvalidInput,
    Refused,
    Unauthorized,
    Unavailable,
    UnknownAccount,
    UnknownJob,
    UnknownTicket,
    UnknownUser,
)

__all__ = [
    "BulkJobFailed",
    "EmptyTeam",
    "Forbidden",
    "Helpdesk",
    "HelpdeskError",
    "InvalidInput",
    "NothingToAssign",
    "Refused",
    "Unauthorized",
    "Unavailable",
    "UnknownAccount",
    "UnknownJob",
    "UnknownTeam",
    "UnknownTicket",
    "UnknownUser",
    "UserSaved",
    "utc_now",
]
