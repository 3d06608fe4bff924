"""What to bill for a subscription's periods: the first invoice when it starts, then one cycle
invoice per renewal, each one line for the plan's price over the period.

Invoice ids follow from what they bill (see :mod:`invoicing.domain.identity`): the first
invoice from the subscription, a cycle invoice from the subscription and its period's start.
A renewal delivered twice therefore names the same invoice, never a second one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from billing_events.contract.common import PlanSnapshot
from billing_events.contract.events import (
    InvoiceLine,
    InvoiceReason,
    SubscriptionCreated,
    SubscriptionRenewed,
)
from invoicing.domain.billing_terms import BillableTerms
from invoicing.domain.identity import invoice_id_for
from invoicing.domain.invoice import IssueInvoice
from invoicing.domain.periods import period_end

FIRST_INVOICE_REASON: Final[InvoiceReason] = "subscription_create"
CYCLE_INVOICE_REASON: Final[InvoiceReason] = "subscription_cycle"


def first_invoice_id(merchant_id: str, subscription_id: str) -> str:
    return invoice_id_for(merchant_id, subscription_id, FIRST_INVOICE_REASON)


def cycle_invoice_id(merchant_id: str, subscription_id: str, period_start: datetime) -> str:
    return invoice_id_for(merchant_id, subscription_id, CYCLE_INVOICE_REASON, period_start)


def line_description(plan_name: str, start: datetime, end: datetime) -> str:
    """``Premium (2025-06-15 - 2025-07-15)``: dates, not words, so no locale is assumed; the
    portal and the PDFs render the period in the reader's language from the line's dates."""
    return f"{plan_name} ({start.date().isoformat()} - {end.date().isoformat()})"


def plan_line(plan: PlanSnapshot, start: datetime, end: datetime) -> InvoiceLine:
    """The plan's price for [start, end)."""
    return InvoiceLine(
        description=line_description(plan.name, start, end),
        amount=plan.amount,
        quantity=1,
        plan_id=plan.plan_id,
        period_start=start,
        period_end=end,
    )


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
    return IssueInvoice(
        invoice_id=first_invoice_id(merchant_id, created.subscription_id),
        number=number,
        customer_id=created.customer_id,
        subscription_id=created.subscription_id,
        reason=FIRST_INVOICE_REASON,
        lines=(plan_line(plan, start, end),),
        currency=plan.currency,
        issued_at=issued_at,
        period_start=start,
        period_end=end,
        plan_name=plan.name,
    )


def cycle_invoice(
    renewed: SubscriptionRenewed,
    terms: BillableTerms,
    *,
    merchant_id: str,
    number: str,
    issued_at: datetime,
) -> IssueInvoice:
    """The invoice for the period ``renewed`` begins, at the plan the subscription is on now.

    The period is the subscription's own (its service anchors renewals on the day the cycle
    started), not recomputed here, so invoice and subscription always name the same dates.
    """
    plan = terms.plan
    start, end = renewed.current_period_start, renewed.current_period_end
    return IssueInvoice(
        invoice_id=cycle_invoice_id(merchant_id, renewed.subscription_id, start),
        number=number,
        customer_id=terms.customer_id,
        subscription_id=renewed.subscription_id,
        reason=CYCLE_INVOICE_REASON,
        lines=(plan_line(plan, start, end),),
        currency=plan.currency,
        issued_at=issued_at,
        period_start=start,
        period_end=end,
        plan_name=plan.name,
    )
