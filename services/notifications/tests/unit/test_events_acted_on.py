"""Which events notifications acts on: the consumer settles the others without a
transaction, so a "no" here must be an event the handler would do nothing for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationScheduled,
    ChargeSucceeded,
    CustomerRegistered,
    InvoicePaid,
    MerchantRegistered,
    PlanChanged,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionRenewed,
)
from billing_events.envelope import Envelope, EventData, new_envelope
from notifications.application.handler import NotificationHandler

AT = datetime(2025, 6, 15, tzinfo=UTC)
CARD = CardSummary(payment_method_id="pm_1", brand="visa", last4="4242", exp_month=1, exp_year=2030)
PLAN = PlanSnapshot(plan_id="plan_1", name="Pro", amount=1000, currency="USD", interval="month")


def handler() -> NotificationHandler:
    # Nothing to render and no table to write: an event acted on would fail here.
    untouched = SimpleNamespace(projection=None, mail_log=None)
    return NotificationHandler(cast(Any, None), lambda _conn: cast(Any, untouched))


def envelope_of(data: EventData) -> Envelope:
    return new_envelope(
        data, stream_id="subscription-sub_1", merchant_id="mer_1", correlation_id=uuid.uuid4()
    )


@pytest.mark.parametrize(
    "data",
    [
        MerchantRegistered(merchant_id="mer_1", slug="acme", name="Acme"),
        CustomerRegistered(customer_id="cus_1", email="ana@example.com", name="Ana"),
        SubscriptionCreated(
            subscription_id="sub_1", customer_id="cus_1", plan=PLAN, payment_method=CARD
        ),
        PlanChanged(
            subscription_id="sub_1",
            from_plan=PLAN,
            to_plan=PLAN,
            effective_at=AT,
            proration_amount=0,
        ),
        InvoicePaid(
            invoice_id="in_1", customer_id="cus_1", amount_paid=1000, currency="USD", paid_at=AT
        ),
        SubscriptionCanceled(subscription_id="sub_1", customer_id="cus_1", canceled_at=AT),
        CancellationScheduled(subscription_id="sub_1", cancel_at=AT),
    ],
    ids=lambda data: data.event_type,
)
def test_what_is_projected_or_mailed_is_acted_on(data: EventData) -> None:
    assert handler().acts_on(envelope_of(data))


@pytest.mark.parametrize(
    "data",
    [
        SubscriptionRenewed(
            subscription_id="sub_1", current_period_start=AT, current_period_end=AT
        ),
        ChargeSucceeded(
            invoice_id="in_1", charge_id="ch_1", amount=1000, currency="USD", payment_method=CARD
        ),
    ],
    ids=lambda data: data.event_type,
)
async def test_what_is_left_to_the_consumer_the_handler_would_do_nothing_with(
    data: EventData,
) -> None:
    envelope = envelope_of(data)

    assert not handler().acts_on(envelope)
    await handler()(envelope, cast(Any, None))  # touches neither projection nor mail log
