"""The public billing events, version 1 of each unless the class says otherwise.

Names, fields and meanings here are a published contract: other services subscribe to them.
Add optional fields freely; any other change needs a new schema_version and an upcaster.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, EmailStr, Field

from billing_events.contract.common import (
    Address,
    CardSummary,
    CurrencyCode,
    Identifier,
    Interval,
    Locale,
    MinorUnits,
    PlanSnapshot,
    Value,
)
from billing_events.envelope import EventData, event

# --- merchants and plans ---------------------------------------------------------------


@event
class MerchantRegistered(EventData):
    event_type: ClassVar[str] = "MerchantRegistered"
    merchant_id: Identifier
    slug: Identifier
    name: str
    support_email: EmailStr | None = None
    logo_url: str | None = None
    brand_color: str | None = None


@event
class PlanCreated(EventData):
    event_type: ClassVar[str] = "PlanCreated"
    plan_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    image_url: str | None = None
    amount: MinorUnits
    currency: CurrencyCode
    interval: Interval


# --- customers ------------------------------------------------------------------------


@event
class CustomerRegistered(EventData):
    event_type: ClassVar[str] = "CustomerRegistered"
    customer_id: Identifier
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = None
    locale: Locale = "en"


@event
class CustomerProfileUpdated(EventData):
    """Only the fields that changed are set."""

    event_type: ClassVar[str] = "CustomerProfileUpdated"
    customer_id: Identifier
    email: EmailStr | None = None
    name: str | None = None
    phone: str | None = None
    locale: Locale | None = None
    billing_address: Address | None = None
    tax_id: str | None = None


@event
class PaymentMethodAttached(EventData):
    event_type: ClassVar[str] = "PaymentMethodAttached"
    customer_id: Identifier
    card: CardSummary


# --- subscriptions --------------------------------------------------------------------


@event
class SubscriptionCreated(EventData):
    event_type: ClassVar[str] = "SubscriptionCreated"
    subscription_id: Identifier
    customer_id: Identifier
    plan: PlanSnapshot
    payment_method: CardSummary


@event
class SubscriptionActivated(EventData):
    event_type: ClassVar[str] = "SubscriptionActivated"
    subscription_id: Identifier
    invoice_id: Identifier
    current_period_start: AwareDatetime
    current_period_end: AwareDatetime


@event
class SubscriptionActivationFailed(EventData):
    """The first charge failed: the subscription never became active."""

    event_type: ClassVar[str] = "SubscriptionActivationFailed"
    subscription_id: Identifier
    invoice_id: Identifier
    decline_code: str
    message: str


@event
class SubscriptionRenewed(EventData):
    """A new period began; invoicing bills it (the invoice refers to this subscription and
    period, so the subscription does not need to know the invoice's id)."""

    event_type: ClassVar[str] = "SubscriptionRenewed"
    subscription_id: Identifier
    current_period_start: AwareDatetime
    current_period_end: AwareDatetime


@event
class PlanChanged(EventData):
    event_type: ClassVar[str] = "PlanChanged"
    subscription_id: Identifier
    from_plan: PlanSnapshot
    to_plan: PlanSnapshot
    effective_at: AwareDatetime
    proration_amount: int = Field(description="minor units; negative is a credit")


@event
class PaymentMethodUpdated(EventData):
    event_type: ClassVar[str] = "PaymentMethodUpdated"
    subscription_id: Identifier
    customer_id: Identifier
    payment_method: CardSummary


CancellationReason = Literal[
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
]


@event
class CancellationScheduled(EventData):
    event_type: ClassVar[str] = "CancellationScheduled"
    subscription_id: Identifier
    cancel_at: AwareDatetime
    reason: CancellationReason | None = None
    comment: str | None = Field(default=None, max_length=2000)


@event
class CancellationRevoked(EventData):
    event_type: ClassVar[str] = "CancellationRevoked"
    subscription_id: Identifier


@event
class SubscriptionCanceled(EventData):
    event_type: ClassVar[str] = "SubscriptionCanceled"
    subscription_id: Identifier
    customer_id: Identifier
    canceled_at: AwareDatetime
    reason: CancellationReason | None = None
    comment: str | None = Field(default=None, max_length=2000)
    at_period_end: bool = False


@event
class SubscriptionPutOnHold(EventData):
    event_type: ClassVar[str] = "SubscriptionPutOnHold"
    subscription_id: Identifier
    invoice_id: Identifier
    amount_due: MinorUnits
    currency: CurrencyCode


@event
class SubscriptionReactivated(EventData):
    event_type: ClassVar[str] = "SubscriptionReactivated"
    subscription_id: Identifier
    invoice_id: Identifier
    current_period_start: AwareDatetime
    current_period_end: AwareDatetime


class RetentionOffer(Value):
    kind: Literal["coupon", "cheaper_plan", "pause"]
    percent_off: int | None = Field(default=None, ge=1, le=100)
    duration_in_periods: int | None = Field(default=None, ge=1)
    plan_id: Identifier | None = None


@event
class RetentionOfferAccepted(EventData):
    event_type: ClassVar[str] = "RetentionOfferAccepted"
    subscription_id: Identifier
    offer: RetentionOffer


@event
class LicenseKeyIssued(EventData):
    event_type: ClassVar[str] = "LicenseKeyIssued"
    subscription_id: Identifier
    customer_id: Identifier
    license_key: str
    activation_limit: int | None = Field(default=None, ge=1)


# --- invoices and charges -------------------------------------------------------------


class InvoiceLine(Value):
    description: str
    amount: int = Field(description="minor units; negative for credits")
    quantity: int = Field(default=1, ge=1)
    plan_id: Identifier | None = None
    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None


InvoiceReason = Literal[
    "subscription_create", "subscription_cycle", "subscription_update", "arrears"
]


@event
class InvoiceIssued(EventData):
    event_type: ClassVar[str] = "InvoiceIssued"
    invoice_id: Identifier
    number: str
    customer_id: Identifier
    subscription_id: Identifier | None = None
    reason: InvoiceReason
    lines: tuple[InvoiceLine, ...]
    amount_due: MinorUnits
    currency: CurrencyCode
    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None
    issued_at: AwareDatetime
    plan_name: str | None = None


@event
class ChargeSucceeded(EventData):
    event_type: ClassVar[str] = "ChargeSucceeded"
    invoice_id: Identifier
    charge_id: Identifier
    amount: MinorUnits
    currency: CurrencyCode
    payment_method: CardSummary


@event
class ChargeFailed(EventData):
    event_type: ClassVar[str] = "ChargeFailed"
    invoice_id: Identifier
    charge_id: Identifier
    amount: MinorUnits
    currency: CurrencyCode
    payment_method: CardSummary
    decline_code: str
    message: str
    attempt: int = Field(default=1, ge=1)


@event
class InvoicePaid(EventData):
    event_type: ClassVar[str] = "InvoicePaid"
    invoice_id: Identifier
    customer_id: Identifier
    subscription_id: Identifier | None = None
    amount_paid: MinorUnits
    currency: CurrencyCode
    paid_at: AwareDatetime


@event
class InvoiceMarkedUncollectible(EventData):
    event_type: ClassVar[str] = "InvoiceMarkedUncollectible"
    invoice_id: Identifier
    subscription_id: Identifier | None = None


# --- test clocks ----------------------------------------------------------------------


@event
class TestClockAdvanced(EventData):
    """A merchant's test clock now reads ``frozen_time`` (stream ``clock-<merchant_id>``).

    From the first of these on, the merchant's time is the latest ``frozen_time`` instead of
    the wall clock: renewals, expiries and dunning retries of its subscriptions fall due
    against it, and the events they cause carry it as ``occurred_at``.
    """

    # Not a pytest test class, whatever its name says.
    __test__: ClassVar[bool] = False

    event_type: ClassVar[str] = "TestClockAdvanced"
    merchant_id: Identifier
    frozen_time: AwareDatetime


# --- command outcomes -----------------------------------------------------------------


@event
class CommandRejected(EventData):
    """A command was refused; the target stream is unchanged. Matched by causation_id."""

    event_type: ClassVar[str] = "CommandRejected"
    command_id: Identifier
    command_type: str
    code: str
    message: str
