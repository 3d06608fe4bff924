"""Read models the merchant API shows beyond those the portal shares (``ports``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal_gateway.application.ports import SubscriptionView


@dataclass(frozen=True)
class PlanView:
    plan_id: str
    merchant_id: str
    name: str
    description: str
    image_url: str | None
    amount: int
    currency: str
    interval: str
    created_at: datetime


@dataclass(frozen=True)
class SubscriptionDetail:
    """A subscription with what support needs besides what the portal shows."""

    view: SubscriptionView
    merchant_id: str
    created_at: datetime
    cancellation_comment: str | None
    activation_failure_code: str | None
    activation_failure_message: str | None
    latest_invoice_id: str | None


@dataclass(frozen=True)
class HistoryEntry:
    """One stored event of a stream, as the gateway's history projection recorded it."""

    stream_id: str
    version: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    occurred_at: datetime
    merchant_id: str
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None
    data: dict[str, Any]


@dataclass(frozen=True)
class InvoiceDetail:
    """An invoice as the merchant API shows it: amounts, period, payment state."""

    invoice_id: str
    merchant_id: str
    customer_id: str
    subscription_id: str | None
    number: str
    reason: str  # subscription_create | subscription_cycle | ...
    status: str  # open | paid | uncollectible
    amount_due: int  # minor units
    amount_paid: int
    currency: str
    plan_name: str | None
    issued_at: datetime
    period_start: datetime | None
    period_end: datetime | None
    paid_at: datetime | None
    failed_attempts: int
    last_decline_code: str | None
    last_decline_message: str | None


@dataclass(frozen=True)
class TestClockView:
    """A merchant's test clock: the time its subscriptions live in (development and tests)."""

    __test__ = False  # a read model, not a pytest test class

    merchant_id: str
    frozen_time: datetime
    advanced_at: datetime  # when it was last moved, in the merchant's time
    version: int
