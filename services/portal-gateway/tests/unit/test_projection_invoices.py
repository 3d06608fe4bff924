"""Unit tests of the gateway's invoice read model (domain.invoices)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    ChargeFailed,
    ChargeSucceeded,
    InvoiceIssued,
    InvoiceLine,
    InvoiceMarkedUncollectible,
    InvoicePaid,
    SubscriptionCanceled,
)
from portal_gateway.domain.invoices import (
    InvoiceStatus,
    UnexpectedInvoiceEvent,
    apply,
    start,
)

T0 = datetime(2025, 1, 15, 9, tzinfo=UTC)
CARD = CardSummary(payment_method_id="pm_1", brand="visa", last4="0002", exp_month=1, exp_year=2030)
ISSUED = InvoiceIssued(
    invoice_id="in_1",
    number="ACME-0001",
    customer_id="cus_1",
    subscription_id="sub_1",
    reason="subscription_create",
    lines=(InvoiceLine(description="Pro", amount=2999, plan_id="plan_pro"),),
    amount_due=2999,
    currency="USD",
    issued_at=T0,
    plan_name="Pro",
)


def test_an_issued_invoice_is_open_with_its_number_amount_and_plan() -> None:
    record = start(ISSUED, merchant_id="mer_1", version=1)
    assert record.status is InvoiceStatus.OPEN
    assert (record.number, record.amount_due, record.currency) == ("ACME-0001", 2999, "USD")
    assert record.plan_name == "Pro"
    assert record.subscription_id == "sub_1"


def test_failed_charges_are_counted_then_payment_settles_it() -> None:
    record = start(ISSUED, merchant_id="mer_1", version=1)
    record = apply(
        record,
        ChargeFailed(
            invoice_id="in_1",
            charge_id="ch_1",
            amount=2999,
            currency="USD",
            payment_method=CARD,
            decline_code="card_declined",
            message="Declined.",
        ),
        version=2,
    )
    assert record.status is InvoiceStatus.OPEN
    assert (record.failed_attempts, record.last_decline_code) == (1, "card_declined")
    record = apply(
        record,
        ChargeSucceeded(
            invoice_id="in_1", charge_id="ch_2", amount=2999, currency="USD", payment_method=CARD
        ),
        version=3,
    )
    record = apply(
        record,
        InvoicePaid(
            invoice_id="in_1",
            customer_id="cus_1",
            subscription_id="sub_1",
            amount_paid=2999,
            currency="USD",
            paid_at=T0,
        ),
        version=4,
    )
    assert record.status is InvoiceStatus.PAID
    assert record.amount_paid == 2999
    assert record.paid_at == T0
    assert record.version == 4


def test_uncollectible() -> None:
    record = start(ISSUED, merchant_id="mer_1", version=1)
    record = apply(record, InvoiceMarkedUncollectible(invoice_id="in_1"), version=2)
    assert record.status is InvoiceStatus.UNCOLLECTIBLE


def test_an_event_of_another_stream_is_refused() -> None:
    record = start(ISSUED, merchant_id="mer_1", version=1)
    with pytest.raises(UnexpectedInvoiceEvent):
        apply(
            record,
            SubscriptionCanceled(subscription_id="sub_1", customer_id="cus_1", canceled_at=T0),
            version=2,
        )
