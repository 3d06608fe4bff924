"""Unit tests of the overview's one-statement JSON, read back into the portal's views."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from portal_gateway.adapters.postgres.read_model import OVERVIEW_SQL, overview_from_json
from portal_gateway.adapters.postgres.records import SUBSCRIPTION_COLUMNS
from portal_gateway.application.ports import CardView


def subscription_values() -> list[object]:
    row: dict[str, object] = dict.fromkeys(SUBSCRIPTION_COLUMNS)
    row.update(
        subscription_id="sub_1",
        merchant_id="mer_a",
        customer_id="cus_1",
        status="active",
        plan_id="plan_pro",
        plan_name="Pro",
        plan_description="All",
        amount=2999,
        currency="EUR",
        interval="month",
        payment_method={
            "payment_method_id": "pm_visa",
            "brand": "visa",
            "last4": "4242",
            "exp_month": 12,
            "exp_year": 2030,
        },
        current_period_start="2025-04-01T12:00:00+02:00",
        current_period_end="2025-05-01T10:00:00.25+00:00",
        next_renewal_at="2025-05-01T10:00:00.25+00:00",
        next_renewal_amount=2999,
        created_at="2025-04-01T10:00:00+00:00",
        updated_at="2025-04-01T10:00:00+00:00",
        version=2,
    )
    return list(row.values())


def overview_text(*, customer: bool = True, test_clock: str | None = None) -> str:
    return orjson.dumps(
        [
            ["mer_a", "acme", "Acme", None, "#112233", None, "immediately"],
            ["cus_1", "mer_a", "ana@example.com", "Ana", None, "pt"] if customer else None,
            [subscription_values()],
            [
                [
                    "in_1",
                    "A-0001",
                    "2025-04-01T07:00:00-03:00",
                    2999,
                    "EUR",
                    "paid",
                    "Pro",
                    "sub_1",
                ]
            ],
            [["pm_visa", "visa", "4242", 12, 2030]],
            test_clock,
        ]
    ).decode()


def test_the_overview_is_read_back_with_every_time_in_utc() -> None:
    text = overview_text(test_clock="2025-04-15T02:00:00+02:00")
    overview = overview_from_json(text)
    assert overview is not None
    assert overview.revision == text
    assert (overview.merchant.name, overview.merchant.cancel_mode) == ("Acme", "immediately")
    assert overview.merchant.brand_color == "#112233"
    assert (overview.customer.email, overview.customer.locale) == ("ana@example.com", "pt")
    (subscription,) = overview.subscriptions
    assert subscription.status == "active"
    assert subscription.current_period_start == datetime(2025, 4, 1, 10, tzinfo=UTC)
    assert subscription.current_period_end == datetime(2025, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert subscription.current_period_start.tzinfo is UTC
    assert subscription.cancel_at is None
    assert subscription.payment_method == CardView("pm_visa", "visa", "4242", 12, 2030)
    (invoice,) = overview.invoices
    assert invoice.issued_at == datetime(2025, 4, 1, 10, tzinfo=UTC)
    assert (invoice.number, invoice.amount, invoice.status) == ("A-0001", 2999, "paid")
    assert overview.payment_methods == [CardView("pm_visa", "visa", "4242", 12, 2030)]
    assert overview.test_clock == datetime(2025, 4, 15, tzinfo=UTC)


def test_no_customer_is_no_overview() -> None:
    assert overview_from_json(overview_text(customer=False)) is None


def test_the_statement_is_scoped_to_the_merchant_and_the_customer() -> None:
    # Every table read is filtered by the merchant, and every customer's table by both.
    assert OVERVIEW_SQL.count("WHERE merchant_id = $1 AND customer_id = $2") == 4
    assert OVERVIEW_SQL.count("WHERE merchant_id = $1") == 6
