from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing_events.contract.commands import CancelSubscription, CreateSubscription
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationRevoked,
    CancellationScheduled,
    PaymentMethodUpdated,
    SubscriptionActivated,
    SubscriptionActivationFailed,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionPutOnHold,
    SubscriptionRenewed,
)
from billing_events.envelope import EventData
from subscriptions.domain import subscription as sub
from subscriptions.domain.customer import Customer
from subscriptions.domain.plan import Plan
from subscriptions.domain.rejection import (
    ALREADY_CANCELED,
    CANCELLATION_ALREADY_SCHEDULED,
    CUSTOMER_NOT_FOUND,
    INVALID_COMMAND,
    NO_SCHEDULED_CANCELLATION,
    NOT_AWAITING_ACTIVATION,
    PAYMENT_METHOD_EXPIRED,
    PAYMENT_METHOD_NOT_FOUND,
    PLAN_NOT_FOUND,
    SUBSCRIPTION_ALREADY_EXISTS,
    SUBSCRIPTION_NOT_FOUND,
    Rejected,
)
from subscriptions.domain.subscription import Status

NOW = datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
PLAN = Plan("plan_1", "Pro", "Monthly", None, 2999, "USD", "month")
CARD = CardSummary(payment_method_id="pm_1", brand="visa", last4="4242", exp_month=1, exp_year=2025)
CUSTOMER = Customer("cus_1", "ana@example.com", "Ana", None, "en", (CARD,))
CREATE = CreateSubscription(
    subscription_id="sub_1", customer_id="cus_1", plan_id="plan_1", payment_method_id="pm_1"
)


def run(
    commands: list[sub.SubscriptionCommand], now: datetime = NOW
) -> tuple[sub.SubscriptionState, list[EventData]]:
    state: sub.SubscriptionState = sub.initial_state
    emitted: list[EventData] = []
    for command in commands:
        events = sub.decide(command, state, now)
        for event in events:
            state = sub.evolve(state, event)
        emitted.extend(events)
    return state, emitted


def start() -> sub.StartSubscription:
    return sub.prepare_start(CREATE, PLAN, CUSTOMER, NOW)


def active() -> sub.Subscription:
    state, _ = run([start(), sub.ActivateSubscription("in_1", NOW)])
    assert state is not None
    return state


def cancel(at_period_end: bool = False) -> CancelSubscription:
    return CancelSubscription(
        subscription_id="sub_1",
        at_period_end=at_period_end,
        reason="too_expensive",
        comment="cheaper elsewhere",
    )


# --- creation -------------------------------------------------------------------------


def test_create_snapshots_the_plan_and_card_and_starts_incomplete() -> None:
    state, events = run([start()])
    assert events == [
        SubscriptionCreated(
            subscription_id="sub_1",
            customer_id="cus_1",
            plan=PlanSnapshot(
                plan_id="plan_1",
                name="Pro",
                description="Monthly",
                amount=2999,
                currency="USD",
                interval="month",
            ),
            payment_method=CARD,
        )
    ]
    assert state is not None
    assert state.status is Status.INCOMPLETE
    assert state.current_period_end is None


@pytest.mark.parametrize(
    ("plan", "customer", "payment_method_id", "code"),
    [
        (None, CUSTOMER, "pm_1", PLAN_NOT_FOUND),
        (PLAN, None, "pm_1", CUSTOMER_NOT_FOUND),
        (PLAN, CUSTOMER, "pm_someone_elses", PAYMENT_METHOD_NOT_FOUND),
    ],
)
def test_create_checks_plan_customer_and_card_ownership(
    plan: Plan | None, customer: Customer | None, payment_method_id: str, code: str
) -> None:
    command = CREATE.model_copy(update={"payment_method_id": payment_method_id})
    with pytest.raises(Rejected) as caught:
        sub.prepare_start(command, plan, customer, NOW)
    assert caught.value.code == code


def test_card_is_valid_through_its_expiry_month_then_refused() -> None:
    assert not sub.card_expired(CARD, datetime(2025, 1, 31, 23, 59, tzinfo=UTC))
    with pytest.raises(Rejected) as caught:
        sub.prepare_start(CREATE, PLAN, CUSTOMER, datetime(2025, 2, 1, tzinfo=UTC))
    assert caught.value.code == PAYMENT_METHOD_EXPIRED


