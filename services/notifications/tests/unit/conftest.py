"""Builders of projected records and mail events for the unit tests (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.domain.projection import (
    CustomerProfile,
    InvoiceLineItem,
    InvoiceRecord,
    MerchantProfile,
    SubscriptionRecord,
)

JAN_5 = datetime(2025, 1, 5, 9, 30, tzinfo=UTC)
FEB_5 = datetime(2025, 2, 5, 9, 30, tzinfo=UTC)


class Records:
    """Defaults that read like a real subscription; override what a test is about."""

    jan_5 = JAN_5
    feb_5 = FEB_5

    @staticmethod
    def merchant(**overrides: object) -> MerchantProfile:
        values: dict[str, object] = {
            "merchant_id": "m_1",
            "name": "TechSolutions Inc.",
            "support_email": "help@techsolutions.test",
            "logo_url": None,
            "brand_color": "#0f766e",
        }
        values.update(overrides)
        return MerchantProfile(**values)  # type: ignore[arg-type]

    @staticmethod
    def customer(locale: str = "en", **overrides: object) -> CustomerProfile:
        values: dict[str, object] = {
            "customer_id": "cus_1",
            "email": "ana@example.com",
            "name": "Ana Gómez",
            "locale": locale,
        }
        values.update(overrides)
        return CustomerProfile(**values)  # type: ignore[arg-type]

    @staticmethod
    def invoice(currency: str = "USD", amount: int = 2999, **overrides: object) -> InvoiceRecord:
        values: dict[str, object] = {
            "invoice_id": "in_1",
            "number": "TS-0001",
            "customer_id": "cus_1",
            "currency": currency,
            "amount_due": amount,
            "issued_at": JAN_5,
            "lines": (InvoiceLineItem("Premium Monthly", amount, 1, JAN_5, FEB_5),),
            "subscription_id": "sub_1",
            "plan_name": "Premium Monthly",
            "period_start": JAN_5,
            "period_end": FEB_5,
        }
        values.update(overrides)
        return InvoiceRecord(**values)  # type: ignore[arg-type]

    @staticmethod
    def subscription(**overrides: object) -> SubscriptionRecord:
        values: dict[str, object] = {
            "subscription_id": "sub_1",
            "customer_id": "cus_1",
            "plan_id": "plan_1",
            "plan_name": "Premium Monthly",
        }
        values.update(overrides)
        return SubscriptionRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def records() -> type[Records]:
    return Records
