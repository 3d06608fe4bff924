"""Fixtures for invoicing's integration tests: the real PostgreSQL schema (``pg_pool``), the
simulated processor (counting the charges it is asked for), SubscriptionCreated envelopes for
cards tokenized by it, and the later events of those subscriptions (renewals, new cards, plan
changes)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import pytest_asyncio

import billing_events.contract  # noqa: F401  (registers the event models)
from billing_events.consumer import INBOX_MIGRATIONS
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    PaymentMethodUpdated,
    PlanChanged,
    SubscriptionCreated,
    SubscriptionRenewed,
)
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.postgres import migrate
from billing_events.store import MIGRATIONS as EVENT_STORE_MIGRATIONS
from billing_events.store import PostgresEventStore
from invoicing.adapters.postgres import (
    MIGRATIONS,
    PoolTransactions,
    PostgresInvoiceNumbers,
    PostgresPendingCharges,
    PostgresSubscriptionTerms,
)
from invoicing.application.charging import InvoiceCharger
from invoicing.application.invoices import InvoiceStore
from invoicing.application.issuing import InvoiceIssuer
from invoicing.application.subscription_events import SubscriptionEventHandler
from invoicing.domain.periods import add_months
from payments import CardInput, ChargeResult, SimulatedProcessor

SECRET = b"invoicing-integration-test-secret"
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
# When the subscriptions of these tests start: a minute before the wall clock (NOW).
CREATED_AT = datetime(2025, 6, 15, 11, 59, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


@dataclass
class CountingProcessor:
    """The simulated processor, remembering every charge it was asked for (by key)."""

    inner: SimulatedProcessor
    charge_keys: list[str] = field(default_factory=list)
    results: list[ChargeResult] = field(default_factory=list)

    async def tokenize(self, card: CardInput) -> object:
        return await self.inner.tokenize(card)

    async def charge(
        self, token: str, amount: int, currency: str, idempotency_key: str, description: str = ""
    ) -> ChargeResult:
        self.charge_keys.append(idempotency_key)
        result = await self.inner.charge(token, amount, currency, idempotency_key, description)
        self.results.append(result)
        return result


@pytest.fixture
def processor() -> CountingProcessor:
    return CountingProcessor(SimulatedProcessor(SECRET, fixed_clock))


@pytest_asyncio.fixture
async def migrated_pool(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate(pg_pool, [*EVENT_STORE_MIGRATIONS, *INBOX_MIGRATIONS, *MIGRATIONS])
    return pg_pool


@pytest.fixture
def invoices(migrated_pool: asyncpg.Pool) -> InvoiceStore:
    return InvoiceStore(PostgresEventStore(migrated_pool))


@pytest.fixture
def charger(
    migrated_pool: asyncpg.Pool, invoices: InvoiceStore, processor: CountingProcessor
) -> InvoiceCharger:
    return InvoiceCharger(
        invoices,
        PoolTransactions(migrated_pool),
        PostgresPendingCharges(migrated_pool),
        processor,
        fixed_clock,
    )


@pytest.fixture
def handler(
    migrated_pool: asyncpg.Pool, invoices: InvoiceStore, charger: InvoiceCharger
) -> SubscriptionEventHandler:
    transactions = PoolTransactions(migrated_pool)
    issuer = InvoiceIssuer(
        invoices,
        transactions,
        PostgresInvoiceNumbers(),
        PostgresPendingCharges(migrated_pool),
        fixed_clock,
    )
    return SubscriptionEventHandler(
        transactions=transactions,
        terms=PostgresSubscriptionTerms(),
        issuer=issuer,
        charger=charger,
        clock=fixed_clock,
    )


CardFactory = Callable[[str], Awaitable[CardSummary]]


@pytest.fixture
def card(processor: CountingProcessor) -> CardFactory:
    """``await card(number)``: the summary of a card the processor tokenized."""

    async def make(number: str) -> CardSummary:
        tokenized = await processor.inner.tokenize(CardInput(number, 12, 2030, "123"))
        return CardSummary(
            payment_method_id=tokenized.payment_method_id,
            brand=tokenized.brand,
            last4=tokenized.last4,
            exp_month=tokenized.exp_month,
            exp_year=tokenized.exp_year,
        )

    return make


SubscriptionFactory = Callable[..., Awaitable[Envelope]]


@pytest.fixture
def subscription_created(processor: CountingProcessor) -> SubscriptionFactory:
    """``await subscription_created(card_number, merchant_id=..., amount=...)``: a
    SubscriptionCreated envelope whose payment method the processor tokenized."""

    async def make(
        number: str = "4242424242424242",
        *,
        merchant_id: str = "mer_test",
        amount: int = 2999,
        currency: str = "USD",
        token: str | None = None,
    ) -> Envelope:
        tokenized = await processor.inner.tokenize(CardInput(number, 12, 2030, "123"))
        card = CardSummary(
            payment_method_id=token or tokenized.payment_method_id,
            brand=tokenized.brand,
            last4=tokenized.last4,
            exp_month=tokenized.exp_month,
            exp_year=tokenized.exp_year,
        )
        subscription_id = f"sub_{uuid.uuid4().hex[:12]}"
        return new_envelope(
            SubscriptionCreated(
                subscription_id=subscription_id,
                customer_id="cus_1",
                plan=PlanSnapshot(
                    plan_id="plan_1",
                    name="Premium",
                    amount=amount,
                    currency=currency,
                    interval="month",
                ),
                payment_method=card,
            ),
            stream_id=f"subscription-{subscription_id}",
            stream_version=1,
            merchant_id=merchant_id,
            correlation_id=uuid.uuid4(),
            causation_id=uuid.uuid4(),
            occurred_at=CREATED_AT,
        )

    return make


def followed_by(
    created: Envelope,
    data: EventData,
    *,
    stream_version: int,
    occurred_at: datetime,
) -> Envelope:
    """A later event of ``created``'s subscription, as the subscriptions service writes it."""
    return new_envelope(
        data,
        stream_id=created.stream_id,
        stream_version=stream_version,
        merchant_id=created.merchant_id,
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
        occurred_at=occurred_at,
    )


