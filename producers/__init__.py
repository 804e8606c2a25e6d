"""Channel adapters and the enqueue API that integrations import.

from producers import ADAPTERS, enqueue, enqueue_many, build_ticket
ADAPTERS[Channel.EMAIL].enqueue("acme", webhook_payload, redis_client)
"""

from producers.channels import (
    ADAPTERS,
    EmailAdapter,
    EmailWebhook,
    SmsAdapter,
    SmsWebhook,
    SocialAdapter,
    SocialWebhook,
    WebchatAdapter,
    WebchatWebhook,
)
from producers.lanes import Pushed, push, push_many
from producers.queue import (
    PROCESS_TICKET,
    QUEUE_NAME,
    EnqueueFailed,
    build_ticket,
    enqueue,
    enqueue_close,
    enqueue_customer_reply,
    enqueue_first_reply,
    enqueue_many,
    enqueue_reopen,
    ticket_queue,
)

__all__ = [
    "ADAPTERS",
    "PROCESS_TICKET",
    "QUEUE_NAME",
    "EmailAdapter",
    "EnqueueFailed",
    "Pushed",
    "EmailWebhook",
    "SmsAdapter",
    "SmsWebhook",
    "SocialAdapter",
    "SocialWebhook",
    "WebchatAdapter",
    "WebchatWebhook",
    "build_ticket",
    "enqueue",
    "enqueue_close",
    "enqueue_customer_reply",
    "enqueue_first_reply",
    "enqueue_many",
    "enqueue_reopen",
    "push",
    "push_many",
    "ticket_queue",
]
