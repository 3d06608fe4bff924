"""The first invoice of a new subscription."""

from __future__ import annotations

from datetime import UTC, datetime

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import InvoiceIssued, SubscriptionCreated
from invoicing.domain.identity import invoice_id_for
from invoicing.domain.invoice import INITIAL, decide
from invoicing.domain.subscription_billing import first_invoice, first_invoice_id

CREATED_AT = datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
ISSUED_AT = datetime(2025, 1, 31, 10, 0, 2, tzinfo=UTC)


def created(interval: str = "month", amount: int = 2999) -> SubscriptionCreated:
    return SubscriptionCreated(
        subscription_id="sub_1",
        customer_id="cus_1",
        plan=PlanSnapshot(
            plan_id="plan_1",
            name="Premium Monthly",
            amount=amount,
            currency="EUR",
            interval=interval,  # type: ignore[arg-type]
        ),
        payment_method=CardSummary(
            payment_method_id="pm_x", brand="visa", last4="4242", exp_month=1, exp_year=2030
        ),
    )


def test_the_first_invoice_bills_the_plan_for_its_first_period() -> None:
    command = first_invoice(
        created(),
        merchant_id="mer_1",
        created_at=CREATED_AT,
        number="ABCDEFGH-000007",
        issued_at=ISSUED_AT,
    )
    [issued] = decide(command, INITIAL)
    assert isinstance(issued, InvoiceIssued)
    end = datetime(2025, 2, 28, 10, 0, tzinfo=UTC)
    assert issued.invoice_id == invoice_id_for("mer_1", "sub_1", "subscription_create")
    assert issued.invoice_id == first_invoice_id("mer_1", "sub_1")
    assert (issued.reason, issued.number, issued.issued_at) == (
        "subscription_create",
        "ABCDEFGH-000007",
        ISSUED_AT,
    )
    assert (issued.customer_id, issued.subscription_id, issued.plan_name) == (
        "cus_1",
        "sub_1",
        "Premium Monthly",
    )
    assert (issued.amount_due, issued.currency) == (2999, "EUR")
    assert (issued.period_start, issued.period_end) == (CREATED_AT, end)
    [line] = issued.lines
    assert line.description == "Premium Monthly (2025-01-31 - 2025-02-28)"
    assert (line.amount, line.quantity, line.plan_id) == (2999, 1, "plan_1")
    assert (line.period_start, line.period_end) == (CREATED_AT, end)


def test_a_yearly_plan_is_billed_for_a_year() -> None:
    command = first_invoice(
        created("year"), merchant_id="m", created_at=CREATED_AT, number="N", issued_at=ISSUED_AT
    )
    assert command.period_end == datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
