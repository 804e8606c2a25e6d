"""What every channel adapter shares: validate the channel's raw webhook payload, map it to a
``TicketCreated``, enqueue it. Each channel module only declares its payload model and mapping."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

import redis
from pydantic import BaseModel
from rq.job import Job

from producers.queue import enqueue
from schemas.common import Channel
from schemas.inbound import SUBJECT_MAX_LENGTH, TicketCreated

PayloadT = TypeVar("PayloadT", bound=BaseModel)

RAW_TEXT_MAX_LENGTH = 10_000
"""Longest free text (message body, first chat line) an adapter accepts from a webhook."""


def first_line(text: str | None, limit: int = SUBJECT_MAX_LENGTH) -> str | None:
    """The subject we keep from a message body: its first non-empty line, cut to ``limit`` chars."""
    if not text:
        return None
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:limit]
    return None


class ChannelAdapter(ABC, Generic[PayloadT]):
    """Turns one channel's webhook payload into a ticket-created event."""

    channel: ClassVar[Channel]
    payload_model: type[PayloadT]

    def parse(self, payload: Mapping[str, Any], now: datetime | None = None) -> PayloadT:
        context = {"now": now} if now is not None else None
        return self.payload_model.model_validate(dict(payload), context=context)

    @abstractmethod
    def fields(self, payload: PayloadT) -> dict[str, Any]:
        """``ticket_id``, ``created_at`` and ``subject`` taken from the channel's payload."""

    def to_ticket(self, account_id: str, payload: Mapping[str, Any], now: datetime | None = None) -> TicketCreated:
        """Validate ``payload`` and build the event (raises ``pydantic.ValidationError``; nothing is sent)."""
        parsed = self.parse(payload, now)
        context = {"now": now} if now is not None else None
        return TicketCreated.model_validate(
            {"account_id": account_id, "channel": self.channel, **self.fields(parsed)}, context=context
        )

    def enqueue(
        self, account_id: str, payload: Mapping[str, Any], connection: redis.Redis, now: datetime | None = None
    ) -> Job:
        """Validate, then enqueue; on invalid input raises before anything reaches Redis."""
        return enqueue(self.to_ticket(account_id, payload, now), connection)