def test_creating_an_existing_subscription_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        run([start(), start()])
    assert caught.value.code == SUBSCRIPTION_ALREADY_EXISTS


# --- activation -----------------------------------------------------------------------


def test_first_payment_activates_for_one_period_from_the_period_start() -> None:
    paid_at = datetime(2025, 1, 31, 10, 0, 5, tzinfo=UTC)
    state, events = run([start(), sub.ActivateSubscription("in_1", paid_at)])
    assert events[-1] == SubscriptionActivated(
        subscription_id="sub_1",
        invoice_id="in_1",
        current_period_start=paid_at,
        current_period_end=datetime(2025, 2, 28, 10, 0, 5, tzinfo=UTC),
    )
    assert state is not None
    assert state.status is Status.ACTIVE
    assert state.billing_anchor_day == 31


def test_yearly_plan_activates_for_a_year() -> None:
    yearly = CREATE.model_copy(update={"plan_id": "plan_y"})
    plan = Plan("plan_y", "Pro", "", None, 29990, "USD", "year")
    command = sub.prepare_start(yearly, plan, CUSTOMER, NOW)
    state, _ = run([command, sub.ActivateSubscription("in_1", NOW)])
    assert state is not None
    assert state.current_period_end == datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def test_failed_first_charge_expires_the_subscription() -> None:
    state, events = run([start(), sub.FailActivation("in_1", "card_declined", "Declined")])
    assert events[-1] == SubscriptionActivationFailed(
        subscription_id="sub_1",
        invoice_id="in_1",
        decline_code="card_declined",
        message="Declined",
    )
    assert state is not None
    assert state.status is Status.INCOMPLETE_EXPIRED


@pytest.mark.parametrize(
    "outcome",
    [sub.ActivateSubscription("in_2", NOW), sub.FailActivation("in_2", "x", "y")],
)
def test_activation_outcomes_only_apply_to_incomplete_subscriptions(
    outcome: sub.SubscriptionCommand,
) -> None:
    with pytest.raises(Rejected) as caught:
        run([start(), sub.ActivateSubscription("in_1", NOW), outcome])
    assert caught.value.code == NOT_AWAITING_ACTIVATION


def test_commands_on_a_missing_subscription_are_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        sub.decide(cancel(), None, NOW)
    assert caught.value.code == SUBSCRIPTION_NOT_FOUND


# --- cancellation ---------------------------------------------------------------------


def test_cancel_now_cancels_with_reason_comment_and_customer() -> None:
    later = NOW + timedelta(days=3)
    [event] = sub.decide(cancel(), active(), later)
    assert event == SubscriptionCanceled(
        subscription_id="sub_1",
        customer_id="cus_1",
        canceled_at=later,
        reason="too_expensive",
        comment="cheaper elsewhere",
        at_period_end=False,
    )
    state = sub.evolve(active(), event)
    assert state is not None
    assert state.status is Status.CANCELED
    assert state.canceled_at == later


def test_cancel_at_period_end_schedules_at_the_current_period_end() -> None:
    [event] = sub.decide(cancel(at_period_end=True), active(), NOW)
    assert event == CancellationScheduled(
        subscription_id="sub_1",
        cancel_at=datetime(2025, 2, 28, 10, 0, tzinfo=UTC),
        reason="too_expensive",
        comment="cheaper elsewhere",
    )
    state = sub.evolve(active(), event)
    assert state is not None
    assert state.status is Status.ACTIVE
    assert state.cancel_at == datetime(2025, 2, 28, 10, 0, tzinfo=UTC)


def test_scheduling_twice_is_rejected_but_cancel_now_still_works() -> None:
    scheduled = sub.evolve(active(), sub.decide(cancel(True), active(), NOW)[0])
    assert scheduled is not None
    with pytest.raises(Rejected) as caught:
        sub.decide(cancel(True), scheduled, NOW)
    assert caught.value.code == CANCELLATION_ALREADY_SCHEDULED
    [event] = sub.decide(cancel(False), scheduled, NOW)
    assert isinstance(event, SubscriptionCanceled)


