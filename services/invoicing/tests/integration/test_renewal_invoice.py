"""Renewal invoices on the real PostgreSQL: a SubscriptionRenewed is billed once, with the
subscription's current plan and card, at the merchant's time, whatever is delivered again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from billing_events.contract.events import (
    ChargeFailed,
    ChargeSucceeded,
    InvoiceIssued,
    InvoicePaid,
    SubscriptionCreated,
    SubscriptionRenewed,
)
from billing_events.envelope import Envelope
from invoicing.adapters.postgres import PoolTransactions, PostgresPendingCharges
from invoicing.application.charging import InvoiceCharger
from invoicing.application.invoices import InvoiceStore, invoice_stream
from invoicing.application.issuing import RECOVERY_GRACE
from invoicing.application.recovery import StalledChargeRecovery
from invoicing.application.subscription_events import (
    SubscriptionEventHandler,
    UnknownSubscription,
)
from invoicing.domain.identity import invoice_number
from invoicing.domain.subscription_billing import cycle_invoice_id, first_invoice_id
from payments import ChargeResult

from .conftest import (
    NOW,
    payment_method_update_of,
    plan_change_of,
    renewal_of,
)

pytestmark = pytest.mark.integration


async def deliver(
    handler: SubscriptionEventHandler, pool: asyncpg.Pool, envelope: Envelope
) -> None:
    """As the idempotent consumer calls it: inside a transaction of its own."""
    async with pool.acquire() as conn, conn.transaction():
        await handler(envelope, conn)


def cycle_stream(renewed: Envelope) -> str:
    assert isinstance(renewed.data, SubscriptionRenewed)
    return invoice_stream(
        cycle_invoice_id(
            renewed.merchant_id, renewed.data.subscription_id, renewed.data.current_period_start
        )
    )


def first_stream(created: Envelope) -> str:
    assert isinstance(created.data, SubscriptionCreated)
    return invoice_stream(first_invoice_id(created.merchant_id, created.data.subscription_id))


async def history(invoices: InvoiceStore, stream: str) -> list[Envelope]:
    return await invoices.store.read_stream(stream)


async def numbers_used(pool: asyncpg.Pool, merchant_id: str) -> int:
    value = await pool.fetchval(
        "SELECT last_sequence FROM invoice_number_counters WHERE merchant_id = $1", merchant_id
    )
    return int(value or 0)


async def test_a_renewal_issues_a_second_invoice_and_it_is_paid(
    handler, migrated_pool, invoices, processor, subscription_created
) -> None:
    created = await subscription_created("4242424242424242", amount=2999)
    await deliver(handler, migrated_pool, created)
    renewed = renewal_of(created)
    await deliver(handler, migrated_pool, renewed)

    events = await history(invoices, cycle_stream(renewed))
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    for event in events:
        assert event.causation_id == renewed.event_id
        assert event.correlation_id == renewed.correlation_id
        assert event.merchant_id == created.merchant_id
    issued, charge, paid = (e.data for e in events)
    assert isinstance(issued, InvoiceIssued)
    assert isinstance(charge, ChargeSucceeded)
    assert isinstance(paid, InvoicePaid)
    assert isinstance(renewed.data, SubscriptionRenewed)
    assert issued.reason == "subscription_cycle"
    assert issued.number == invoice_number("mer_test", 2)
    assert (issued.period_start, issued.period_end) == (
        renewed.data.current_period_start,
        renewed.data.current_period_end,
    )
    assert [line.description for line in issued.lines] == ["Premium (2025-07-15 - 2025-08-15)"]
    assert (issued.amount_due, issued.currency, issued.customer_id) == (2999, "USD", "cus_1")
    assert issued.subscription_id == renewed.data.subscription_id
    # Issued at the renewal's time: the merchant's clock, a month ahead of the wall clock.
    assert issued.issued_at == renewed.occurred_at
    assert renewed.occurred_at > NOW
    assert (paid.amount_paid, paid.paid_at) == (2999, renewed.occurred_at)
    assert all(e.occurred_at == renewed.occurred_at for e in events)
    assert charge.charge_id == processor.results[-1].charge_id
    assert charge.payment_method.last4 == "4242"
    assert processor.charge_keys[-1] == f"{issued.invoice_id}:1"
    # The first invoice is untouched; nothing is left pending.
    first = await history(invoices, first_stream(created))
    assert [e.event_type for e in first] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    assert await migrated_pool.fetchval("SELECT count(*) FROM pending_charges") == 0


async def test_each_renewal_is_its_own_invoice_numbered_in_issue_order(
    handler, migrated_pool, invoices, subscription_created
) -> None:
    a = await subscription_created(merchant_id="mer_order")
    b = await subscription_created(merchant_id="mer_order")
    other = await subscription_created(merchant_id="mer_other")
    sequence = [a, b, renewal_of(a, 1), other, renewal_of(b, 1), renewal_of(a, 2)]
    for envelope in sequence:
        await deliver(handler, migrated_pool, envelope)

    def number_of(events: list[Envelope]) -> str:
        issued = events[0].data
        assert isinstance(issued, InvoiceIssued)
        return issued.number

    numbers = [
        number_of(await history(invoices, first_stream(a))),
        number_of(await history(invoices, first_stream(b))),
        number_of(await history(invoices, cycle_stream(sequence[2]))),
        number_of(await history(invoices, cycle_stream(sequence[4]))),
        number_of(await history(invoices, cycle_stream(sequence[5]))),
    ]
    assert numbers == [invoice_number("mer_order", n) for n in (1, 2, 3, 4, 5)]
    assert number_of(await history(invoices, first_stream(other))) == invoice_number("mer_other", 1)


@pytest.mark.parametrize("number", ["4242424242424242", "4000000000009995"])
async def test_a_redelivered_renewal_issues_and_charges_nothing_twice(
    handler, migrated_pool, invoices, processor, subscription_created, number: str
) -> None:
    created = await subscription_created(number)
    await deliver(handler, migrated_pool, created)
    renewed = renewal_of(created)
    await deliver(handler, migrated_pool, renewed)
    first = [e.event_id for e in await history(invoices, cycle_stream(renewed))]
    charges = len(processor.charge_keys)

    await deliver(handler, migrated_pool, renewed)
    await deliver(handler, migrated_pool, renewed)

    assert [e.event_id for e in await history(invoices, cycle_stream(renewed))] == first
    assert len(processor.charge_keys) == charges
    assert await numbers_used(migrated_pool, created.merchant_id) == 2


async def test_the_renewal_is_charged_to_the_card_the_subscription_has_now(
    handler, migrated_pool, invoices, card, subscription_created
) -> None:
    created = await subscription_created("4242424242424242")
    await deliver(handler, migrated_pool, created)
    await deliver(
        handler,
        migrated_pool,
        payment_method_update_of(created, await card("5555555555554444"), stream_version=3),
    )
    renewed = renewal_of(created, stream_version=4)
    await deliver(handler, migrated_pool, renewed)

    events = await history(invoices, cycle_stream(renewed))
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    charge = events[1].data
    assert isinstance(charge, ChargeSucceeded)
    assert (charge.payment_method.brand, charge.payment_method.last4) == ("mastercard", "4444")


async def test_a_renewal_charged_to_a_declining_card_fails(
    handler, migrated_pool, invoices, card, subscription_created
) -> None:
    created = await subscription_created("4242424242424242")
    await deliver(handler, migrated_pool, created)
    await deliver(
        handler,
        migrated_pool,
        payment_method_update_of(created, await card("4000000000009995"), stream_version=3),
    )
    renewed = renewal_of(created, stream_version=4)
    await deliver(handler, migrated_pool, renewed)

    events = await history(invoices, cycle_stream(renewed))
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeFailed"]
    failed = events[1].data
    assert isinstance(failed, ChargeFailed)
    assert (failed.decline_code, failed.attempt, failed.amount) == ("insufficient_funds", 1, 2999)
    assert failed.payment_method.last4 == "9995"
    assert failed.message


async def test_an_older_card_update_delivered_late_does_not_replace_the_newer_one(
    handler, migrated_pool, invoices, card, subscription_created
) -> None:
    created = await subscription_created("4242424242424242")
    await deliver(handler, migrated_pool, created)
    newer = payment_method_update_of(created, await card("5555555555554444"), stream_version=4)
    older = payment_method_update_of(created, await card("4000000000000002"), stream_version=3)
    await deliver(handler, migrated_pool, newer)
    await deliver(handler, migrated_pool, older)  # e.g. a dead letter replayed
    renewed = renewal_of(created, stream_version=5)
    await deliver(handler, migrated_pool, renewed)

    events = await history(invoices, cycle_stream(renewed))
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    charge = events[1].data
    assert isinstance(charge, ChargeSucceeded)
    assert charge.payment_method.last4 == "4444"


async def test_a_plan_change_is_billed_from_the_next_renewal(
    handler, migrated_pool, invoices, subscription_created
) -> None:
    created = await subscription_created(amount=2999)
    await deliver(handler, migrated_pool, created)
    await deliver(handler, migrated_pool, plan_change_of(created, 9900, stream_version=3))
    renewed = renewal_of(created, stream_version=4)
    await deliver(handler, migrated_pool, renewed)

    issued = (await history(invoices, cycle_stream(renewed)))[0].data
    assert isinstance(issued, InvoiceIssued)
    assert (issued.amount_due, issued.plan_name, issued.lines[0].plan_id) == (
        9900,
        "Business",
        "plan_2",
    )


async def test_a_renewal_of_an_unknown_subscription_is_refused_and_writes_nothing(
    handler, migrated_pool, processor, subscription_created
) -> None:
    never_seen = await subscription_created()
    with pytest.raises(UnknownSubscription, match="SubscriptionCreated has not been seen"):
        await deliver(handler, migrated_pool, renewal_of(never_seen))
    assert await migrated_pool.fetchval("SELECT count(*) FROM events") == 0
    assert await numbers_used(migrated_pool, never_seen.merchant_id) == 0
    assert processor.charge_keys == []


async def test_a_subscription_of_another_merchant_is_not_billed(
    handler, migrated_pool, subscription_created
) -> None:
    created = await subscription_created(merchant_id="mer_a")
    await deliver(handler, migrated_pool, created)
    foreign = renewal_of(created).model_copy(update={"merchant_id": "mer_b"})
    with pytest.raises(UnknownSubscription):
        await deliver(handler, migrated_pool, foreign)
    assert await numbers_used(migrated_pool, "mer_b") == 0


async def test_concurrent_deliveries_of_a_renewal_issue_one_invoice_and_one_charge(
    handler, migrated_pool, invoices, processor, subscription_created
) -> None:
    created = await subscription_created()
    await deliver(handler, migrated_pool, created)
    renewed = renewal_of(created)
    await asyncio.gather(*(deliver(handler, migrated_pool, renewed) for _ in range(5)))

    events = await history(invoices, cycle_stream(renewed))
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    renewal_keys = {k for k in processor.charge_keys if k.startswith(events[0].data.invoice_id)}
    assert len(renewal_keys) == 1
    assert await numbers_used(migrated_pool, created.merchant_id) == 2


async def test_a_crash_after_charging_a_renewal_is_finished_with_the_same_charge(
    handler, migrated_pool, invoices, processor, subscription_created
) -> None:
    created = await subscription_created()
    await deliver(handler, migrated_pool, created)
    renewed = renewal_of(created)
    real_charge = processor.charge

    async def charge_then_crash(*args, **kwargs) -> ChargeResult:
        await real_charge(*args, **kwargs)
        raise ConnectionResetError("worker lost before recording the charge")

    processor.charge = charge_then_crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionResetError):
        await deliver(handler, migrated_pool, renewed)
    assert [e.event_type for e in await history(invoices, cycle_stream(renewed))] == [
        "InvoiceIssued"
    ]

    processor.charge = real_charge  # type: ignore[method-assign]
    await deliver(handler, migrated_pool, renewed)

    events = await history(invoices, cycle_stream(renewed))
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    key = f"{events[0].data.invoice_id}:1"
    assert processor.charge_keys.count(key) == 2
    assert processor.results[-1] == processor.results[-2]
    charge = events[1].data
    assert isinstance(charge, ChargeSucceeded)
    assert charge.charge_id == processor.results[-1].charge_id


async def test_recovery_finishes_a_lost_renewal_charge_in_the_merchants_time(
    handler, migrated_pool, invoices, charger, processor, subscription_created
) -> None:
    created = await subscription_created()
    await deliver(handler, migrated_pool, created)
    renewed = renewal_of(created)

    async def processor_down(*_args, **_kwargs) -> ChargeResult:
        raise TimeoutError("processor unreachable")

    processor.charge = processor_down  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        await deliver(handler, migrated_pool, renewed)
    del processor.charge  # the processor is back; the delivery was dead-lettered

    later = NOW + RECOVERY_GRACE + timedelta(seconds=1)
    transactions = PoolTransactions(migrated_pool)
    pending = PostgresPendingCharges(migrated_pool)
    moved = InvoiceCharger(invoices, transactions, pending, charger.processor, lambda: later)
    recovery = StalledChargeRecovery(invoices, transactions, pending, moved, lambda: later)
    assert await recovery.run_once() == 1

    events = await history(invoices, cycle_stream(renewed))
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    assert {e.causation_id for e in events} == {renewed.event_id}
    paid = events[2].data
    assert isinstance(paid, InvoicePaid)
    # The wall clock is still before the renewal: the payment takes the renewal's time.
    assert later < renewed.occurred_at
    assert paid.paid_at == renewed.occurred_at


async def test_no_card_number_reaches_the_terms(
    handler, migrated_pool, card, subscription_created
) -> None:
    created = await subscription_created("4242424242424242")
    await deliver(handler, migrated_pool, created)
    await deliver(
        handler,
        migrated_pool,
        payment_method_update_of(created, await card("5555555555554444"), stream_version=3),
    )
    stored = await migrated_pool.fetchval(
        "SELECT string_agg(payment_method::text || plan::text, ' ') FROM subscription_terms"
    )
    assert "4242424242424242" not in stored
    assert "5555555555554444" not in stored
    assert "4444" in stored  # the last4 is there, so the query did look at the card
