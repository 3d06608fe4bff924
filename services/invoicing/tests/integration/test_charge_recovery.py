"""Invoices whose charge nobody finished are charged by recovery, once, on the real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from billing_events.contract.events import ChargeSucceeded, SubscriptionCreated
from billing_events.envelope import Envelope
from invoicing.adapters.postgres import PoolTransactions, PostgresPendingCharges
from invoicing.application.charging import InvoiceCharger
from invoicing.application.invoices import InvoiceStore, invoice_stream
from invoicing.application.issuing import RECOVERY_GRACE
from invoicing.application.recovery import RETRY_DELAY, StalledChargeRecovery
from invoicing.application.subscription_events import SubscriptionEventHandler
from invoicing.domain.subscription_billing import first_invoice_id
from payments import ChargeResult

from .conftest import NOW

pytestmark = pytest.mark.integration


class MovableClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def recovery_at(
    pool: asyncpg.Pool, invoices: InvoiceStore, charger: InvoiceCharger, clock: MovableClock
) -> StalledChargeRecovery:
    transactions = PoolTransactions(pool)
    pending = PostgresPendingCharges(pool)
    moved = InvoiceCharger(invoices, transactions, pending, charger.processor, clock)
    return StalledChargeRecovery(invoices, transactions, pending, moved, clock)


async def deliver(handler: SubscriptionEventHandler, pool: asyncpg.Pool, envelope: Envelope):
    async with pool.acquire() as conn, conn.transaction():
        await handler(envelope, conn)


def stream_of(created: Envelope) -> str:
    assert isinstance(created.data, SubscriptionCreated)
    return invoice_stream(first_invoice_id(created.merchant_id, created.data.subscription_id))


async def event_types(invoices: InvoiceStore, created: Envelope) -> list[str]:
    return [e.event_type for e in await invoices.store.read_stream(stream_of(created))]


@pytest.fixture
def crash_after_charging(processor):
    """Make the processor charge, then lose the worker before it records the outcome."""
    real_charge = processor.charge

    async def charge_then_crash(*args, **kwargs) -> ChargeResult:
        await real_charge(*args, **kwargs)
        raise ConnectionResetError("worker lost before recording the charge")

    processor.charge = charge_then_crash

    def restore() -> None:
        processor.charge = real_charge

    return restore


async def test_recovery_finishes_a_charge_the_worker_lost(
    handler, migrated_pool, invoices, charger, processor, subscription_created, crash_after_charging
) -> None:
    created = await subscription_created("4242424242424242")
    with pytest.raises(ConnectionResetError):
        await deliver(handler, migrated_pool, created)
    crash_after_charging()
    assert await event_types(invoices, created) == ["InvoiceIssued"]

    clock = MovableClock()
    recovery = recovery_at(migrated_pool, invoices, charger, clock)
    # Within the grace period the worker may still be at it: recovery leaves it alone.
    assert await recovery.run_once() == 0
    clock.now = NOW + RECOVERY_GRACE
    assert await recovery.run_once() == 1

    events = await invoices.store.read_stream(stream_of(created))
    assert [e.event_type for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    assert {e.causation_id for e in events} == {created.event_id}
    assert {e.correlation_id for e in events} == {created.correlation_id}
    # The charge the lost worker made is the one recorded: asked again with the same key.
    assert len(set(processor.charge_keys)) == 1
    charge = events[1].data
    assert isinstance(charge, ChargeSucceeded)
    assert charge.charge_id == processor.results[0].charge_id
    assert await migrated_pool.fetchval("SELECT count(*) FROM pending_charges") == 0
    assert await recovery.run_once() == 0


async def test_a_redelivery_after_recovery_changes_nothing(
    handler, migrated_pool, invoices, charger, processor, subscription_created, crash_after_charging
) -> None:
    created = await subscription_created("4000000000009995")
    with pytest.raises(ConnectionResetError):
        await deliver(handler, migrated_pool, created)
    crash_after_charging()
    clock = MovableClock()
    clock.now = NOW + RECOVERY_GRACE
    await recovery_at(migrated_pool, invoices, charger, clock).run_once()

    await deliver(handler, migrated_pool, created)

    assert await event_types(invoices, created) == ["InvoiceIssued", "ChargeFailed"]
    assert len(set(processor.charge_keys)) == 1


async def test_a_charge_that_keeps_failing_is_postponed(
    handler, migrated_pool, invoices, charger, processor, subscription_created
) -> None:
    created = await subscription_created("4242424242424242")

    async def processor_down(*_args, **_kwargs) -> ChargeResult:
        raise TimeoutError("processor unreachable")

    processor.charge = processor_down
    with pytest.raises(TimeoutError):
        await deliver(handler, migrated_pool, created)
    clock = MovableClock()
    clock.now = NOW + RECOVERY_GRACE
    recovery = recovery_at(migrated_pool, invoices, charger, clock)

    assert await recovery.run_once() == 0
    due_at = await migrated_pool.fetchval("SELECT due_at FROM pending_charges")
    assert due_at == clock.now + RETRY_DELAY
    assert await event_types(invoices, created) == ["InvoiceIssued"]

    del processor.charge  # the processor is back
    clock.now += RETRY_DELAY + timedelta(seconds=1)
    assert await recovery.run_once() == 1
    assert await event_types(invoices, created) == [
        "InvoiceIssued",
        "ChargeSucceeded",
        "InvoicePaid",
    ]


async def test_no_card_number_in_pending_charges(
    handler, migrated_pool, processor, subscription_created
) -> None:
    async def processor_down(*_args, **_kwargs) -> ChargeResult:
        raise TimeoutError("processor unreachable")

    processor.charge = processor_down
    with pytest.raises(TimeoutError):
        await deliver(handler, migrated_pool, await subscription_created("4242424242424242"))
    stored = await migrated_pool.fetchval("SELECT payment_method::text FROM pending_charges")
    assert "4242424242424242" not in stored
    assert '"last4": "4242"' in stored or '"last4":"4242"' in stored
