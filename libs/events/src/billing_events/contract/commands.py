"""Commands: requests to the service that owns a stream, sent over Kafka.

A command travels in the same :class:`~billing_events.envelope.Envelope` as an event: its
``event_id`` is the command id, ``stream_id`` names the target stream, ``stream_version`` is 0.
Every event the owner writes because of a command carries the command id as ``causation_id``
and the command's ``correlation_id``; a refused command yields a ``CommandRejected`` event on
the target stream's topic (not stored in the stream), so the sender always hears back.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, EmailStr, Field

from billing_events.contract.common import (
    CardSummary,
    CurrencyCode,
    Identifier,
    Interval,
    Locale,
    MinorUnits,
)
from billing_events.contract.events import CancellationReason
from billing_events.envelope import EventData, EventModel, EventRegistry

command_registry = EventRegistry()


def command(cls: EventModel) -> EventModel:
    command_registry.register(cls)
    return cls


@command
class CreatePlan(EventData):
    event_type: ClassVar[str] = "CreatePlan"
    plan_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    image_url: str | None = None
    amount: MinorUnits
    currency: CurrencyCode
    interval: Interval


@command
class RegisterCustomer(EventData):
    event_type: ClassVar[str] = "RegisterCustomer"
    customer_id: Identifier
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    locale: Locale = "en"


@command
class AttachPaymentMethod(EventData):
    event_type: ClassVar[str] = "AttachPaymentMethod"
    customer_id: Identifier
    card: CardSummary


@command
class CreateSubscription(EventData):
    event_type: ClassVar[str] = "CreateSubscription"
    subscription_id: Identifier
    customer_id: Identifier
    plan_id: Identifier
    payment_method_id: Identifier


@command
class CancelSubscription(EventData):
    event_type: ClassVar[str] = "CancelSubscription"
    subscription_id: Identifier
    at_period_end: bool = False
    reason: CancellationReason | None = None
    comment: str | None = Field(default=None, max_length=2000)


@command
class UpdateSubscriptionPaymentMethod(EventData):
    """Charge the subscription from now on to another card already attached to its customer."""

    event_type: ClassVar[str] = "UpdateSubscriptionPaymentMethod"
    subscription_id: Identifier
    payment_method_id: Identifier


@command
class AdvanceTestClock(EventData):
    """Move a merchant's test clock forward to ``advance_to`` (target stream
    ``clock-<merchant_id>``); development and tests only. Never backwards."""

    event_type: ClassVar[str] = "AdvanceTestClock"
    merchant_id: Identifier
    advance_to: AwareDatetime
