"""Test clocks and renewal scans through the application, on the in-memory ports."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

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
from billing_events.contract.events import (
    CommandRejected,
    SubscriptionCanceled,
    SubscriptionRenewed,
    TestClockAdvanced,
)
from billing_events.envelope import new_envelope
from subscriptions.application.aggregates import SUBSCRIPTIONS, Context
from subscriptions.application.commands import CommandHandler
from subscriptions.application.renewals import ClockEventHandler, ScanCause
from subscriptions.domain import rejection
from subscriptions.domain.subscription import ActivateSubscription, Status

CARD = CardSummary(
    payment_method_id="pm_b", brand="visa", last4="4242", exp_month=12, exp_year=2030
)
MERCHANT = "mer_1"  # as in conftest
NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)  # the wall clock's start, as in conftest

# Activated at NOW (31 January): periods end on 28 Feb, 31 Mar, 30 Apr, 31 May...
FEB_28, MAR_31, APR_30, MAY_31 = (
    datetime(2025, month, day, 12, 0, tzinfo=UTC)
    for month, day in ((2, 28), (3, 31), (4, 30), (5, 31))
)


@pytest.fixture
async def active_subscription(catalog, send, new_subscription, writer):
    """sub_1 of MERCHANT, active from NOW; returns a function making more of them."""

    async def make(subscription_id: str = "sub_1", merchant_id: str = MERCHANT) -> None:
        await send(new_subscription(subscription_id), merchant_id=merchant_id)
        await writer.execute(
            SUBSCRIPTIONS,
            subscription_id,
            ActivateSubscription("in_1", NOW),
            Context(merchant_id, uuid.uuid4(), uuid.uuid4(), NOW),
            conn=object(),
        )

    await catalog()
    await make()
    return make


def renewals(store, subscription_id: str = "sub_1") -> list:
    return [
        e
        for e in store.streams.get(f"subscription-{subscription_id}", [])
        if isinstance(e.data, SubscriptionRenewed)
    ]


async def advance(send, to: datetime, merchant_id: str = MERCHANT):
    return await send(
        AdvanceTestClock(merchant_id=merchant_id, advance_to=to), merchant_id=merchant_id
    )


# --- the clock as a command ------------------------------------------------------------


async def test_advancing_the_clock_moves_the_merchants_time(
    store, outbox, send, frozen_clocks, clock
) -> None:
    target = NOW + timedelta(days=90)
    command = await advance(send, target)
    [event] = store.streams[f"clock-{MERCHANT}"]
    assert event.data == TestClockAdvanced(merchant_id=MERCHANT, frozen_time=target)
    assert event.causation_id == command.event_id
    assert event.occurred_at == target
    assert await frozen_clocks.frozen_time(MERCHANT) == target

    # Later commands of the merchant happen at its time, not the wall clock's.
    clock.advance(timedelta(days=1))
    await send(CreatePlan(plan_id="plan_x", name="X", amount=100, currency="EUR", interval="month"))
    [plan] = store.streams["plan-plan_x"]
    assert plan.occurred_at == target
    # Another merchant still lives in wall-clock time.
    await send(
        CreatePlan(plan_id="plan_y", name="Y", amount=100, currency="EUR", interval="month"),
        merchant_id="mer_2",
    )
    [other] = store.streams["plan-plan_y"]
    assert other.occurred_at == clock.now
    assert outbox.published == []


def only_rejection(outbox) -> CommandRejected:
    [answer] = outbox.published
    assert isinstance(answer.data, CommandRejected)
    return answer.data


async def test_advancing_backwards_is_answered_clock_backwards(store, outbox, send) -> None:
    await advance(send, NOW + timedelta(days=30))
    command = await advance(send, NOW + timedelta(days=29))
    rejected = only_rejection(outbox)
    assert rejected.code == rejection.CLOCK_BACKWARDS
    assert rejected.command_id == str(command.event_id)
    assert outbox.published[0].stream_id == f"clock-{MERCHANT}"
    assert len(store.streams[f"clock-{MERCHANT}"]) == 1


async def test_a_merchant_cannot_move_another_merchants_clock(store, outbox, send) -> None:
    await send(AdvanceTestClock(merchant_id="mer_2", advance_to=NOW + timedelta(days=1)))
    assert only_rejection(outbox).code == rejection.INVALID_COMMAND
    assert "clock-mer_2" not in store.streams


async def test_test_clocks_can_be_disabled(writer, outbox, merchant_time, store) -> None:
    handler = CommandHandler(writer, outbox, merchant_time, test_clocks_enabled=False)
    command = AdvanceTestClock(merchant_id=MERCHANT, advance_to=NOW + timedelta(days=1))
    envelope = new_envelope(
        command,
        stream_id=f"clock-{MERCHANT}",
        merchant_id=MERCHANT,
        correlation_id=uuid.uuid4(),
    )
    await handler(envelope, object())  # type: ignore[arg-type]
    assert only_rejection(outbox).code == rejection.TEST_CLOCKS_DISABLED
    assert store.streams.get(f"clock-{MERCHANT}", []) == []


# --- the schedule follows the streams ----------------------------------------------------


async def test_the_schedule_follows_every_write_to_a_subscription(
    schedule, send, active_subscription
) -> None:
    entry = schedule.entry("sub_1")
    assert (entry.status, entry.current_period_end) == (Status.ACTIVE, FEB_28)
    await send(CancelSubscription(subscription_id="sub_1", at_period_end=True))
    assert schedule.entry("sub_1").cancel_at == FEB_28
    await send(CancelSubscription(subscription_id="sub_1"))
    assert schedule.entry("sub_1").status is Status.CANCELED
    assert await schedule.due(NOW + timedelta(days=400)) == []


# --- scans -------------------------------------------------------------------------------


async def test_a_clock_advance_of_three_months_renews_three_times_in_order(
    store, send, schedule, renewal_scan, active_subscription
) -> None:
    advanced = await advance(send, APR_30 + timedelta(hours=1))
    [clock_event] = store.streams[f"clock-{MERCHANT}"]
    result = await renewal_scan.run(MERCHANT, cause=ScanCause.of(clock_event))
    assert result.renewed == ["sub_1"]
    assert result.events == 3
    renewed = renewals(store)
    assert [(e.data.current_period_start, e.data.current_period_end) for e in renewed] == [
        (FEB_28, MAR_31),
        (MAR_31, APR_30),
        (APR_30, MAY_31),
    ]
    # Each renewal is dated where its period begins, in the merchant's time.
    assert [e.occurred_at for e in renewed] == [FEB_28, MAR_31, APR_30]
    assert {e.causation_id for e in renewed} == {clock_event.event_id}
    assert {e.correlation_id for e in renewed} == {advanced.correlation_id}
    assert schedule.entry("sub_1").current_period_end == MAY_31

    again = await renewal_scan.run(MERCHANT)
    assert (again.renewed, again.events) == ([], 0)
    assert len(renewals(store)) == 3


async def test_concurrent_scans_renew_each_period_once(
    store, send, renewal_scan, active_subscription
) -> None:
    for n in range(2, 6):
        await active_subscription(f"sub_{n}")
    await advance(send, APR_30 + timedelta(hours=1))
    results = await asyncio.gather(*(renewal_scan.run() for _ in range(6)))
    assert sum(r.events for r in results) == 15
    for n in range(1, 6):
        starts = [e.data.current_period_start for e in renewals(store, f"sub_{n}")]
        assert starts == [FEB_28, MAR_31, APR_30]
    assert store.conflicts > 0, "the scans did race"


async def test_a_scheduled_cancellation_ends_instead_of_renewing(
    store, send, schedule, renewal_scan, active_subscription
) -> None:
    await send(CancelSubscription(subscription_id="sub_1", at_period_end=True, reason="unused"))
    await advance(send, MAY_31)
    await renewal_scan.run(MERCHANT)
    *_, last = store.streams["subscription-sub_1"]
    assert last.data == SubscriptionCanceled(
        subscription_id="sub_1",
        customer_id="cus_1",
        canceled_at=FEB_28,
        reason="unused",
        at_period_end=True,
    )
    assert last.occurred_at == FEB_28
    assert renewals(store) == []
    assert schedule.entry("sub_1").status is Status.CANCELED


async def test_a_clock_moves_only_its_merchants_subscriptions(
    store, send, writer, renewal_scan, active_subscription
) -> None:
    other = "mer_2"
    await send(
        CreatePlan(plan_id="plan_b", name="B", amount=500, currency="EUR", interval="month"),
        merchant_id=other,
    )
    await send(
        RegisterCustomer(customer_id="cus_b", email="bo@example.com", name="Bo"),
        merchant_id=other,
    )
    await send(AttachPaymentMethod(customer_id="cus_b", card=CARD), merchant_id=other)
    await send(
        CreateSubscription(
            subscription_id="sub_b",
            customer_id="cus_b",
            plan_id="plan_b",
            payment_method_id=CARD.payment_method_id,
        ),
        merchant_id=other,
    )
    await writer.execute(
        SUBSCRIPTIONS,
        "sub_b",
        ActivateSubscription("in_b", NOW),
        Context(other, uuid.uuid4(), uuid.uuid4(), NOW),
        conn=object(),
    )
    await advance(send, APR_30 + timedelta(hours=1))
    await renewal_scan.run()
    assert len(renewals(store)) == 3
    assert renewals(store, "sub_b") == []


async def test_wall_clock_merchants_renew_as_real_time_passes(
    store, clock, renewal_scan, active_subscription
) -> None:
    assert (await renewal_scan.run()).events == 0
    clock.now = FEB_28 + timedelta(seconds=20)
    result = await renewal_scan.run()
    assert result.events == 1
    [renewed] = renewals(store)
    assert renewed.data.current_period_start == FEB_28
    assert renewed.causation_id is None


async def test_a_stale_schedule_entry_is_brought_back_in_step(
    store, schedule, send, renewal_scan, active_subscription
) -> None:
    await advance(send, MAR_31)
    await renewal_scan.run()
    # As if a row had missed the last append: it claims the old period again.
    merchant, state, version = schedule.rows["sub_1"]
    schedule.rows["sub_1"] = (merchant, replace(state, current_period_end=FEB_28), version - 1)
    result = await renewal_scan.run()
    assert result.events == 0
    assert len(renewals(store)) == 2
    assert schedule.entry("sub_1").current_period_end == datetime(2025, 4, 30, 12, tzinfo=UTC)


async def test_one_broken_subscription_does_not_stop_the_others(
    store, schedule, send, renewal_scan, active_subscription
) -> None:
    _, state, version = schedule.rows["sub_1"]
    # A row whose stream belongs to nobody of that merchant: its decision is refused.
    schedule.rows["sub_ghost"] = ("mer_ghost", replace(state, subscription_id="sub_ghost"), version)
    await advance(send, MAR_31)
    await advance(send, MAR_31, merchant_id="mer_ghost")
    result = await renewal_scan.run()
    assert result.failed == ["sub_ghost"]
    assert result.renewed == ["sub_1"]


async def test_a_clock_event_requests_a_scan_of_its_merchant() -> None:
    requested: list[tuple[str, ScanCause]] = []

    class Requests:
        def request(self, merchant_id: str, cause: ScanCause) -> None:
            requested.append((merchant_id, cause))

    handler = ClockEventHandler(Requests())
    event = new_envelope(
        TestClockAdvanced(merchant_id=MERCHANT, frozen_time=NOW),
        stream_id=f"clock-{MERCHANT}",
        merchant_id=MERCHANT,
        correlation_id=uuid.uuid4(),
    )
    assert handler.acts_on(event)
    await handler(event, object())  # type: ignore[arg-type]
    assert requested == [(MERCHANT, ScanCause(event.correlation_id, event.event_id))]
