"""What to bill when a subscription starts: its first invoice, for the plan's first period."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from billing_events.contract.events import InvoiceLine, InvoiceReason, SubscriptionCreated
from invoicing.domain.identity import invoice_id_for
from invoicing.domain.invoice import IssueInvoice
from invoicing.domain.periods import period_end

FIRST_INVOICE_REASON: Final[InvoiceReason] = "subscription_create"


def first_invoice_id(merchant_id: str, subscription_id: str) -> str:
    return invoice_id_for(merchant_id, subscription_id, FIRST_INVOICE_REASON)


def line_description(plan_name: str, start: datetime, end: datetime) -> str:
    """``Premium (2025-06-15 - 2025-07-15)``: dates, not words, so no locale is assumed; the
    portal and the PDFs render the period in the reader's language from the line's dates."""
    return f"{plan_name} ({start.date().isoformat()} - {end.date().isoformat()})"


def first_invoice(
    created: SubscriptionCreated,
    *,
    merchant_id: str,
    created_at: datetime,
    number: str,
    issued_at: datetime,
) -> IssueInvoice:
    """The invoice opening ``created``: one line, the plan's price for [created_at, +interval)."""
    plan = created.plan
    start = created_at
    end = period_end(start, plan.interval)
    line = InvoiceLine(
        description=line_description(plan.name, start, end),
        amount=plan.amount,
        quantity=1,
        plan_id=plan.plan_id,
        period_start=start,
        period_end=end,
    )
    return IssueInvoice(
        invoice_id=first_invoice_id(merchant_id, created.subscription_id),
        number=number,
        customer_id=created.customer_id,
        subscription_id=created.subscription_id,
        reason=FIRST_INVOICE_REASON,
        lines=(line,),
        currency=plan.currency,
        issued_at=issued_at,
        period_start=start,
        period_end=end,
        plan_name=plan.name,
    )
