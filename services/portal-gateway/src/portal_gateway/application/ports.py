"""What the portal pages and the merchant API need from the rest of the gateway.

The portal (``portal_gateway.portal``) renders pages from these read models and sends commands
through :class:`CommandGateway`; the adapters implement them over the gateway's projections and
its outbox. Keeping the seam here lets each side be tested without the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from billing_events.envelope import EventData


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    slug: str
    name: str
    logo_url: str | None = None
    brand_color: str | None = None
    support_email: str | None = None
    # When a portal cancellation takes effect: "at_period_end" or "immediately".
    cancel_mode: str = "at_period_end"


@dataclass(frozen=True)
class CardView:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class InvoiceView:
    invoice_id: str
    number: str
    issued_at: datetime
    amount: int  # minor units
    currency: str
    status: str  # open | paid | uncollectible | void
    plan_name: str | None
    subscription_id: str | None


@dataclass(frozen=True)
class SubscriptionView:
    subscription_id: str
    customer_id: str
    status: str  # incomplete | incomplete_expired | active | on_hold | canceled
    plan_id: str
    plan_name: str
    plan_description: str
    plan_image_url: str | None
    amount: int  # minor units, per interval
    currency: str
    interval: str  # month | year
    current_period_start: datetime | None
    current_period_end: datetime | None
    next_renewal_at: datetime | None  # None when nothing will renew
    next_renewal_amount: int | None
    cancel_at: datetime | None  # a scheduled cancellation
    canceled_at: datetime | None
    cancellation_reason: str | None
    payment_method: CardView | None
    version: int  # stream version the projection has applied


@dataclass(frozen=True)
class CustomerView:
    customer_id: str
    merchant_id: str
    email: str
    name: str
    phone: str | None
    locale: str


@dataclass(frozen=True)
class PortalOverview:
    merchant: Merchant
    customer: CustomerView
    subscriptions: list[SubscriptionView]
    invoices: list[InvoiceView]
    payment_methods: list[CardView] = field(default_factory=list)
    # The merchant's test clock (development and tests): its subscriptions live at this time.
    # None: no test clock, the wall clock is the merchant's time.
    test_clock: datetime | None = None
    # What this overview was made from, such that two overviews with the same revision are
    # the same in every field (the PostgreSQL adapter: the text of the data it read). What is
    # derived from the overview alone (the rendered page) may be reused for the same revision.
    # None: the source cannot tell, and nothing is reused.
    revision: str | None = field(default=None, compare=False, repr=False)

    def merchant_now(self, wall_clock: datetime) -> datetime:
        """The time the merchant's billing decisions are made at (card expiry included)."""
        return self.test_clock if self.test_clock is not None else wall_clock


class PortalQueries(Protocol):
    """Reads for the portal, always scoped to one merchant and one customer."""

    async def overview(self, merchant_id: str, customer_id: str) -> PortalOverview | None: ...

    async def subscription(
        self, merchant_id: str, customer_id: str, subscription_id: str
    ) -> SubscriptionView | None: ...


@dataclass(frozen=True)
class CommandOutcome:
    command_id: uuid.UUID
    accepted: bool
    code: str | None = None  # set when rejected or timed out
    message: str | None = None
    event_types: tuple[str, ...] = ()


class CommandGateway(Protocol):
    """Sends a command to the owning service and waits (bounded) until the gateway's own
    projection has seen its outcome: the events it caused, or its rejection."""

    async def send(
        self,
        command: EventData,
        *,
        stream_id: str,
        merchant_id: str,
        correlation_id: uuid.UUID | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome: ...
