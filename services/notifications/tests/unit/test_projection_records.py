"""Folding events into the projected records."""

from __future__ import annotations

from datetime import UTC, datetime

from billing_events.contract.common import PlanSnapshot
from billing_events.contract.events import (
    CustomerProfileUpdated,
    CustomerRegistered,
    InvoiceIssued,
    InvoiceLine,
    MerchantRegistered,
    PlanChanged,
)
from notifications.domain import projection as records
from notifications.domain.projection import CustomerProfile, InvoiceLineItem, SubscriptionRecord

JAN_5 = datetime(2025, 1, 5, tzinfo=UTC)
FEB_5 = datetime(2025, 2, 5, tzinfo=UTC)


def test_merchant_registered() -> None:
    merchant = records.merchant_registered(
        MerchantRegistered(
            merchant_id="m_1",
            slug="acme",
            name="Acme",
            support_email="help@example.com",
            brand_color="#112233",
        )
    )
    assert merchant == records.MerchantProfile("m_1", "Acme", "help@example.com", None, "#112233")


def test_profile_update_changes_only_what_it_names() -> None:
    registered = records.customer_registered(
        CustomerRegistered(customer_id="cus_1", email="ana@example.com", name="Ana", locale="es")
    )
    assert registered == CustomerProfile("cus_1", "ana@example.com", "Ana", "es")
    updated = records.customer_profile_updated(
        registered, CustomerProfileUpdated(customer_id="cus_1", locale="pt-BR")
    )
    assert updated == CustomerProfile("cus_1", "ana@example.com", "Ana", "pt-BR")
    renamed = records.customer_profile_updated(
        updated, CustomerProfileUpdated(customer_id="cus_1", email="ana@example.org", name="Ana G.")
    )
    assert renamed == CustomerProfile("cus_1", "ana@example.org", "Ana G.", "pt-BR")


def test_profile_update_of_an_unknown_customer() -> None:
    partial = CustomerProfileUpdated(customer_id="cus_1", locale="fr")
    assert records.customer_profile_updated(None, partial) is None
    complete = CustomerProfileUpdated(
        customer_id="cus_1", email="a@example.org", name="A", locale="fr"
    )
    assert records.customer_profile_updated(None, complete) == CustomerProfile(
        "cus_1", "a@example.org", "A", "fr"
    )


def test_invoice_issued_keeps_lines_and_period() -> None:
    invoice = records.invoice_issued(
        InvoiceIssued(
            invoice_id="in_1",
            number="A-1",
            customer_id="cus_1",
            subscription_id="sub_1",
            reason="subscription_create",
            lines=(
                InvoiceLine(
                    description="Pro", amount=1000, quantity=2, period_start=JAN_5, period_end=FEB_5
                ),
            ),
            amount_due=1000,
            currency="EUR",
            period_start=JAN_5,
            period_end=FEB_5,
            issued_at=JAN_5,
            plan_name="Pro",
        )
    )
    assert invoice.lines == (InvoiceLineItem("Pro", 1000, 2, JAN_5, FEB_5),)
    assert (invoice.number, invoice.currency, invoice.amount_due) == ("A-1", "EUR", 1000)
    assert (invoice.period_start, invoice.period_end, invoice.plan_name) == (JAN_5, FEB_5, "Pro")


def test_plan_change_renames_the_plan_of_a_known_subscription() -> None:
    def plan(plan_id: str, name: str) -> PlanSnapshot:
        return PlanSnapshot(plan_id=plan_id, name=name, amount=1, currency="USD", interval="month")

    change = PlanChanged(
        subscription_id="sub_1",
        from_plan=plan("p1", "Basic"),
        to_plan=plan("p2", "Pro"),
        effective_at=JAN_5,
        proration_amount=0,
    )
    current = SubscriptionRecord("sub_1", "cus_1", "p1", "Basic")
    assert records.plan_changed(current, change) == SubscriptionRecord(
        "sub_1", "cus_1", "p2", "Pro"
    )
    assert records.plan_changed(None, change) is None
