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
