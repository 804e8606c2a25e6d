"""The four channel adapters and the webhook payloads they accept (documented in docs/PRODUCERS.md).

Payload models forbid unknown fields like every inbound model: an integration that sends a
misspelt field finds out at once instead of losing data silently.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from producers.adapter import RAW_TEXT_MAX_LENGTH, ChannelAdapter, first_line
from schemas.common import AwareDatetime, Channel, Identifier
from schemas.inbound import SUBJECT_MAX_LENGTH, _not_in_future
from schemas.plain import explained, shown

Text = Annotated[str, StringConstraints(max_length=RAW_TEXT_MAX_LENGTH)]
ADDRESS_PATTERN = explained(
    r"^[^@\s]+@[^@\s]+$", lambda value: f"{shown(value)} is not an email address, e.g. jo@example.com"
)
PHONE_PATTERN = explained(
    r"^\+[1-9][0-9]{6,14}$",
    lambda value: f"{shown(value)} is not a phone number in E.164 form (+, then 7-15 digits), e.g. +15551234567",
)
Address = Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=ADDRESS_PATTERN)]
PhoneNumber = Annotated[str, StringConstraints(pattern=PHONE_PATTERN)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
_STRICT = ConfigDict(extra="forbid", frozen=True)


class EmailWebhook(BaseModel):
    """An inbound email, as a mail provider's inbound-parse webhook delivers it."""

    model_config = _STRICT
    ticket_id: Identifier = Field(description="Ticket id the helpdesk gave this email's conversation.")
    message_id: ExternalId = Field(description="The email's Message-ID header.")
    from_address: Address = Field(description="Sender address.")
    to_address: Address = Field(description="The support address it was sent to.")
    subject: Text | None = Field(default=None, description="Subject line (we keep its first 500 characters).")
    received_at: AwareDatetime = Field(description="When the mail server received it (timezone-aware).")
    _future = field_validator("received_at")(_not_in_future)


class WebchatWebhook(BaseModel):
    """A new webchat conversation started by a site visitor."""

    model_config = _STRICT
    ticket_id: Identifier = Field(description="Ticket id the helpdesk gave the conversation.")
    conversation_id: ExternalId = Field(description="The chat widget's conversation id.")
    visitor_id: ExternalId = Field(description="The chat widget's visitor id.")
    visitor_name: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Name the visitor gave, if any."
    )
    first_message: Text | None = Field(default=None, description="The visitor's first message.")
    started_at: AwareDatetime = Field(description="When the visitor started the chat: the arrival time.")
    _future = field_validator("started_at")(_not_in_future)


class SmsWebhook(BaseModel):
    """An inbound SMS, as an SMS gateway's messaging webhook delivers it."""

    model_config = _STRICT
    ticket_id: Identifier = Field(description="Ticket id the helpdesk gave the SMS thread.")
    message_sid: ExternalId = Field(description="The gateway's message id.")
    from_number: PhoneNumber = Field(description="Sender, E.164 (+15551234567).")
    to_number: PhoneNumber = Field(description="The support number, E.164.")
    body: Text = Field(description="Message text.")
    received_at: AwareDatetime = Field(description="When the gateway received it (timezone-aware).")
    _future = field_validator("received_at")(_not_in_future)


class SocialWebhook(BaseModel):
    """A direct message or mention on a social network."""

    model_config = _STRICT
    ticket_id: Identifier = Field(description="Ticket id the helpdesk gave the thread.")
    network: Literal["facebook", "instagram", "x", "whatsapp", "linkedin", "tiktok"] = Field(
        description="The social network."
    )
    message_id: ExternalId = Field(description="The network's message or post id.")
    author_handle: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The author's handle on the network."
    )
    text: Text = Field(description="Message text.")
    created_time: AwareDatetime = Field(description="When the message was posted (timezone-aware).")
    _future = field_validator("created_time")(_not_in_future)


class EmailAdapter(ChannelAdapter[EmailWebhook]):
    channel: ClassVar[Channel] = Channel.EMAIL
    payload_model = EmailWebhook

    def fields(self, payload: EmailWebhook) -> dict[str, Any]:
        return {
            "ticket_id": payload.ticket_id,
            "created_at": payload.received_at,
            "subject": first_line(payload.subject),
        }


class WebchatAdapter(ChannelAdapter[WebchatWebhook]):
    channel: ClassVar[Channel] = Channel.WEBCHAT
    payload_model = WebchatWebhook

    def fields(self, payload: WebchatWebhook) -> dict[str, Any]:
        return {
            "ticket_id": payload.ticket_id,
            "created_at": payload.started_at,
            "subject": first_line(payload.first_message, SUBJECT_MAX_LENGTH),
        }


class SmsAdapter(ChannelAdapter[SmsWebhook]):
    channel: ClassVar[Channel] = Channel.SMS
    payload_model = SmsWebhook

    def fields(self, payload: SmsWebhook) -> dict[str, Any]:
        return {"ticket_id": payload.ticket_id, "created_at": payload.received_at, "subject": first_line(payload.body)}


class SocialAdapter(ChannelAdapter[SocialWebhook]):
    channel: ClassVar[Channel] = Channel.SOCIAL
    payload_model = SocialWebhook

    def fields(self, payload: SocialWebhook) -> dict[str, Any]:
        return {
            "ticket_id": payload.ticket_id,
            "created_at": payload.created_time,
            "subject": first_line(payload.text),
        }


ADAPTERS: dict[Channel, ChannelAdapter[Any]] = {
    Channel.EMAIL: EmailAdapter(),
    Channel.WEBCHAT: WebchatAdapter(),
    Channel.SMS: SmsAdapter(),
    Channel.SOCIAL: SocialAdapter(),
}