def renewal_of(created: Envelope, cycle: int = 1, *, stream_version: int | None = None) -> Envelope:
    """The ``cycle``-th SubscriptionRenewed of ``created``'s monthly subscription, at the
    moment its period begins (the merchant's clock: ahead of the tests' wall clock, NOW)."""
    assert isinstance(created.data, SubscriptionCreated)
    start = add_months(created.occurred_at, cycle)
    end = add_months(created.occurred_at, cycle + 1)
    return followed_by(
        created,
        SubscriptionRenewed(
            subscription_id=created.data.subscription_id,
            current_period_start=start,
            current_period_end=end,
        ),
        # Activated is version 2; each renewal one more.
        stream_version=stream_version or 2 + cycle,
        occurred_at=start,
    )


def payment_method_update_of(
    created: Envelope, card: CardSummary, *, stream_version: int
) -> Envelope:
    assert isinstance(created.data, SubscriptionCreated)
    return followed_by(
        created,
        PaymentMethodUpdated(
            subscription_id=created.data.subscription_id,
            customer_id=created.data.customer_id,
            payment_method=card,
        ),
        stream_version=stream_version,
        occurred_at=created.occurred_at + timedelta(days=stream_version),
    )


def plan_change_of(created: Envelope, amount: int, *, stream_version: int) -> Envelope:
    assert isinstance(created.data, SubscriptionCreated)
    old = created.data.plan
    new = old.model_copy(update={"plan_id": "plan_2", "name": "Business", "amount": amount})
    at = created.occurred_at + timedelta(days=stream_version)
    return followed_by(
        created,
        PlanChanged(
            subscription_id=created.data.subscription_id,
            from_plan=old,
            to_plan=new,
            effective_at=at,
            proration_amount=0,
        ),
        stream_version=stream_version,
        occurred_at=at,
    )
