"""The handlers on the real PostgreSQL event store, outbox and inbox."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from billing_events.contract.commands import (
    AttachPaymentMethod,
    CancelSubscription,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
)
from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    CommandRejected,
    InvoiceIssued,
    InvoiceLine,
    InvoicePaid,
    SubscriptionActivated,
)
from billing_events.envelope import new_envelope, registry
from billing_events.store import ConcurrencyConflict, PostgresEventStore
from subscriptions.adapters.postgres import TransactionalOutbox
from subscriptions.application.commands import CommandHandler

pytestmark = pytest.mark.integration

MERCHANT = "mer_it"
FIXED_NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
CARD = CardSummary(
    payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030
)


async def set_up_subscription(command_handler, deliver, make_command) -> None:
    for data in (
        CreatePlan(plan_id="plan_1", name="Pro", amount=2999, currency="USD", interval="month"),
        RegisterCustomer(customer_id="cus_1", email="ana@example.com", name="Ana"),
        AttachPaymentMethod(customer_id="cus_1", card=CARD),
        CreateSubscription(
            subscription_id="sub_1",
            customer_id="cus_1",
            plan_id="plan_1",
            payment_method_id="pm_1",
        ),
    ):
        assert await deliver(command_handler, make_command(data))


async def outbox_rows(db: asyncpg.Pool) -> list[asyncpg.Record]:
    return await db.fetch("SELECT topic, key, value FROM outbox ORDER BY position")


async def test_commands_append_to_streams_and_publish_through_the_outbox(
    db, store: PostgresEventStore, command_handler, deliver, make_command
) -> None:
    await set_up_subscription(command_handler, deliver, make_command)
    [created] = await store.read_stream("subscription-sub_1")
    assert created.event_type == "SubscriptionCreated"
    assert created.data.plan.amount == 2999
    rows = await outbox_rows(db)
    assert [(r["topic"], r["key"]) for r in rows] == [
        ("billing.plans.events", "plan-plan_1"),
        ("billing.customers.events", "customer-cus_1"),
        ("billing.customers.events", "customer-cus_1"),
        ("billing.subscriptions.events", "subscription-sub_1"),
    ]
    # What is published is the stored envelope.
    assert registry.parse(rows[-1]["value"]) == created


async def test_card_numbers_never_reach_a_table(db, command_handler, deliver, make_command) -> None:
    await set_up_subscription(command_handler, deliver, make_command)
    dump = orjson.dumps(
        [dict(r) for r in await db.fetch("SELECT data FROM events")]
        + [r["value"].decode() for r in await outbox_rows(db)]
    )
    assert b"4242424242424242" not in dump
    assert b"cvc" not in dump.lower()


async def test_rejection_goes_to_the_outbox_not_the_stream(
    db, store, command_handler, deliver, make_command
) -> None:
    await set_up_subscription(command_handler, deliver, make_command)
    correlation = uuid.uuid4()
    duplicate = make_command(
        CreateSubscription(
            subscription_id="sub_1",
            customer_id="cus_1",
            plan_id="plan_1",
            payment_method_id="pm_1",
        ),
        correlation_id=correlation,
    )
    assert await deliver(command_handler, duplicate)
    assert len(await store.read_stream("subscription-sub_1")) == 1
    last = (await outbox_rows(db))[-1]
    assert (last["topic"], last["key"]) == ("billing.subscriptions.events", "subscription-sub_1")
    answer = registry.parse(last["value"])
    assert answer.data == CommandRejected(
        command_id=str(duplicate.event_id),
        command_type="CreateSubscription",
        code="subscription_already_exists",
        message="subscription sub_1 already exists",
    )
    assert answer.causation_id == duplicate.event_id
    assert answer.correlation_id == correlation
    assert answer.merchant_id == MERCHANT


async def test_redelivered_command_changes_nothing_twice(
    db, store, command_handler, deliver, make_command
) -> None:
    plan = make_command(
        CreatePlan(plan_id="plan_1", name="Pro", amount=2999, currency="USD", interval="month")
    )
    assert await deliver(command_handler, plan)
    assert not await deliver(command_handler, plan)
    assert len(await store.read_stream("plan-plan_1")) == 1
    assert len(await outbox_rows(db)) == 1  # no CommandRejected for the redelivery either


class ReadTogether(PostgresEventStore):
    """The real store, holding the first ``parties`` reads of one stream until all of them
    have read it: every handler then decides on the same version, as if all had run at the
    same instant, and all but one must lose the append and retry."""

    def __init__(self, pool: asyncpg.Pool, stream_id: str, parties: int) -> None:
        super().__init__(pool)
        self._stream_id = stream_id
        self._barrier = asyncio.Barrier(parties)
        self._held = parties
        self.conflicts = 0

    async def read_stream(self, stream_id, from_version=1, *, conn=None):
        events = await super().read_stream(stream_id, from_version, conn=conn)
        if stream_id == self._stream_id and self._held > 0:
            self._held -= 1
            async with asyncio.timeout(30):
                await self._barrier.wait()
        return events

    async def append(self, stream_id, expected_version, events, *, conn=None):
        try:
            return await super().append(stream_id, expected_version, events, conn=conn)
        except ConcurrencyConflict:
            self.conflicts += 1
            raise


async def test_twenty_concurrent_cancels_give_exactly_one_cancellation(
    db, store, writer, merchant_time, command_handler, deliver, make_command
) -> None:
    await set_up_subscription(command_handler, deliver, make_command)
    racing = ReadTogether(db, "subscription-sub_1", parties=20)
    handler = CommandHandler(replace(writer, store=racing), TransactionalOutbox(), merchant_time)
    cancels = [
        make_command(CancelSubscription(subscription_id="sub_1", reason="too_expensive"))
        for _ in range(20)
    ]
    done = await asyncio.gather(*(deliver(handler, c) for c in cancels))
    assert all(done)
    assert racing.conflicts == 19, "all twenty decided on the same version"
    stream = await store.read_stream("subscription-sub_1")
    assert [e.event_type for e in stream] == ["SubscriptionCreated", "SubscriptionCanceled"]
    answers = [
        registry.parse(r["value"])
        for r in await outbox_rows(db)
        if r["key"] == "subscription-sub_1"
    ][2:]  # after SubscriptionCreated and SubscriptionCanceled
    assert [a.data.code for a in answers] == ["already_canceled"] * 19
    # Every command got exactly one answer: the cancellation or its rejection.
    caused = [stream[1].causation_id, *(a.causation_id for a in answers)]
    assert sorted(map(str, caused)) == sorted(str(c.event_id) for c in cancels)


async def test_first_invoice_payment_activates(
    db, store, command_handler, invoice_handler, deliver, make_command
) -> None:
    await set_up_subscription(command_handler, deliver, make_command)
    created = (await store.read_stream("subscription-sub_1"))[0]
    period_start = created.occurred_at
    paid_at = period_start + timedelta(seconds=4)
    correlation = created.correlation_id
    issued = new_envelope(
        InvoiceIssued(
            invoice_id="in_1",
            number="INV-1",
            customer_id="cus_1",
            subscription_id="sub_1",
            reason="subscription_create",
            lines=(InvoiceLine(description="Pro", amount=2999),),
            amount_due=2999,
            currency="USD",
            issued_at=period_start,
            period_start=period_start,
            period_end=period_start + timedelta(days=31),
        ),
        stream_id="invoice-in_1",
        merchant_id=MERCHANT,
        correlation_id=correlation,
    )
    paid = new_envelope(
        InvoicePaid(
            invoice_id="in_1",
            customer_id="cus_1",
            subscription_id="sub_1",
            amount_paid=2999,
            currency="USD",
            paid_at=paid_at,
        ),
        stream_id="invoice-in_1",
        merchant_id=MERCHANT,
        correlation_id=correlation,
    )
    assert await deliver(invoice_handler, issued, "invoices")
    assert await deliver(invoice_handler, paid, "invoices")
    assert not await deliver(invoice_handler, paid, "invoices")
    stream = await store.read_stream("subscription-sub_1")
    assert [e.event_type for e in stream] == ["SubscriptionCreated", "SubscriptionActivated"]
    assert isinstance(stream[1].data, SubscriptionActivated)
    assert stream[1].data.current_period_start == period_start  # the invoice's, not paid_at
    assert stream[1].causation_id == paid.event_id
    assert stream[1].correlation_id == correlation
    link = await db.fetchrow("SELECT reason, period_start FROM invoice_links")
    assert dict(link) == {"reason": "subscription_create", "period_start": period_start}


async def test_handler_writes_only_within_the_inbox_transaction(
    db, store, command_handler, deliver, make_command
) -> None:
    """If the transaction fails after the handler ran, neither its events nor its outbox
    messages remain: the handler wrote through the consumer's connection, nowhere else."""

    async def then_fail(envelope, conn) -> None:
        await command_handler(envelope, conn)
        raise RuntimeError("the commit never happens")

    plan = make_command(
        CreatePlan(plan_id="plan_x", name="X", amount=1, currency="USD", interval="month")
    )
    with pytest.raises(RuntimeError):
        await deliver(then_fail, plan)
    unknown = make_command(CancelSubscription(subscription_id="sub_unknown"))
    with pytest.raises(RuntimeError):
        await deliver(then_fail, unknown)  # would be answered with a CommandRejected
    assert await store.read_stream("plan-plan_x") == []
    assert await outbox_rows(db) == []
    assert await db.fetchval("SELECT count(*) FROM inbox") == 0
