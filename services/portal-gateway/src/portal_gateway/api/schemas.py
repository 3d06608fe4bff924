"""The merchant and admin API's request and response bodies, as documented in /schema.

Requests forbid unknown fields so a typo is an error, not a silently ignored option. Money is
an integer amount in the currency's minor unit (cents for USD) plus an ISO-4217 code; times
are ISO-8601 in UTC.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
)

from billing_events.contract.events import CancellationReason

CurrencyIn = Annotated[
    str,
    # Upper-cased first: "usd" is as good as "USD".
    BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO-4217 currency code, e.g. USD", examples=["USD"]),
]
Amount = Annotated[
    int,
    Field(
        ge=0,
        le=99_999_999_999,
        description="integer amount in the currency's minor unit (cents for USD)",
        examples=[2999],
    ),
]
LocaleIn = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$"),
    Field(description="language of emails and the portal: en, es, pt, fr...", examples=["en"]),
]
HttpUrl = Annotated[
    str,
    StringConstraints(max_length=2000, pattern=r"^https?://[^\s/$.?#][^\s]*$"),
    Field(description="an absolute http(s) URL"),
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Response(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- errors ----------------------------------------------------------------------------


class ErrorDetail(Response):
    code: str = Field(description="stable, machine-readable error code", examples=["not_found"])
    message: str = Field(description="what went wrong, for a human")
    param: str | None = Field(default=None, description="the request field at fault")


class ErrorBody(Response):
    error: ErrorDetail


class Processing(Response):
    """202: accepted and durably queued, but the outcome was not seen within the bounded wait.
    Poll the resource by ``id`` (or retry with the same Idempotency-Key)."""

    id: str
    object: str
    status: Literal["processing"] = "processing"
    code: Literal["timeout"] = "timeout"
    message: str


# --- plans -----------------------------------------------------------------------------


class PlanCreate(Request):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    image_url: HttpUrl | None = None
    amount: Amount
    currency: CurrencyIn
    interval: Literal["month", "year"]


class PlanOut(Response):
    id: str
    object: Literal["plan"] = "plan"
    name: str
    description: str
    image_url: str | None
    amount: int
    currency: str
    interval: str
    created_at: datetime


# --- customers -------------------------------------------------------------------------


class CustomerCreate(Request):
    email: EmailStr
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    locale: LocaleIn = "en"


class CustomerOut(Response):
    id: str
    object: Literal["customer"] = "customer"
    email: str
    name: str
    phone: str | None
    locale: str


# --- payment methods -------------------------------------------------------------------


class CardIn(Request):
    """Raw card details. They go to the payment processor to be tokenized and are never
    stored, logged or forwarded: only the token, brand, last4 and expiry are kept."""

    number: SecretStr = Field(description="card number, digits (spaces or hyphens allowed)")
    exp_month: int = Field(description="1 to 12")
    exp_year: int = Field(description="four digits (two digits are read as 20xx)")
    cvc: SecretStr = Field(description="3 digits (4 for American Express)")

    @field_validator("number", "cvc", mode="before")
    @classmethod
    def _digits_as_text(cls, value: Any) -> Any:
        # Accept a JSON number too, without the error message ever quoting the value.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class PaymentMethodCreate(Request):
    customer: Id
    card: CardIn


class CardOut(Response):
    id: str = Field(description="the payment method id (processor token)")
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentMethodOut(CardOut):
    object: Literal["payment_method"] = "payment_method"
    customer: str


# --- subscriptions ---------------------------------------------------------------------


class SubscriptionCreate(Request):
    customer: Id
    plan: Id
    payment_method: Id


class SubscriptionCancel(Request):
    at_period_end: bool = Field(
        default=False,
        description="true: cancel when the paid period ends; false: cancel now",
    )
    reason: CancellationReason | None = None
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class SubscriptionPaymentMethodUpdate(Request):
    payment_method: Id = Field(description="one of the subscription's customer's cards, pm_...")


class PlanSummary(Response):
    id: str
    name: str
    description: str
    image_url: str | None
    amount: int
    currency: str
    interval: str


class SubscriptionOut(Response):
    id: str
    object: Literal["subscription"] = "subscription"
    customer: str
    status: Literal["incomplete", "incomplete_expired", "active", "on_hold", "canceled"]
    plan: PlanSummary
    payment_method: CardOut | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    next_renewal_at: datetime | None = Field(description="None when nothing will renew")
    next_renewal_amount: int | None = Field(description="what the next renewal will charge")
    cancel_at: datetime | None = Field(description="a scheduled cancellation")
    canceled_at: datetime | None
    cancellation_reason: str | None
    cancellation_comment: str | None
    latest_invoice: str | None
    created_at: datetime
    version: int = Field(description="stream version the gateway's view has applied")


class EventOut(Response):
    id: uuid.UUID
    type: str
    version: int = Field(description="position in the stream, from 1")
    schema_version: int
    occurred_at: datetime
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None
    data: dict[str, Any]


class EventList(Response):
    object: Literal["list"] = "list"
    stream_id: str
    data: list[EventOut]


# --- invoices --------------------------------------------------------------------------


class InvoiceOut(Response):
    id: str
    object: Literal["invoice"] = "invoice"
    number: str
    customer: str
    subscription: str | None
    reason: str = Field(
        description="why it was issued: subscription_create (first period), "
        "subscription_cycle (a renewal)...",
    )
    status: Literal["open", "paid", "uncollectible"]
    amount_due: int = Field(description="minor units")
    amount_paid: int = Field(description="minor units")
    currency: str
    plan_name: str | None
    issued_at: datetime = Field(description="in the merchant's time (its test clock, if set)")
    period_start: datetime | None
    period_end: datetime | None
    paid_at: datetime | None
    attempt_count: int = Field(description="failed charge attempts so far")
    last_decline_code: str | None
    last_decline_message: str | None


class InvoiceList(Response):
    object: Literal["list"] = "list"
    data: list[InvoiceOut] = Field(description="newest first")
    has_more: bool = Field(description="more invoices exist than `limit` returned")


# --- portal sessions -------------------------------------------------------------------


class PortalSessionCreate(Request):
    customer: Id
    return_url: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        default=None, description="absolute http(s) URL for the portal's 'return' link"
    )
    locale: Annotated[str, StringConstraints(max_length=20)] | None = Field(
        default=None,
        description="portal language: en, es, pt, fr (optionally with a region, e.g. pt-BR) "
        "or auto (the customer's, then the browser's)",
    )


class PortalSessionOut(Response):
    id: str
    object: Literal["portal_session"] = "portal_session"
    customer: str
    url: str = Field(description="single-customer portal link; unused, it expires in 5 minutes")
    expires_at: datetime
    return_url: str | None
    locale: str | None


# --- admin -----------------------------------------------------------------------------


class MerchantCreate(Request):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    slug: (
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")] | None
    ) = Field(default=None, description="lower-case letters, digits, hyphens")
    support_email: EmailStr | None = None
    logo_url: HttpUrl | None = None
    brand_color: Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None
    cancel_mode: Literal["immediately", "at_period_end"] = "at_period_end"


class MerchantCreated(Response):
    id: str
    object: Literal["merchant"] = "merchant"
    slug: str
    name: str
    api_key: str = Field(description="the secret key, shown only this once")


class TestClockAdvance(Request):
    advance_to: AwareDatetime = Field(
        description="the merchant's new time, ISO-8601 with a timezone. The first setting may "
        "be in the past; after that only forward, at most 5 years per advance.",
        examples=["2030-01-31T00:00:00Z"],
    )


class TestClockOut(Response):
    __test__: ClassVar[bool] = False  # a response body, not a pytest test class

    object: Literal["test_clock"] = "test_clock"
    merchant_id: str
    frozen_time: datetime | None = Field(
        description="the merchant's time; null: no test clock, it lives in wall-clock time"
    )


class RebuildStarted(Response):
    generation: int
    consumer_group: str
