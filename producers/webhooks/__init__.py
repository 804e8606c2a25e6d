"""Provider webhooks, verified: each provider's real signature checked, its payload mapped through the
channel adapters to ``TicketCreated`` (docs/WEBHOOKS.md). Pure functions: the HTTP layer passes the raw
request parts, the account's secret and ``now``, and turns a ``WebhookError`` into its ``status``.
"""

from producers.webhooks.common import (
    REPLAY_WINDOW,
    BadSignature,
    BadVerifyToken,
    InvalidPayload,
    WebhookError,
    derived_ticket_id,
)
from producers.webhooks.mailgun import mailgun_signature, mailgun_ticket, verify_mailgun
from producers.webhooks.meta import meta_signature, meta_tickets, verify_meta, verify_subscription
from producers.webhooks.twilio_sms import twilio_signature, twilio_ticket, verify_twilio
from producers.webhooks.webchat import verify_webchat, webchat_signature, webchat_ticket

__all__ = [
    "REPLAY_WINDOW",
    "BadSignature",
    "BadVerifyToken",
    "InvalidPayload",
    "WebhookError",
    "derived_ticket_id",
    "mailgun_signature",
    "mailgun_ticket",
    "meta_signature",
    "meta_tickets",
    "twilio_signature",
    "twilio_ticket",
    "verify_mailgun",
    "verify_meta",
    "verify_subscription",
    "verify_twilio",
    "verify_webchat",
    "webchat_signature",
    "webchat_ticket",
]
