"""Which subscription events invoicing acts on: the consumer settles the others without a
transaction, so a "no" here must be an event the handler would do nothing for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    PaymentMethodUpdated,
    PlanChanged,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionRenewed,
)
from billing_events.envelope import Envelope, EventData, new_envelope
from invoicing.application.subscription_events import SubscriptionEventHandler

AT = datetime(2025, 6, 15, tzinfo=UTC)
CARD = CardSummary(payment_method_id="pm_1", brand="visa", last4="4242", exp_month=1, exp_year=2030)
PLAN = PlanSnapshot(plan_id="plan_1", name="Pro", amount=1000, currency="USD", interval="month")


def handler() -> SubscriptionEventHandler:
    # acts_on looks at the event alone: no port is touched.
    unused = cast(Any, None)
    return SubscriptionEventHandler(unused, unused, unused, unused, unused)


def envelope_of(data: EventData) -> Envelope:
    return new_envelope(
        data, stream_id="subscription-sub_1", merchant_id="mer_1", correlation_id=uuid.uuid4()
    )


def acts_on(data: EventData) -> bool:
    return handler().acts_on(envelope_of(data))


@pytest.mark.parametrize(
    "data",
    [
        SubscriptionCreated(
            subscription_id="sub_1", customer_id="cus_1", plan=PLAN, payment_method=CARD
        ),
        PaymentMethodUpdated(subscription_id="sub_1", customer_id="cus_1", payment_method=CARD),
        PlanChanged(
            subscription_id="sub_1",
            from_plan=PLAN,
            to_plan=PLAN,
            effective_at=AT,
            proration_amount=0,
        ),
        SubscriptionRenewed(
            subscription_id="sub_1", current_period_start=AT, current_period_end=AT
        ),
    ],
    ids=lambda data: data.event_type,
)
def test_what_changes_the_terms_or_starts_a_period_is_acted_on(data: EventData) -> None:
    assert acts_on(data)


async def test_a_cancellation_bills_nothing_and_is_left_to_the_consumer() -> None:
    canceled = SubscriptionCanceled(subscription_id="sub_1", customer_id="cus_1", canceled_at=AT)

    assert not acts_on(canceled)
    # The handler itself would do nothing with it: with no ports at all, it does not fail.
    await handler()(envelope_of(canceled), cast(Any, None))
