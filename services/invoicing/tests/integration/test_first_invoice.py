"""The first invoice of a new subscription, on the real PostgreSQL: issue, charge, record,
and every way a delivery can repeat."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import asyncpg
import pytest

from billing_events.contract.events import (
    ChargeFailed,
    ChargeSucceeded,
    InvoiceIssued,
    InvoicePaid,
    SubscriptionCanceled,
    SubscriptionCreated,
)
from billing_events.envelope import Envelope, new_envelope
from invoicing.application.invoices import InvoiceStore, invoice_stream
from invoicing.application.subscription_events import SubscriptionEventHandler
from invoicing.domain.identity import invoice_number, number_prefix
from invoicing.domain.subscription_billing import first_invoice_id
from payments import ChargeResult

pytestmark = pytest.mark.integration

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


async def deliver(
    handler: SubscriptionEventHandler, pool: asyncpg.Pool, envelope: Envelope
) -> None:
    """As the idempotent consumer calls it: inside a transaction of its own."""
    async with pool.acquire() as conn, conn.transaction():
        await handler(envelope, conn)


def invoice_id_of(envelope: Envelope) -> str:
    assert isinstance(envelope.data, SubscriptionCreated)
    return first_invoice_id(envelope.merchant_id, envelope.data.subscription_id)


async def history(invoices: InvoiceStore, envelope: Envelope) -> list[Envelope]:
    return await invoices.store.read_stream(invoice_stream(invoice_id_of(envelope)))


async def test_a_paid_first_invoice(
    handler, migrated_pool, invoices, processor, subscription_created
) -> None:
    created = await subscription_created("4242424242424242", amount=2999, currency="USD")
    await deliver(handler, migrated_pool, created)

    events = await history(invoices, created)
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    assert [e.stream_version for e in events] == [1, 2, 3]
    for event in events:
        assert event.causation_id == created.event_id
        assert event.correlation_id == created.correlation_id
        assert event.merchant_id == created.merchant_id
    issued, charge, paid = (e.data for e in events)
    assert isinstance(issued, InvoiceIssued)
    assert isinstance(charge, ChargeSucceeded)
    assert isinstance(paid, InvoicePaid)
    invoice_id = invoice_id_of(created)
    assert issued.invoice_id == charge.invoice_id == paid.invoice_id == invoice_id
    assert issued.number == invoice_number("mer_test", 1)
    assert re.match(r"^[A-Z2-7]{8}-000001$", issued.number)
    assert (issued.amount_due, issued.currency, issued.reason) == (
        2999,
        "USD",
        "subscription_create",
    )
    assert issued.period_start == created.occurred_at
    assert issued.issued_at == created.occurred_at  # the merchant's time, not the wall clock
    assert issued.period_end == datetime(2025, 7, 15, 11, 59, tzinfo=UTC)
    assert [line.description for line in issued.lines] == ["Premium (2025-06-15 - 2025-07-15)"]
    assert charge.charge_id == processor.results[0].charge_id
    assert charge.payment_method.last4 == "4242"
    assert (paid.amount_paid, paid.subscription_id) == (2999, created.data.subscription_id)
    assert processor.charge_keys == [f"{invoice_id}:1"]
    assert await migrated_pool.fetchval("SELECT count(*) FROM pending_charges") == 0


@pytest.mark.parametrize(
    ("number", "decline_code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000341", "card_declined"),
    ],
)
async def test_a_declined_first_charge(
    handler, migrated_pool, invoices, subscription_created, number: str, decline_code: str
) -> None:
    created = await subscription_created(number)
    await deliver(handler, migrated_pool, created)

    events = await history(invoices, created)
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeFailed"]
    failed = events[1].data
    assert isinstance(failed, ChargeFailed)
    assert (failed.decline_code, failed.attempt, failed.amount) == (decline_code, 1, 2999)
    assert failed.message
    assert failed.charge_id.startswith("ch_")


async def test_a_token_of_another_processor_account_fails_the_charge(
    handler, migrated_pool, invoices, subscription_created
) -> None:
    created = await subscription_created(token="pm_" + "A" * 72)
    await deliver(handler, migrated_pool, created)

    events = await history(invoices, created)
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeFailed"]
    failed = events[1].data
    assert isinstance(failed, ChargeFailed)
    assert failed.decline_code == "invalid_payment_method"
    assert failed.charge_id.startswith("refused_")


async def test_a_free_plan_is_paid_without_a_charge(
    handler, migrated_pool, invoices, processor, subscription_created
) -> None:
    created = await subscription_created(amount=0)
    await deliver(handler, migrated_pool, created)

    events = await history(invoices, created)
    assert [e.event_type for e in events] == ["InvoiceIssued", "InvoicePaid"]
    assert processor.charge_keys == []


@pytest.mark.parametrize("number", ["4242424242424242", "4000000000009995"])
async def test_a_redelivered_subscription_issues_and_charges_nothing_twice(
    handler, migrated_pool, invoices, processor, subscription_created, number: str
) -> None:
    created = await subscription_created(number)
    await deliver(handler, migrated_pool, created)
    first = [e.event_id for e in await history(invoices, created)]

    await deliver(handler, migrated_pool, created)
    await deliver(handler, migrated_pool, created)

    assert [e.event_id for e in await history(invoices, created)] == first
    assert len(processor.charge_keys) == 1
    assert (
        await migrated_pool.fetchval("SELECT sum(last_sequence) FROM invoice_number_counters") == 1
    )


async def test_a_crash_between_charge_and_record_is_finished_without_charging_twice(
    handler, migrated_pool, invoices, processor, subscription_created
) -> None:
    created = await subscription_created("4242424242424242")
    real_charge = processor.charge

    async def charge_then_crash(*args, **kwargs) -> ChargeResult:
        await real_charge(*args, **kwargs)
        raise ConnectionResetError("worker lost before recording the charge")

    processor.charge = charge_then_crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionResetError):
        await deliver(handler, migrated_pool, created)
    # The invoice was committed before the charge; the charge's outcome is not recorded.
    assert [e.event_type for e in await history(invoices, created)] == ["InvoiceIssued"]

    processor.charge = real_charge  # type: ignore[method-assign]
    await deliver(handler, migrated_pool, created)

    events = await history(invoices, created)
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    # Asked twice with one key: the processor answered with the same charge both times.
    key = f"{invoice_id_of(created)}:1"
    assert processor.charge_keys == [key, key]
    assert processor.results[0] == processor.results[1]
    charge = events[1].data
    assert isinstance(charge, ChargeSucceeded)
    assert charge.charge_id == processor.results[0].charge_id


async def test_concurrent_deliveries_issue_one_invoice_and_record_one_charge(
    handler, migrated_pool, invoices, processor, subscription_created
) -> None:
    created = await subscription_created("4242424242424242")
    await asyncio.gather(*(deliver(handler, migrated_pool, created) for _ in range(5)))

    events = await history(invoices, created)
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    assert len(set(processor.charge_keys)) == 1
    assert len({r.charge_id for r in processor.results}) == 1
    assert (
        await migrated_pool.fetchval("SELECT sum(last_sequence) FROM invoice_number_counters") == 1
    )


async def test_invoice_numbers_count_per_merchant_without_gaps(
    handler, migrated_pool, invoices, subscription_created
) -> None:
    envelopes = [
        await subscription_created(merchant_id="mer_a"),
        await subscription_created(merchant_id="mer_a"),
        await subscription_created(merchant_id="mer_b"),
        await subscription_created(merchant_id="mer_a"),
    ]
    await asyncio.gather(*(deliver(handler, migrated_pool, e) for e in envelopes))

    numbers: dict[str, list[str]] = {"mer_a": [], "mer_b": []}
    for envelope in envelopes:
        issued = (await history(invoices, envelope))[0].data
        assert isinstance(issued, InvoiceIssued)
        numbers[envelope.merchant_id].append(issued.number)
    assert sorted(numbers["mer_a"]) == [invoice_number("mer_a", n) for n in (1, 2, 3)]
    assert numbers["mer_b"] == [invoice_number("mer_b", 1)]
    assert number_prefix("mer_a") != number_prefix("mer_b")


async def test_other_subscription_events_are_ignored(
    handler, migrated_pool, processor, subscription_created
) -> None:
    created = await subscription_created()
    canceled = new_envelope(
        SubscriptionCanceled(subscription_id="sub_x", customer_id="cus_1", canceled_at=NOW),
        stream_id="subscription-sub_x",
        merchant_id="mer_test",
        correlation_id=created.correlation_id,
    )
    await deliver(handler, migrated_pool, canceled)
    assert processor.charge_keys == []
    assert await migrated_pool.fetchval("SELECT count(*) FROM events") == 0


async def test_no_card_number_reaches_the_database(
    handler, migrated_pool, subscription_created
) -> None:
    for number in ("4242424242424242", "4000000000009995"):
        await deliver(handler, migrated_pool, await subscription_created(number))
    stored = await migrated_pool.fetchval("SELECT string_agg(data::text, ' ') FROM events")
    outbox = await migrated_pool.fetchval(
        "SELECT string_agg(convert_from(value, 'UTF8'), ' ') FROM outbox"
    )
    for number in ("4242424242424242", "4000000000009995"):
        assert number not in stored
        assert number not in outbox
    assert "4242" in stored  # last4 is there, so the query did look at the events
