"""Unit tests of the gateway's subscription read model (domain.subscriptions): pure folds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationRevoked,
    CancellationScheduled,
    InvoicePaid,
    LicenseKeyIssued,
    PaymentMethodUpdated,
    PlanChanged,
    RetentionOffer,
    RetentionOfferAccepted,
    SubscriptionActivated,
    SubscriptionActivationFailed,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionPutOnHold,
    SubscriptionReactivated,
    SubscriptionRenewed,
)
from billing_events.envelope import EventData
from portal_gateway.domain.subscriptions import (
    SubscriptionRecord,
    SubscriptionStatus,
    UnexpectedEvent,
    apply,
    start,
)

T0 = datetime(2025, 1, 15, 9, tzinfo=UTC)
T1 = datetime(2025, 2, 15, 9, tzinfo=UTC)
T2 = datetime(2025, 3, 15, 9, tzinfo=UTC)
SUB = "sub_1"
PRO = PlanSnapshot(
    plan_id="plan_pro",
    name="Pro",
    description="All of it",
    amount=2999,
    currency="USD",
    interval="month",
)
BASIC = PlanSnapshot(
    plan_id="plan_basic", name="Basic", amount=999, currency="USD", interval="month"
)
VISA = CardSummary(
    payment_method_id="pm_visa", brand="visa", last4="4242", exp_month=12, exp_year=2030
)
MASTERCARD = CardSummary(
    payment_method_id="pm_mc", brand="mastercard", last4="4444", exp_month=1, exp_year=2031
)


def created() -> SubscriptionRecord:
    event = SubscriptionCreated(
        subscription_id=SUB, customer_id="cus_1", plan=PRO, payment_method=VISA
    )
    return start(event, merchant_id="mer_1", version=1, at=T0)


def fold(record: SubscriptionRecord, *events: EventData) -> SubscriptionRecord:
    for event in events:
        record = apply(record, event, version=record.version + 1, at=T0)
    return record


ACTIVATED = SubscriptionActivated(
    subscription_id=SUB, invoice_id="in_1", current_period_start=T0, current_period_end=T1
)


def test_a_new_subscription_is_incomplete_and_renews_nothing_yet() -> None:
    record = created()
    assert record.status is SubscriptionStatus.INCOMPLETE
    assert not record.status.settled
    assert record.plan.name == "Pro"
    assert record.payment_method is not None
    assert record.payment_method.last4 == "4242"
    assert record.next_renewal_at is None
    assert record.next_renewal_amount is None


def test_activation_starts_the_period_and_the_next_renewal_charges_the_plan_price() -> None:
    record = fold(created(), ACTIVATED)
    assert record.status is SubscriptionStatus.ACTIVE
    assert record.status.settled
    assert (record.current_period_start, record.current_period_end) == (T0, T1)
    assert record.next_renewal_at == T1
    assert record.next_renewal_amount == 2999
    assert record.latest_invoice_id == "in_1"
    assert record.version == 2


def test_a_failed_first_charge_expires_the_subscription_with_the_decline() -> None:
    record = fold(
        created(),
        SubscriptionActivationFailed(
            subscription_id=SUB,
            invoice_id="in_1",
            decline_code="insufficient_funds",
            message="Your card has insufficient funds.",
        ),
    )
    assert record.status is SubscriptionStatus.INCOMPLETE_EXPIRED
    assert record.status.settled
    assert record.activation_failure_code == "insufficient_funds"
    assert record.next_renewal_at is None


def test_a_scheduled_cancellation_stops_the_renewal_and_can_be_revoked() -> None:
    scheduled = fold(
        created(),
        ACTIVATED,
        CancellationScheduled(
            subscription_id=SUB, cancel_at=T1, reason="too_expensive", comment="pricey"
        ),
    )
    assert scheduled.status is SubscriptionStatus.ACTIVE
    assert scheduled.cancel_at == T1
    assert scheduled.cancellation_reason == "too_expensive"
    assert scheduled.next_renewal_at is None
    assert scheduled.next_renewal_amount is None
    revoked = fold(scheduled, CancellationRevoked(subscription_id=SUB))
    assert revoked.cancel_at is None
    assert revoked.cancellation_reason is None
    assert revoked.next_renewal_at == T1


def test_cancellation_now_records_when_and_why() -> None:
    record = fold(
        created(),
        ACTIVATED,
        SubscriptionCanceled(
            subscription_id=SUB, customer_id="cus_1", canceled_at=T0, reason="unused"
        ),
    )
    assert record.status is SubscriptionStatus.CANCELED
    assert record.canceled_at == T0
    assert record.cancellation_reason == "unused"
    assert record.next_renewal_at is None


def test_renewal_moves_the_period_on() -> None:
    record = fold(
        created(),
        ACTIVATED,
        SubscriptionRenewed(subscription_id=SUB, current_period_start=T1, current_period_end=T2),
    )
    assert record.current_period_end == T2
    assert record.next_renewal_at == T2


def test_on_hold_then_reactivated() -> None:
    on_hold = fold(
        created(),
        ACTIVATED,
        SubscriptionPutOnHold(
            subscription_id=SUB, invoice_id="in_2", amount_due=2999, currency="USD"
        ),
    )
    assert on_hold.status is SubscriptionStatus.ON_HOLD
    assert on_hold.amount_due == 2999
    assert on_hold.next_renewal_at is None
    back = fold(
        on_hold,
        SubscriptionReactivated(
            subscription_id=SUB, invoice_id="in_3", current_period_start=T1, current_period_end=T2
        ),
    )
    assert back.status is SubscriptionStatus.ACTIVE
    assert back.amount_due is None
    assert back.next_renewal_at == T2


def test_a_new_payment_method_is_shown() -> None:
    record = fold(
        created(),
        PaymentMethodUpdated(subscription_id=SUB, customer_id="cus_1", payment_method=MASTERCARD),
    )
    assert record.payment_method is not None
    assert (record.payment_method.brand, record.payment_method.last4) == ("mastercard", "4444")


def test_an_immediate_plan_change_reprices_the_next_renewal() -> None:
    record = fold(
        created(),
        ACTIVATED,
        PlanChanged(
            subscription_id=SUB,
            from_plan=PRO,
            to_plan=BASIC,
            effective_at=T0 + timedelta(days=3),
            proration_amount=-1500,
        ),
    )
    assert record.plan.name == "Basic"
    assert record.next_renewal_amount == 999


def test_a_deferred_downgrade_keeps_the_plan_until_the_renewal_that_starts_it() -> None:
    deferred = fold(
        created(),
        ACTIVATED,
        PlanChanged(
            subscription_id=SUB, from_plan=PRO, to_plan=BASIC, effective_at=T1, proration_amount=0
        ),
    )
    assert deferred.plan.name == "Pro"
    assert deferred.next_renewal_amount == 999  # what the next renewal will charge
    renewed = fold(
        deferred,
        SubscriptionRenewed(subscription_id=SUB, current_period_start=T1, current_period_end=T2),
    )
    assert renewed.plan.name == "Basic"
    assert renewed.scheduled_plan is None


def test_a_retention_coupon_discounts_the_next_renewals_then_expires() -> None:
    record = fold(
        created(),
        ACTIVATED,
        RetentionOfferAccepted(
            subscription_id=SUB,
            offer=RetentionOffer(kind="coupon", percent_off=50, duration_in_periods=1),
        ),
    )
    assert record.next_renewal_amount == 1499  # 2999 - round(1499.5)
    renewed = fold(
        record,
        SubscriptionRenewed(subscription_id=SUB, current_period_start=T1, current_period_end=T2),
    )
    assert renewed.discount is None
    assert renewed.next_renewal_amount == 2999


def test_events_that_change_nothing_shown_only_advance_the_version() -> None:
    before = fold(created(), ACTIVATED)
    after = fold(
        before,
        LicenseKeyIssued(subscription_id=SUB, customer_id="cus_1", license_key="KEY-1"),
    )
    assert replace(after, version=before.version) == before


def test_an_event_of_another_stream_is_refused() -> None:
    with pytest.raises(UnexpectedEvent):
        fold(
            created(),
            InvoicePaid(
                invoice_id="in_1", customer_id="cus_1", amount_paid=1, currency="USD", paid_at=T0
            ),
        )


subscription_events = st.sampled_from(
    [
        ACTIVATED,
        SubscriptionRenewed(subscription_id=SUB, current_period_start=T1, current_period_end=T2),
        CancellationScheduled(subscription_id=SUB, cancel_at=T1),
        CancellationRevoked(subscription_id=SUB),
        SubscriptionCanceled(subscription_id=SUB, customer_id="cus_1", canceled_at=T1),
        SubscriptionPutOnHold(
            subscription_id=SUB, invoice_id="in_2", amount_due=2999, currency="USD"
        ),
        SubscriptionReactivated(
            subscription_id=SUB, invoice_id="in_3", current_period_start=T1, current_period_end=T2
        ),
        PaymentMethodUpdated(subscription_id=SUB, customer_id="cus_1", payment_method=MASTERCARD),
        PlanChanged(
            subscription_id=SUB, from_plan=PRO, to_plan=BASIC, effective_at=T2, proration_amount=0
        ),
        RetentionOfferAccepted(
            subscription_id=SUB,
            offer=RetentionOffer(kind="coupon", percent_off=20, duration_in_periods=2),
        ),
    ]
)


@given(st.lists(subscription_events, max_size=25))
def test_any_sequence_folds_consistently(events: list[EventData]) -> None:
    record = fold(created(), *events)
    assert record.version == 1 + len(events)
    # A renewal is promised exactly when an active subscription has a period to renew.
    if record.next_renewal_at is not None:
        assert record.status is SubscriptionStatus.ACTIVE
        assert record.next_renewal_amount is not None
        assert 0 <= record.next_renewal_amount <= max(PRO.amount, BASIC.amount)
    else:
        assert record.next_renewal_amount is None
    if record.status is SubscriptionStatus.CANCELED:
        assert record.canceled_at is not None
        assert record.next_renewal_at is None
