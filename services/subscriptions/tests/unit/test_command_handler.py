from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from billing_events.contract.commands import (
    AttachPaymentMethod,
    CancelSubscription,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
)
from billing_events.contract.common import CardSummary
from billing_events.contract.events import CommandRejected, SubscriptionCreated
from billing_events.envelope import Envelope
from subscriptions.application.aggregates import SUBSCRIPTIONS, Context
from subscriptions.application.commands import CommandHandler
from subscriptions.domain import rejection
from subscriptions.domain.subscription import ActivateSubscription

MERCHANT = "mer_1"
PLAN = CreatePlan(plan_id="plan_1", name="Pro", amount=2999, currency="USD", interval="month")

Catalog = Callable[..., Awaitable[None]]


def only_rejection(outbox: object) -> CommandRejected:
    published = outbox.published  # type: ignore[attr-defined]
    assert len(published) == 1
    data = published[0].data
    assert isinstance(data, CommandRejected)
    return data


async def test_each_command_lands_on_its_target_stream(store, outbox, send, catalog) -> None:
    await catalog()
    await send(
        CreateSubscription(
            subscription_id="sub_1",
            customer_id="cus_1",
            plan_id="plan_month",
            payment_method_id="pm_visa",
        )
    )
    assert store.types("plan-plan_month") == ["PlanCreated"]
    assert store.types("plan-plan_year") == ["PlanCreated"]
    assert store.types("customer-cus_1") == ["CustomerRegistered", "PaymentMethodAttached"]
    assert store.types("subscription-sub_1") == ["SubscriptionCreated"]
    assert outbox.published == []


async def test_events_carry_command_id_correlation_merchant_and_clock_time(
    store, send, clock
) -> None:
    correlation = uuid.uuid4()
    command = await send(PLAN, correlation_id=correlation)
    [event] = store.streams["plan-plan_1"]
    assert event.causation_id == command.event_id
    assert event.correlation_id == correlation
    assert event.merchant_id == MERCHANT
    assert event.occurred_at == clock.now
    assert event.stream_version == 1


async def test_subscription_snapshots_plan_and_card(store, send, catalog, new_subscription):
    await catalog()
    await send(new_subscription())
    [created] = store.streams["subscription-sub_1"]
    assert isinstance(created.data, SubscriptionCreated)
    assert created.data.plan.amount == 2999
    assert created.data.plan.interval == "month"
    assert created.data.payment_method.last4 == "4242"


async def test_rejection_is_published_not_stored(store, outbox, send, clock) -> None:
    await send(PLAN)
    correlation = uuid.uuid4()
    command = await send(PLAN, correlation_id=correlation)
    assert store.types("plan-plan_1") == ["PlanCreated"]
    [answer] = outbox.published
    assert answer.data == CommandRejected(
        command_id=str(command.event_id),
        command_type="CreatePlan",
        code=rejection.PLAN_ALREADY_EXISTS,
        message="plan plan_1 already exists",
    )
    assert answer.stream_id == "plan-plan_1"
    assert answer.causation_id == command.event_id
    assert answer.correlation_id == correlation
    assert answer.merchant_id == MERCHANT
    assert answer.occurred_at == clock.now
    assert answer.stream_version == 0


async def test_subscription_needs_plan_customer_and_their_card(
    store, outbox, send, catalog, new_subscription
) -> None:
    await catalog()
    cases = [
        (new_subscription("sub_a", plan_id="plan_missing"), rejection.PLAN_NOT_FOUND),
        (new_subscription("sub_b", customer_id="cus_missing"), rejection.CUSTOMER_NOT_FOUND),
        (new_subscription("sub_c", payment_method_id="pm_x"), rejection.PAYMENT_METHOD_NOT_FOUND),
    ]
    for command, code in cases:
        outbox.published.clear()
        await send(command)
        assert only_rejection(outbox).code == code
        assert store.types(f"subscription-{command.subscription_id}") == []


async def test_another_customers_card_is_refused(
    store, outbox, send, catalog, new_subscription
) -> None:
    await catalog()
    await send(RegisterCustomer(customer_id="cus_2", email="bo@example.com", name="Bo"))
    await send(new_subscription(customer_id="cus_2"))
    assert only_rejection(outbox).code == rejection.PAYMENT_METHOD_NOT_FOUND


async def test_expired_card_is_refused(store, outbox, send, catalog, clock, new_subscription):
    await catalog()
    old = CardSummary(
        payment_method_id="pm_old", brand="visa", last4="0000", exp_month=12, exp_year=2024
    )
    await send(AttachPaymentMethod(customer_id="cus_1", card=old))
    await send(new_subscription(payment_method_id="pm_old"))
    assert only_rejection(outbox).code == rejection.PAYMENT_METHOD_EXPIRED


async def test_other_merchants_streams_do_not_exist(
    store, outbox, send, catalog, new_subscription
) -> None:
    await catalog(merchant_id="mer_other")
    await send(new_subscription())
    assert only_rejection(outbox).code == rejection.PLAN_NOT_FOUND
    outbox.published.clear()
    await send(
        AttachPaymentMethod(
            customer_id="cus_1",
            card=CardSummary(
                payment_method_id="pm_2", brand="visa", last4="1111", exp_month=1, exp_year=2030
            ),
        )
    )
    assert only_rejection(outbox).code == rejection.CUSTOMER_NOT_FOUND
    assert store.types("customer-cus_1") == ["CustomerRegistered", "PaymentMethodAttached"]


async def test_command_addressed_to_the_wrong_stream_is_refused(store, outbox, send) -> None:
    command = await send(PLAN, stream_id="plan-plan_other")
    answer = only_rejection(outbox)
    assert answer.code == rejection.INVALID_COMMAND
    assert outbox.published[0].stream_id == "plan-plan_other"
    assert outbox.published[0].causation_id == command.event_id
    assert store.streams == {}


async def test_cancel_of_unknown_subscription_is_rejected(outbox, send) -> None:
    await send(CancelSubscription(subscription_id="sub_nope"))
    assert only_rejection(outbox).code == rejection.SUBSCRIPTION_NOT_FOUND
    assert outbox.published[0].stream_id == "subscription-sub_nope"


async def activate(writer, clock) -> None:
    envelope_source = uuid.uuid4()
    await writer.execute(
        SUBSCRIPTIONS,
        "sub_1",
        ActivateSubscription("in_1", clock.now),
        Context(MERCHANT, uuid.uuid4(), envelope_source, clock.now),
        conn=object(),
    )


async def test_concurrent_cancels_give_exactly_one_cancellation(
    store,
    writer,
    outbox,
    catalog,
    send,
    clock,
    command_handler: CommandHandler,
    make_envelope,
    new_subscription,
) -> None:
    await catalog()
    await send(new_subscription())
    await activate(writer, clock)
    clock.advance(timedelta(days=2))
    cancels: list[Envelope] = [
        make_envelope(CancelSubscription(subscription_id="sub_1", reason="unused"))
        for _ in range(20)
    ]
    await asyncio.gather(*(command_handler(c, object()) for c in cancels))
    assert store.types("subscription-sub_1") == [
        "SubscriptionCreated",
        "SubscriptionActivated",
        "SubscriptionCanceled",
    ]
    assert store.conflicts > 0, "the handlers did race"
    codes = [e.data.code for e in outbox.published]
    assert codes == [rejection.ALREADY_CANCELED] * 19
    answered = {e.causation_id for e in outbox.published}
    winner = store.streams["subscription-sub_1"][-1].causation_id
    assert answered | {winner} == {c.event_id for c in cancels}
