"""Keeps the service's projection current from the events of the four topics it consumes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import structlog

from billing_events.contract.events import (
    CustomerProfileUpdated,
    CustomerRegistered,
    InvoiceIssued,
    MerchantRegistered,
    PlanChanged,
    SubscriptionCreated,
)
from billing_events.envelope import Envelope
from notifications.application.ports import Projection
from notifications.domain import projection as records

log = structlog.stdlib.get_logger(__name__)


class RecordKind(StrEnum):
    MERCHANT = "merchant"
    CUSTOMER = "customer"
    INVOICE = "invoice"
    SUBSCRIPTION = "subscription"


# The events ``project`` keeps something of.
PROJECTED_EVENTS = (
    MerchantRegistered
    | CustomerRegistered
    | CustomerProfileUpdated
    | InvoiceIssued
    | SubscriptionCreated
    | PlanChanged
)


@dataclass(frozen=True)
class Updated:
    """A record the projection just wrote: mails waiting for it may now be written."""

    kind: RecordKind
    merchant_id: str
    record_id: str


async def project(envelope: Envelope, projection: Projection) -> Updated | None:
    """Fold ``envelope`` into the projection; the record written, if any.

    Events the projection does not keep (most of them) and events older than the stored
    record (a replay) change nothing.
    """
    data = envelope.data
    merchant_id = envelope.merchant_id
    version = envelope.stream_version
    if isinstance(data, MerchantRegistered):
        written = await projection.save_merchant(records.merchant_registered(data), version)
        return _updated(written, RecordKind.MERCHANT, data.merchant_id, data.merchant_id)
    if isinstance(data, CustomerRegistered):
        customer = records.customer_registered(data)
        written = await projection.save_customer(merchant_id, customer, version)
        return _updated(written, RecordKind.CUSTOMER, merchant_id, data.customer_id)
    if isinstance(data, CustomerProfileUpdated):
        current = await projection.customer(merchant_id, data.customer_id)
        updated = records.customer_profile_updated(current, data)
        if updated is None:
            log.warning(
                "profile update of an unknown customer lacks email or name; ignored",
                customer_id=data.customer_id,
            )
            return None
        written = await projection.save_customer(merchant_id, updated, version)
        return _updated(written, RecordKind.CUSTOMER, merchant_id, data.customer_id)
    if isinstance(data, InvoiceIssued):
        written = await projection.save_invoice(merchant_id, records.invoice_issued(data), version)
        return _updated(written, RecordKind.INVOICE, merchant_id, data.invoice_id)
    if isinstance(data, SubscriptionCreated):
        written = await projection.save_subscription(
            merchant_id, records.subscription_created(data), version
        )
        return _updated(written, RecordKind.SUBSCRIPTION, merchant_id, data.subscription_id)
    if isinstance(data, PlanChanged):
        current_subscription = await projection.subscription(merchant_id, data.subscription_id)
        changed = records.plan_changed(current_subscription, data)
        if changed is None:
            log.warning(
                "plan change of an unknown subscription; ignored",
                subscription_id=data.subscription_id,
            )
            return None
        written = await projection.save_subscription(merchant_id, changed, version)
        return _updated(written, RecordKind.SUBSCRIPTION, merchant_id, data.subscription_id)
    return None


def _updated(written: bool, kind: RecordKind, merchant_id: str, record_id: str) -> Updated | None:
    return Updated(kind, merchant_id, record_id) if written else None
