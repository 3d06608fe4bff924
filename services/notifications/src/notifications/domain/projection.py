"""The notifications service's own view of merchants, customers, invoices and subscriptions.

Only what mail needs is kept: who to write to and in which language, whose brand to write
under, and what an invoice or a subscription was for. Each function folds one event into the
record it concerns; records are immutable and the functions pure, so the adapters only load
and store them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from billing_events.contract.events import (
    CustomerProfileUpdated,
    CustomerRegistered,
    InvoiceIssued,
    MerchantRegistered,
    PlanChanged,
    SubscriptionCreated,
)


@dataclass(frozen=True)
class MerchantProfile:
    merchant_id: str
    name: str
    support_email: str | None = None
    logo_url: str | None = None
    brand_color: str | None = None


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    email: str
    name: str
    locale: str = "en"


@dataclass(frozen=True)
class InvoiceLineItem:
    description: str
    amount: int
    """Minor units for the whole line (quantity included); negative for a credit."""
    quantity: int = 1
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass(frozen=True)
class InvoiceRecord:
    invoice_id: str
    number: str
    customer_id: str
    currency: str
    amount_due: int
    issued_at: datetime
    lines: tuple[InvoiceLineItem, ...] = ()
    subscription_id: str | None = None
    plan_name: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass(frozen=True)
class SubscriptionRecord:
    subscription_id: str
    customer_id: str
    plan_id: str
    plan_name: str


def merchant_registered(event: MerchantRegistered) -> MerchantProfile:
    return MerchantProfile(
        merchant_id=event.merchant_id,
        name=event.name,
        support_email=str(event.support_email) if event.support_email else None,
        logo_url=event.logo_url,
        brand_color=event.brand_color,
    )


def customer_registered(event: CustomerRegistered) -> CustomerProfile:
    return CustomerProfile(
        customer_id=event.customer_id, email=str(event.email), name=event.name, locale=event.locale
    )


def customer_profile_updated(
    current: CustomerProfile | None, event: CustomerProfileUpdated
) -> CustomerProfile | None:
    """Apply the fields that changed. None when the customer is unknown and the update alone
    does not say enough (email and name) to write to them."""
    if current is None:
        if event.email is None or event.name is None:
            return None
        current = CustomerProfile(event.customer_id, str(event.email), event.name)
    return dataclasses.replace(
        current,
        email=str(event.email) if event.email is not None else current.email,
        name=event.name if event.name is not None else current.name,
        locale=event.locale if event.locale is not None else current.locale,
    )


def invoice_issued(event: InvoiceIssued) -> InvoiceRecord:
    return InvoiceRecord(
        invoice_id=event.invoice_id,
        number=event.number,
        customer_id=event.customer_id,
        currency=event.currency,
        amount_due=event.amount_due,
        issued_at=event.issued_at,
        lines=tuple(
            InvoiceLineItem(
                description=line.description,
                amount=line.amount,
                quantity=line.quantity,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for line in event.lines
        ),
        subscription_id=event.subscription_id,
        plan_name=event.plan_name,
        period_start=event.period_start,
        period_end=event.period_end,
    )


def subscription_created(event: SubscriptionCreated) -> SubscriptionRecord:
    return SubscriptionRecord(
        subscription_id=event.subscription_id,
        customer_id=event.customer_id,
        plan_id=event.plan.plan_id,
        plan_name=event.plan.name,
    )


def plan_changed(
    current: SubscriptionRecord | None, event: PlanChanged
) -> SubscriptionRecord | None:
    """The subscription now on the new plan; None when the subscription is unknown."""
    if current is None:
        return None
    return dataclasses.replace(current, plan_id=event.to_plan.plan_id, plan_name=event.to_plan.name)