@pytest.mark.parametrize("at_period_end", [False, True])
def test_incomplete_subscription_is_canceled_immediately(at_period_end: bool) -> None:
    state, _ = run([start()])
    [event] = sub.decide(cancel(at_period_end), state, NOW)
    assert isinstance(event, SubscriptionCanceled)
    assert event.canceled_at == NOW
    assert event.at_period_end is False


def test_cancel_at_period_end_after_the_period_ran_out_cancels_now() -> None:
    late = datetime(2025, 3, 15, tzinfo=UTC)  # renewal has not happened (no clock yet)
    [event] = sub.decide(cancel(True), active(), late)
    assert isinstance(event, SubscriptionCanceled)
    assert event.canceled_at == late


@pytest.mark.parametrize(
    "ended",
    [
        [sub.ActivateSubscription("in_1", NOW), CancelSubscription(subscription_id="sub_1")],
        [sub.FailActivation("in_1", "card_declined", "Declined")],
    ],
)
@pytest.mark.parametrize("at_period_end", [False, True])
def test_cancel_of_canceled_or_expired_is_rejected_already_canceled(
    ended: list[sub.SubscriptionCommand], at_period_end: bool
) -> None:
    state, _ = run([start(), *ended])
    with pytest.raises(Rejected) as caught:
        sub.decide(cancel(at_period_end), state, NOW)
    assert caught.value.code == ALREADY_CANCELED


def test_cancel_naming_another_subscription_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        sub.decide(CancelSubscription(subscription_id="sub_2"), active(), NOW)
    assert caught.value.code == INVALID_COMMAND


def test_scheduled_cancellation_ends_the_subscription_when_due() -> None:
    scheduled = sub.evolve(active(), sub.decide(cancel(True), active(), NOW)[0])
    assert scheduled is not None
    with pytest.raises(Rejected) as caught:
        sub.decide(sub.EndScheduledCancellation(), scheduled, NOW)
    assert caught.value.code == NO_SCHEDULED_CANCELLATION
    due = datetime(2025, 2, 28, 10, 0, tzinfo=UTC)
    [event] = sub.decide(sub.EndScheduledCancellation(), scheduled, due)
    assert event == SubscriptionCanceled(
        subscription_id="sub_1",
        customer_id="cus_1",
        canceled_at=due,
        reason="too_expensive",
        comment="cheaper elsewhere",
        at_period_end=True,
    )


def test_ending_without_a_schedule_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        sub.decide(sub.EndScheduledCancellation(), active(), NOW + timedelta(days=90))
    assert caught.value.code == NO_SCHEDULED_CANCELLATION


# --- evolve of later-issue events -----------------------------------------------------


def test_evolve_follows_renewal_hold_revocation_and_card_change() -> None:
    state: sub.SubscriptionState = active()
    scheduled = sub.decide(cancel(True), state, NOW)[0]
    other_card = CARD.model_copy(update={"payment_method_id": "pm_2", "last4": "4444"})
    events: list[EventData] = [
        scheduled,
        CancellationRevoked(subscription_id="sub_1"),
        SubscriptionRenewed(
            subscription_id="sub_1",
            current_period_start=datetime(2025, 2, 28, 10, tzinfo=UTC),
            current_period_end=datetime(2025, 3, 31, 10, tzinfo=UTC),
        ),
        SubscriptionPutOnHold(
            subscription_id="sub_1", invoice_id="in_3", amount_due=2999, currency="USD"
        ),
        PaymentMethodUpdated(
            subscription_id="sub_1", customer_id="cus_1", payment_method=other_card
        ),
    ]
    for event in events:
        state = sub.evolve(state, event)
    assert state is not None
    assert state.cancel_at is None
    assert state.current_period_end == datetime(2025, 3, 31, 10, tzinfo=UTC)
    assert state.status is Status.ON_HOLD
    assert state.payment_method == other_card


def test_events_before_creation_leave_no_subscription() -> None:
    assert sub.evolve(None, CancellationRevoked(subscription_id="sub_1")) is None
