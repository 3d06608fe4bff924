"""UpdateSubscriptionPaymentMethod: only one of the customer's own valid cards, while the
subscription lives; the domain, then the command handler with its rejections."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from billing_events.contract.commands import (
    AttachPaymentMethod,
    CancelSubscription,
    RegisterCustomer,
    UpdateSubscriptionPaymentMethod,
)
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import CommandRejected, PaymentMethodUpdated
from subscriptions.domain import subscription as sub
from subscriptions.domain.customer import Customer
from subscriptions.domain.rejection import (
    PAYMENT_METHOD_EXPIRED,
    PAYMENT_METHOD_NOT_FOUND,
    PAYMENT_METHOD_UNCHANGED,
    SUBSCRIPTION_ENDED,
    SUBSCRIPTION_NOT_FOUND,
    Rejected,
)
from subscriptions.domain.subscription import Status

NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
VISA = CardSummary(
    payment_method_id="pm_visa", brand="visa", last4="4242", exp_month=12, exp_year=2030
)
MASTERCARD = CardSummary(
    payment_method_id="pm_mc", brand="mastercard", last4="4444", exp_month=6, exp_year=2031
)
EXPIRED = CardSummary(
    payment_method_id="pm_old", brand="visa", last4="0005", exp_month=12, exp_year=2024
)
CUSTOMER = Customer("cus_1", "ana@example.com", "Ana", None, "en", (VISA, MASTERCARD, EXPIRED))
SUBSCRIPTION = sub.Subscription(
    subscription_id="sub_1",
    customer_id="cus_1",
    plan=PlanSnapshot(plan_id="plan_1", name="Pro", amount=2999, currency="USD", interval="month"),
    payment_method=VISA,
    status=Status.ACTIVE,
)


def update(payment_method_id: str) -> UpdateSubscriptionPaymentMethod:
    return UpdateSubscriptionPaymentMethod(
        subscription_id="sub_1", payment_method_id=payment_method_id
    )


def test_another_card_of_the_customer_becomes_the_subscriptions() -> None:
    change = sub.prepare_payment_method_update(update("pm_mc"), SUBSCRIPTION, CUSTOMER, NOW)
    events = sub.decide(change, SUBSCRIPTION, NOW)
    assert events == [
        PaymentMethodUpdated(
            subscription_id="sub_1", customer_id="cus_1", payment_method=MASTERCARD
        )
    ]
    state = sub.evolve(SUBSCRIPTION, events[0])
    assert state is not None
    assert state.payment_method == MASTERCARD


@pytest.mark.parametrize(
    ("subscription", "customer", "payment_method_id", "code"),
    [
        (None, CUSTOMER, "pm_mc", SUBSCRIPTION_NOT_FOUND),
        (SUBSCRIPTION, CUSTOMER, "pm_someone_elses", PAYMENT_METHOD_NOT_FOUND),
        (SUBSCRIPTION, None, "pm_mc", PAYMENT_METHOD_NOT_FOUND),
        (SUBSCRIPTION, CUSTOMER, "pm_old", PAYMENT_METHOD_EXPIRED),
    ],
)
def test_the_card_must_be_the_customers_and_valid(
    subscription: sub.Subscription | None,
    customer: Customer | None,
    payment_method_id: str,
    code: str,
) -> None:
    with pytest.raises(Rejected) as caught:
        sub.prepare_payment_method_update(update(payment_method_id), subscription, customer, NOW)
    assert caught.value.code == code


@pytest.mark.parametrize("status", [Status.CANCELED, Status.INCOMPLETE_EXPIRED])
def test_an_ended_subscription_keeps_its_card(status: Status) -> None:
    with pytest.raises(Rejected) as caught:
        sub.decide(sub.ChangePaymentMethod(MASTERCARD), replace(SUBSCRIPTION, status=status), NOW)
    assert caught.value.code == SUBSCRIPTION_ENDED


def test_the_same_card_again_is_rejected_unless_on_hold() -> None:
    with pytest.raises(Rejected) as caught:
        sub.decide(sub.ChangePaymentMethod(VISA), SUBSCRIPTION, NOW)
    assert caught.value.code == PAYMENT_METHOD_UNCHANGED
    # On hold, the same card again is the customer retrying the overdue charge.
    on_hold = replace(SUBSCRIPTION, status=Status.ON_HOLD)
    [event] = sub.decide(sub.ChangePaymentMethod(VISA), on_hold, NOW)
    assert isinstance(event, PaymentMethodUpdated)


def test_an_incomplete_subscription_may_change_card() -> None:
    incomplete = replace(SUBSCRIPTION, status=Status.INCOMPLETE)
    [event] = sub.decide(sub.ChangePaymentMethod(MASTERCARD), incomplete, NOW)
    assert isinstance(event, PaymentMethodUpdated)


# --- through the command handler ---------------------------------------------------------


async def test_the_handler_emits_payment_method_updated(
    store, outbox, send, catalog, new_subscription
) -> None:
    await catalog()
    await send(AttachPaymentMethod(customer_id="cus_1", card=MASTERCARD))
    await send(new_subscription())
    command = await send(update("pm_mc"))
    assert outbox.published == []
    *_, updated = store.streams["subscription-sub_1"]
    assert updated.data == PaymentMethodUpdated(
        subscription_id="sub_1", customer_id="cus_1", payment_method=MASTERCARD
    )
    assert updated.causation_id == command.event_id


def rejection_code(outbox) -> str:
    [answer] = outbox.published
    assert isinstance(answer.data, CommandRejected)
    assert answer.data.command_type == "UpdateSubscriptionPaymentMethod"
    assert answer.stream_id == "subscription-sub_1"
    return answer.data.code


async def test_the_handler_refuses_another_customers_card(
    store, outbox, send, catalog, new_subscription
) -> None:
    await catalog()
    await send(RegisterCustomer(customer_id="cus_2", email="bo@example.com", name="Bo"))
    await send(AttachPaymentMethod(customer_id="cus_2", card=MASTERCARD))
    await send(new_subscription())
    await send(update("pm_mc"))
    assert rejection_code(outbox) == PAYMENT_METHOD_NOT_FOUND
    assert store.types("subscription-sub_1") == ["SubscriptionCreated"]


async def test_the_handler_refuses_an_unknown_or_foreign_subscription(
    store, outbox, send, catalog, new_subscription
) -> None:
    await catalog(merchant_id="mer_other")
    await send(new_subscription(), merchant_id="mer_other")
    await send(update("pm_visa"))  # mer_1 names mer_other's subscription
    assert rejection_code(outbox) == SUBSCRIPTION_NOT_FOUND
    assert store.types("subscription-sub_1") == ["SubscriptionCreated"]


async def test_the_handler_refuses_a_canceled_subscription(
    outbox, send, catalog, new_subscription
) -> None:
    await catalog()
    await send(AttachPaymentMethod(customer_id="cus_1", card=MASTERCARD))
    await send(new_subscription())
    await send(CancelSubscription(subscription_id="sub_1"))
    await send(update("pm_mc"))
    assert rejection_code(outbox) == SUBSCRIPTION_ENDED
