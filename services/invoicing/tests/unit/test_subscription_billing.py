"""The invoices of a subscription's periods: the first one, then one per renewal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import InvoiceIssued, SubscriptionCreated, SubscriptionRenewed
from invoicing.domain.billing_terms import BillableTerms
from invoicing.domain.errors import Rejected
from invoicing.domain.identity import invoice_id_for
from invoicing.domain.invoice import INITIAL, decide
from invoicing.domain.subscription_billing import (
    cycle_invoice,
    cycle_invoice_id,
    first_invoice,
    first_invoice_id,
)

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


RENEWED_AT = datetime(2025, 2, 28, 10, 0, tzinfo=UTC)
NEXT_END = datetime(2025, 3, 31, 10, 0, tzinfo=UTC)


def renewed(start: datetime = RENEWED_AT, end: datetime = NEXT_END) -> SubscriptionRenewed:
    return SubscriptionRenewed(
        subscription_id="sub_1", current_period_start=start, current_period_end=end
    )


def terms(amount: int = 4900) -> BillableTerms:
    subscription = created(amount=amount)
    return BillableTerms("cus_1", subscription.plan, subscription.payment_method)


def test_a_renewal_bills_the_current_plan_for_the_period_it_began() -> None:
    command = cycle_invoice(
        renewed(), terms(4900), merchant_id="mer_1", number="ABCDEFGH-000008", issued_at=RENEWED_AT
    )
    [issued] = decide(command, INITIAL)
    assert isinstance(issued, InvoiceIssued)
    assert issued.invoice_id == cycle_invoice_id("mer_1", "sub_1", RENEWED_AT)
    assert issued.invoice_id != first_invoice_id("mer_1", "sub_1")
    assert (issued.reason, issued.number, issued.issued_at) == (
        "subscription_cycle",
        "ABCDEFGH-000008",
        RENEWED_AT,
    )
    assert (issued.customer_id, issued.subscription_id, issued.plan_name) == (
        "cus_1",
        "sub_1",
        "Premium Monthly",
    )
    assert (issued.amount_due, issued.currency) == (4900, "EUR")
    # The subscription's period as it says, not recomputed: 28 Feb to 31 Mar (its anchor day).
    assert (issued.period_start, issued.period_end) == (RENEWED_AT, NEXT_END)
    [line] = issued.lines
    assert line.description == "Premium Monthly (2025-02-28 - 2025-03-31)"
    assert (line.amount, line.plan_id, line.period_start, line.period_end) == (
        4900,
        "plan_1",
        RENEWED_AT,
        NEXT_END,
    )


def test_each_period_has_its_own_invoice_and_a_repeat_names_the_same_one() -> None:
    march = cycle_invoice_id("mer_1", "sub_1", RENEWED_AT)
    april = cycle_invoice_id("mer_1", "sub_1", NEXT_END)
    assert march != april
    assert march == cycle_invoice_id("mer_1", "sub_1", RENEWED_AT)
    # The same instant written with another offset is the same period.
    elsewhere = RENEWED_AT.astimezone(timezone(timedelta(hours=-3)))
    assert cycle_invoice_id("mer_1", "sub_1", elsewhere) == march


def test_a_renewal_whose_period_ends_before_it_starts_is_refused() -> None:
    command = cycle_invoice(
        renewed(NEXT_END, RENEWED_AT), terms(), merchant_id="m", number="N", issued_at=RENEWED_AT
    )
    with pytest.raises(Rejected, match="ends before it starts"):
        decide(command, INITIAL)
