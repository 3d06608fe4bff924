"""The gateway's view of an invoice, folded from the invoice stream's events (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from billing_events.contract.events import (
    ChargeFailed,
    ChargeSucceeded,
    InvoiceIssued,
    InvoiceMarkedUncollectible,
    InvoicePaid,
)
from billing_events.envelope import EventData


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"


@dataclass(frozen=True)
class InvoiceRecord:
    invoice_id: str
    merchant_id: str
    customer_id: str
    subscription_id: str | None
    number: str
    reason: str
    status: InvoiceStatus
    amount_due: int
    amount_paid: int
    currency: str
    plan_name: str | None
    issued_at: datetime
    period_start: datetime | None
    period_end: datetime | None
    version: int
    paid_at: datetime | None = None
    failed_attempts: int = 0
    last_decline_code: str | None = None
    last_decline_message: str | None = None


class UnexpectedInvoiceEvent(ValueError):
    """An event that does not belong to an invoice stream."""


def start(event: InvoiceIssued, *, merchant_id: str, version: int) -> InvoiceRecord:
    return InvoiceRecord(
        invoice_id=event.invoice_id,
        merchant_id=merchant_id,
        customer_id=event.customer_id,
        subscription_id=event.subscription_id,
        number=event.number,
        reason=event.reason,
        status=InvoiceStatus.OPEN,
        amount_due=event.amount_due,
        amount_paid=0,
        currency=event.currency,
        plan_name=event.plan_name,
        issued_at=event.issued_at,
        period_start=event.period_start,
        period_end=event.period_end,
        version=version,
    )


def apply(record: InvoiceRecord, event: EventData, *, version: int) -> InvoiceRecord:
    match event:
        case InvoiceIssued():
            changed = record
        case ChargeFailed():
            changed = replace(
                record,
                failed_attempts=record.failed_attempts + 1,
                last_decline_code=event.decline_code,
                last_decline_message=event.message,
            )
        case ChargeSucceeded():
            changed = record  # InvoicePaid follows and says so
        case InvoicePaid():
            changed = replace(
                record,
                status=InvoiceStatus.PAID,
                amount_paid=event.amount_paid,
                paid_at=event.paid_at,
            )
        case InvoiceMarkedUncollectible():
            changed = replace(record, status=InvoiceStatus.UNCOLLECTIBLE)
        case _:
            raise UnexpectedInvoiceEvent(f"{event.event_type} is not an invoice event")
    return replace(changed, version=version)
