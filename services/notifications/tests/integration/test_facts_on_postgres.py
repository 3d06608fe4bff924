"""The projection's one-statement read of a mail's facts, against the single-record reads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from notifications.adapters.postgres import _FACTS_SQL, PostgresProjection, _facts_args
from notifications.domain.mail import Facts, Needs
from notifications.domain.projection import (
    CustomerProfile,
    InvoiceLineItem,
    InvoiceRecord,
    MerchantProfile,
    SubscriptionRecord,
)

pytestmark = pytest.mark.integration

JAN_5 = datetime(2025, 1, 5, 9, 30, tzinfo=UTC)
FEB_5 = datetime(2025, 2, 5, 9, 30, tzinfo=UTC)


class Projected:
    """One merchant's records, with ids unique to the test, saved through the projection."""

    def __init__(self, projection: PostgresProjection) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.projection = projection
        self.merchant = MerchantProfile(f"m_{suffix}", "TechSolutions Inc.", "help@ts.example")
        self.customer = CustomerProfile(f"cus_{suffix}", "ana@example.com", "Ana", "es")
        self.subscription = SubscriptionRecord(
            f"sub_{suffix}", self.customer.customer_id, "plan_1", "Premium Monthly"
        )
        self.invoice = InvoiceRecord(
            invoice_id=f"in_{suffix}",
            number="TS-0001",
            customer_id=self.customer.customer_id,
            currency="EUR",
            amount_due=2999,
            issued_at=JAN_5,
            lines=(InvoiceLineItem("Premium Monthly", 2999, 1, JAN_5, FEB_5),),
            subscription_id=self.subscription.subscription_id,
            plan_name="Premium Monthly",
            period_start=JAN_5,
            period_end=FEB_5,
        )

    @property
    def merchant_id(self) -> str:
        return self.merchant.merchant_id

    async def save_all(self) -> None:
        await self.projection.save_merchant(self.merchant, 1)
        await self.projection.save_customer(self.merchant_id, self.customer, 1)
        await self.projection.save_subscription(self.merchant_id, self.subscription, 1)
        await self.projection.save_invoice(self.merchant_id, self.invoice, 1)


async def test_a_receipts_facts_are_read_in_one_go(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        projected = Projected(PostgresProjection(conn))
        await projected.save_all()
        facts = await projected.projection.facts(
            Needs(
                projected.merchant_id,
                customer_id=projected.customer.customer_id,
                invoice_id=projected.invoice.invoice_id,
            )
        )
    # The subscription was not named: it is the invoice's.
    assert facts == Facts(
        projected.merchant, projected.customer, projected.invoice, projected.subscription
    )


async def test_the_customer_comes_from_the_subscription_and_the_subscription_from_the_invoice(
    db: asyncpg.Pool,
) -> None:
    async with db.acquire() as conn:
        projected = Projected(PostgresProjection(conn))
        await projected.save_all()
        by_invoice = await projected.projection.facts(
            Needs(projected.merchant_id, invoice_id=projected.invoice.invoice_id)
        )
        by_subscription = await projected.projection.facts(
            Needs(projected.merchant_id, subscription_id=projected.subscription.subscription_id)
        )
    assert by_invoice == Facts(
        projected.merchant, projected.customer, projected.invoice, projected.subscription
    )
    assert by_subscription == Facts(
        projected.merchant, projected.customer, subscription=projected.subscription
    )


async def test_what_is_not_projected_is_none_and_named_ids_win(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        projected = Projected(PostgresProjection(conn))
        projection = projected.projection
        nothing = await projection.facts(
            Needs(
                projected.merchant_id,
                customer_id=projected.customer.customer_id,
                invoice_id=projected.invoice.invoice_id,
                subscription_id=projected.subscription.subscription_id,
            )
        )
        await projected.save_all()
        other_customer = CustomerProfile(
            f"{projected.customer.customer_id}_b", "bo@example.com", "Bo", "fr"
        )
        await projection.save_customer(projected.merchant_id, other_customer, 1)
        named = await projection.facts(
            Needs(
                projected.merchant_id,
                customer_id=other_customer.customer_id,
                subscription_id=projected.subscription.subscription_id,
            )
        )
        elsewhere = await projection.facts(
            Needs("m_elsewhere", subscription_id=projected.subscription.subscription_id)
        )
    assert nothing == Facts()
    assert named == Facts(projected.merchant, other_customer, subscription=projected.subscription)
    assert elsewhere == Facts()  # another merchant's records are not this mail's


async def test_the_facts_read_agrees_with_the_single_record_reads(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        projected = Projected(PostgresProjection(conn))
        await projected.save_all()
        projection = projected.projection
        merchant_id = projected.merchant_id
        facts = await projection.facts(Needs(merchant_id, invoice_id=projected.invoice.invoice_id))
        assert facts.merchant == projected.merchant
        assert facts.invoice == projected.invoice
        assert facts.customer == await projection.customer(
            merchant_id, projected.customer.customer_id
        )
        assert facts.subscription == await projection.subscription(
            merchant_id, projected.subscription.subscription_id
        )


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


@pytest.mark.parametrize("needs", ["subscription", "invoice"])
async def test_the_cached_plan_reads_one_subscription_and_one_customer_whatever_the_merchant_has(
    db: asyncpg.Pool, needs: str
) -> None:
    async with db.acquire() as conn:
        projected = Projected(PostgresProjection(conn))
        await projected.save_all()
        merchant_id = projected.merchant_id
        for n in range(30):  # the merchant's other customers, each with a subscription
            customer = CustomerProfile(f"cus_{n}_{merchant_id}", f"c{n}@example.com", "C", "en")
            await projected.projection.save_customer(merchant_id, customer, 1)
            await projected.projection.save_subscription(
                merchant_id,
                SubscriptionRecord(f"sub_{n}_{merchant_id}", customer.customer_id, "p", "P"),
                1,
            )
        await conn.execute("ANALYZE subscriptions; ANALYZE customers")
        named = Needs(merchant_id, subscription_id=projected.subscription.subscription_id)
        if needs == "invoice":
            named = Needs(merchant_id, invoice_id=projected.invoice.invoice_id)
        async with conn.transaction():
            # The plan the server keeps for a prepared statement after a few executions.
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE facts_plan (text, text, text, text) AS {_FACTS_SQL}")
            try:
                # EXECUTE takes no bind parameters: the server quotes the ids into it.
                explain = await conn.fetchval(
                    "SELECT format('EXPLAIN (ANALYZE, FORMAT JSON) "
                    "EXECUTE facts_plan (%L, %L, %L, %L)', $1::text, $2::text, $3::text, $4::text)",
                    *_facts_args(named),
                )
                explained = await conn.fetchval(explain)
            finally:
                await conn.execute("DEALLOCATE facts_plan")
    # The service's pools decode json; a bare connection would hand over the text.
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    read = {
        table: sum(
            node["Actual Rows"] * node["Actual Loops"]
            for node in _scans(plan)
            if node.get("Relation Name") == table or node.get("Index Name") == f"{table}_pkey"
        )
        for table in ("subscriptions", "customers")
    }
    assert read == {"subscriptions": 1, "customers": 1}
