"""Test clocks, the renewal schedule and renewal scans on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from billing_events.contract.commands import (
    AdvanceTestClock,
    AttachPaymentMethod,
    CancelSubscription,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
)
from billing_events.contract.common import CardSummary
from billing_events.contract.events import SubscriptionRenewed
from billing_events.envelope import registry
from billing_events.store import PostgresEventStore
from subscriptions.adapters.postgres import unscheduled_subscriptions
from subscriptions.application.aggregates import SUBSCRIPTIONS, Context
from subscriptions.application.renewals import ScanCause
from subscriptions.domain.subscription import ActivateSubscription

pytestmark = pytest.mark.integration

MERCHANT = "mer_it"
FIXED_NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)  # the fixtures' wall clock
FEB_28, MAR_31, APR_30, MAY_31 = (
    datetime(2025, month, day, 12, 0, tzinfo=UTC)
    for month, day in ((2, 28), (3, 31), (4, 30), (5, 31))
)
CARD = CardSummary(
    payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030
)


async def active_subscriptions(
    db, writer, command_handler, deliver, make_command, count: int = 1, merchant: str = MERCHANT
) -> list[str]:
    """Plan, customer, card and ``count`` subscriptions active from FIXED_NOW."""
    suffix = uuid.uuid4().hex[:6]
    plan, customer = f"plan_{suffix}", f"cus_{suffix}"
    card = CARD.model_copy(update={"payment_method_id": f"pm_{suffix}"})
    setup = [
        CreatePlan(plan_id=plan, name="Pro", amount=2999, currency="USD", interval="month"),
        RegisterCustomer(customer_id=customer, email="ana@example.com", name="Ana"),
        AttachPaymentMethod(customer_id=customer, card=card),
    ]
    ids = [f"sub_{suffix}_{n}" for n in range(count)]
    setup += [
        CreateSubscription(
            subscription_id=subscription_id,
            customer_id=customer,
            plan_id=plan,
            payment_method_id=card.payment_method_id,
        )
        for subscription_id in ids
    ]
    for data in setup:
        assert await deliver(command_handler, make_command(data, merchant_id=merchant))
    for subscription_id in ids:
        async with db.acquire() as conn, conn.transaction():
            await writer.execute(
                SUBSCRIPTIONS,
                subscription_id,
                ActivateSubscription(f"in_{subscription_id}", FIXED_NOW),
                Context(merchant, uuid.uuid4(), uuid.uuid4(), FIXED_NOW),
                conn=conn,
            )
    return ids


async def schedule_row(db: asyncpg.Pool, subscription_id: str) -> dict:
    row = await db.fetchrow(
        "SELECT merchant_id, status, current_period_end, cancel_at, due_at, stream_version "
        "FROM renewal_schedule WHERE subscription_id = $1",
        subscription_id,
    )
    assert row is not None, f"{subscription_id} is not on the schedule"
    return dict(row)


async def advance(command_handler, deliver, make_command, to: datetime, merchant=MERCHANT):
    command = make_command(
        AdvanceTestClock(merchant_id=merchant, advance_to=to), merchant_id=merchant
    )
    assert await deliver(command_handler, command)
    return command


async def test_the_schedule_is_written_with_each_append_and_rolled_back_with_it(
    db, writer, command_handler, deliver, make_command
) -> None:
    [sub] = await active_subscriptions(db, writer, command_handler, deliver, make_command)
    assert await schedule_row(db, sub) == {
        "merchant_id": MERCHANT,
        "status": "active",
        "current_period_end": FEB_28,
        "cancel_at": None,
        "due_at": FEB_28,
        "stream_version": 2,
    }

    async def then_fail(envelope, conn) -> None:
        await command_handler(envelope, conn)
        raise RuntimeError("the commit never happens")

    cancel = make_command(CancelSubscription(subscription_id=sub, at_period_end=True))
    with pytest.raises(RuntimeError):
        await deliver(then_fail, cancel)
    assert (await schedule_row(db, sub))["cancel_at"] is None
    assert await deliver(command_handler, cancel)
    row = await schedule_row(db, sub)
    assert (row["cancel_at"], row["stream_version"]) == (FEB_28, 3)


async def test_the_clock_is_stored_published_and_never_goes_back(
    db, store: PostgresEventStore, command_handler, deliver, make_command, merchant_time
) -> None:
    target = FIXED_NOW + timedelta(days=45)
    await advance(command_handler, deliver, make_command, target)
    assert await merchant_time.now(MERCHANT) == target
    assert await merchant_time.now("mer_without_clock") == FIXED_NOW
    backwards = await advance(command_handler, deliver, make_command, target - timedelta(minutes=1))
    [stored] = await store.read_stream(f"clock-{MERCHANT}")
    assert stored.data.frozen_time == target
    rows = await db.fetch("SELECT topic, key, value FROM outbox ORDER BY position")
    assert [(r["topic"], r["key"]) for r in rows] == [
        ("billing.clocks.events", f"clock-{MERCHANT}"),
        ("billing.clocks.events", f"clock-{MERCHANT}"),
    ]
    answer = registry.parse(rows[1]["value"])
    assert answer.data.code == "clock_backwards"
    assert answer.causation_id == backwards.event_id
    assert await merchant_time.now(MERCHANT) == target


async def test_a_scan_renews_each_elapsed_period_in_the_merchants_time(
    db, store, writer, command_handler, deliver, make_command, renewal_scan
) -> None:
    [sub] = await active_subscriptions(db, writer, command_handler, deliver, make_command)
    advanced = await advance(command_handler, deliver, make_command, APR_30 + timedelta(hours=1))
    [clock_event] = await store.read_stream(f"clock-{MERCHANT}")
    result = await renewal_scan.run(MERCHANT, cause=ScanCause.of(clock_event))
    assert (result.renewed, result.events, result.failed) == ([sub], 3, [])

    stream = await store.read_stream(f"subscription-{sub}")
    renewals = [e for e in stream if isinstance(e.data, SubscriptionRenewed)]
    assert [(e.data.current_period_start, e.data.current_period_end) for e in renewals] == [
        (FEB_28, MAR_31),
        (MAR_31, APR_30),
        (APR_30, MAY_31),
    ]
    assert [e.stream_version for e in renewals] == [3, 4, 5]
    assert [e.occurred_at for e in renewals] == [FEB_28, MAR_31, APR_30]
    assert {e.correlation_id for e in renewals} == {advanced.correlation_id}
    # The merchant's time dates the events; the store still records when they were written.
    recorded = await db.fetch(
        "SELECT recorded_at, now() AS db_now FROM events "
        "WHERE stream_id = $1 AND stream_version >= 3",
        f"subscription-{sub}",
    )
    for row in recorded:
        assert abs(row["db_now"] - row["recorded_at"]) < timedelta(minutes=5)
    assert (await schedule_row(db, sub))["due_at"] == MAY_31
    assert (await renewal_scan.run()).events == 0


async def test_concurrent_scans_never_renew_a_period_twice(
    db, store, writer, command_handler, deliver, make_command, renewal_scan
) -> None:
    subs = await active_subscriptions(db, writer, command_handler, deliver, make_command, count=4)
    await advance(command_handler, deliver, make_command, APR_30 + timedelta(hours=1))
    results = await asyncio.gather(*(renewal_scan.run() for _ in range(5)))
    assert sum(r.events for r in results) == 4 * 3
    assert all(r.failed == [] for r in results)
    for sub in subs:
        stream = await store.read_stream(f"subscription-{sub}")
        starts = [
            e.data.current_period_start for e in stream if isinstance(e.data, SubscriptionRenewed)
        ]
        assert starts == [FEB_28, MAR_31, APR_30]
        assert [e.stream_version for e in stream] == list(range(1, 6))


async def test_due_subscriptions_are_found_in_each_merchants_own_time(
    db, writer, command_handler, deliver, make_command, schedule
) -> None:
    [frozen] = await active_subscriptions(db, writer, command_handler, deliver, make_command)
    [wall] = await active_subscriptions(
        db, writer, command_handler, deliver, make_command, merchant="mer_wall"
    )
    await advance(command_handler, deliver, make_command, MAR_31)
    due = await schedule.due(FIXED_NOW)
    assert [(d.subscription_id, d.merchant_id) for d in due] == [(frozen, MERCHANT)]
    due = await schedule.due(FEB_28, merchant_id="mer_wall")
    assert [d.subscription_id for d in due] == [wall]
    assert await schedule.due(FEB_28, merchant_id="mer_wall", exclude=[wall]) == []


async def test_subscriptions_written_before_the_schedule_are_adopted(
    db, writer, command_handler, deliver, make_command, renewal_scan, schedule
) -> None:
    subs = await active_subscriptions(db, writer, command_handler, deliver, make_command, count=2)
    await db.execute("DELETE FROM renewal_schedule")
    assert await schedule.is_empty()
    missing = await unscheduled_subscriptions(db)
    assert sorted(missing) == sorted((sub, MERCHANT) for sub in subs)
    assert await renewal_scan.adopt(missing) == 2
    for sub in subs:
        assert (await schedule_row(db, sub))["due_at"] == FEB_28
    assert await unscheduled_subscriptions(db) == []
