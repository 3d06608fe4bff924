"""The Subscription decider's renewals: every elapsed period once, in order, or the scheduled
cancellation instead."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_events.contract.commands import CancelSubscription
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    PaymentMethodUpdated,
    SubscriptionCanceled,
    SubscriptionPutOnHold,
    SubscriptionRenewed,
)
from billing_events.envelope import EventData
from subscriptions.domain import subscription as sub
from subscriptions.domain.subscription import RenewDuePeriods, Status

START = datetime(2025, 1, 31, 10, 0, tzinfo=UTC)  # a 31st: later months are shorter
CARD = CardSummary(
    payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2099
)


def plan(interval: str = "month") -> PlanSnapshot:
    return PlanSnapshot(
        plan_id="plan_1",
        name="Pro",
        amount=2999,
        currency="USD",
        interval=interval,  # type: ignore[arg-type]
    )


def active(interval: str = "month", start: datetime = START) -> sub.Subscription:
    state: sub.SubscriptionState = None
    for command in (
        sub.StartSubscription("sub_1", "cus_1", plan(interval), CARD),
        sub.ActivateSubscription("in_1", start),
    ):
        for event in sub.decide(command, state, start):
            state = sub.evolve(state, event)
    assert state is not None
    return state


def apply(state: sub.SubscriptionState, events: list[EventData]) -> sub.SubscriptionState:
    for event in events:
        state = sub.evolve(state, event)
    return state


def periods(events: list[EventData]) -> list[tuple[datetime, datetime]]:
    return [
        (e.current_period_start, e.current_period_end)
        for e in events
        if isinstance(e, SubscriptionRenewed)
    ]


def at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 10, 0, tzinfo=UTC)


def test_nothing_is_due_before_the_period_ends() -> None:
    state = active()
    assert state.current_period_end == at(2, 28)
    assert sub.decide(RenewDuePeriods(), state, at(2, 28) - timedelta(seconds=1)) == []


def test_the_period_end_renews_into_the_next_period() -> None:
    state = active()
    events = sub.decide(RenewDuePeriods(), state, at(2, 28))
    assert events == [
        SubscriptionRenewed(
            subscription_id="sub_1", current_period_start=at(2, 28), current_period_end=at(3, 31)
        )
    ]
    renewed = apply(state, events)
    assert renewed is not None
    assert (renewed.current_period_start, renewed.current_period_end) == (at(2, 28), at(3, 31))
    assert renewed.status is Status.ACTIVE


def test_a_jump_over_five_months_renews_five_times_in_order_on_the_anchor_day() -> None:
    state = active()
    events = sub.decide(RenewDuePeriods(), state, at(7, 15))
    # Anchored on the 31st: short months end on their last day, long ones on the 31st.
    assert periods(events) == [
        (at(2, 28), at(3, 31)),
        (at(3, 31), at(4, 30)),
        (at(4, 30), at(5, 31)),
        (at(5, 31), at(6, 30)),
        (at(6, 30), at(7, 31)),
    ]
    assert len(events) == 5


def test_renewing_again_finds_nothing_due() -> None:
    state = active()
    now = at(7, 15)
    renewed = apply(state, sub.decide(RenewDuePeriods(), state, now))
    assert sub.decide(RenewDuePeriods(), renewed, now) == []


def test_a_yearly_plan_renews_once_a_year() -> None:
    state = active("year")
    events = sub.decide(RenewDuePeriods(), state, datetime(2027, 3, 1, tzinfo=UTC))
    assert periods(events) == [
        (datetime(2026, 1, 31, 10, tzinfo=UTC), datetime(2027, 1, 31, 10, tzinfo=UTC)),
        (datetime(2027, 1, 31, 10, tzinfo=UTC), datetime(2028, 1, 31, 10, tzinfo=UTC)),
    ]


def test_a_scheduled_cancellation_ends_the_subscription_at_period_end_instead_of_renewing() -> None:
    state = active()
    schedule = CancelSubscription(
        subscription_id="sub_1", at_period_end=True, reason="unused", comment="moving"
    )
    scheduled = apply(state, sub.decide(schedule, state, at(2, 10)))
    assert scheduled is not None
    assert scheduled.cancel_at == at(2, 28)

    # A jump far past the period end: the cancellation, and no renewal at all.
    events = sub.decide(RenewDuePeriods(), scheduled, at(6, 1))
    assert events == [
        SubscriptionCanceled(
            subscription_id="sub_1",
            customer_id="cus_1",
            canceled_at=at(2, 28),
            reason="unused",
            comment="moving",
            at_period_end=True,
        )
    ]
    canceled = apply(scheduled, events)
    assert canceled is not None
    assert canceled.status is Status.CANCELED
    assert sub.decide(RenewDuePeriods(), canceled, at(6, 1)) == []


def test_a_cancellation_scheduled_after_renewals_waits_for_its_own_period_end() -> None:
    renewed = apply(active(), sub.decide(RenewDuePeriods(), active(), at(3, 1)))
    schedule = CancelSubscription(subscription_id="sub_1", at_period_end=True)
    scheduled = apply(renewed, sub.decide(schedule, renewed, at(3, 1)))
    assert scheduled is not None
    assert scheduled.cancel_at == at(3, 31)
    assert sub.decide(RenewDuePeriods(), scheduled, at(3, 30)) == []
    [event] = sub.decide(RenewDuePeriods(), scheduled, at(4, 2))
    assert isinstance(event, SubscriptionCanceled)
    assert event.canceled_at == at(3, 31)


def test_a_long_jump_is_caught_up_over_several_decisions() -> None:
    state: sub.SubscriptionState = active()
    now = at(12, 1)
    decided: list[EventData] = []
    for _ in range(5):
        events = sub.decide(RenewDuePeriods(max_periods=4), state, now)
        assert len(events) <= 4
        decided.extend(events)
        state = apply(state, events)
    assert [start.month for start, _ in periods(decided)] == list(range(2, 12))
    assert sub.decide(RenewDuePeriods(), state, now) == []


def test_max_periods_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RenewDuePeriods(max_periods=0)


def test_only_active_subscriptions_renew() -> None:
    incomplete = apply(
        None, sub.decide(sub.StartSubscription("sub_1", "cus_1", plan(), CARD), None, START)
    )
    assert sub.decide(RenewDuePeriods(), incomplete, at(12, 1)) == []
    canceled = apply(
        active(), sub.decide(CancelSubscription(subscription_id="sub_1"), active(), at(2, 1))
    )
    assert sub.decide(RenewDuePeriods(), canceled, at(12, 1)) == []


def test_on_hold_does_not_renew_but_its_scheduled_cancellation_still_ends_it() -> None:
    hold = SubscriptionPutOnHold(
        subscription_id="sub_1", invoice_id="in_2", amount_due=2999, currency="USD"
    )
    on_hold = apply(active(), [hold])
    assert on_hold is not None
    assert on_hold.status is Status.ON_HOLD
    assert sub.decide(RenewDuePeriods(), on_hold, at(6, 1)) == []
    assert sub.due_at(on_hold) is None

    scheduled = replace(on_hold, cancel_at=at(2, 28))
    assert sub.due_at(scheduled) == at(2, 28)
    [event] = sub.decide(RenewDuePeriods(), scheduled, at(3, 1))
    assert isinstance(event, SubscriptionCanceled)
    assert (event.canceled_at, event.at_period_end) == (at(2, 28), True)


def test_due_at_is_the_period_end_while_active_and_nothing_once_ended() -> None:
    assert sub.due_at(None) is None
    state = active()
    assert sub.due_at(state) == at(2, 28)
    canceled = apply(
        state, sub.decide(CancelSubscription(subscription_id="sub_1"), state, at(2, 1))
    )
    assert sub.due_at(canceled) is None


def test_clock_driven_events_take_effect_at_their_boundary() -> None:
    decided_at = at(7, 15)
    renewal, *_ = sub.decide(RenewDuePeriods(), active(), decided_at)
    assert sub.effective_at(renewal, decided_at) == at(2, 28)
    ended = SubscriptionCanceled(
        subscription_id="sub_1", customer_id="cus_1", canceled_at=at(2, 28), at_period_end=True
    )
    assert sub.effective_at(ended, decided_at) == at(2, 28)
    now_canceled = ended.model_copy(update={"at_period_end": False, "canceled_at": decided_at})
    assert sub.effective_at(now_canceled, decided_at) == decided_at
    updated = PaymentMethodUpdated(
        subscription_id="sub_1", customer_id="cus_1", payment_method=CARD
    )
    assert sub.effective_at(updated, decided_at) == decided_at


@settings(max_examples=200)
@given(
    interval=st.sampled_from(["month", "year"]),
    start_offset=st.integers(min_value=0, max_value=3 * 366 * 24 * 3600),
    jump=st.integers(min_value=0, max_value=5 * 366 * 24 * 3600),
)
def test_every_elapsed_period_renews_exactly_once(
    interval: str, start_offset: int, jump: int
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=start_offset)
    state: sub.SubscriptionState = active(interval, start)
    now = start + timedelta(seconds=jump)
    decided: list[EventData] = []
    # As the scan does: decide until nothing is due (a decision renews at most 120 periods).
    while events := sub.decide(RenewDuePeriods(), state, now):
        decided.extend(events)
        state = apply(state, events)
    assert state is not None
    renewed = periods(decided)
    boundaries = [start_ for start_, _ in renewed]
    assert all(boundary <= now for boundary in boundaries)
    assert boundaries == sorted(set(boundaries))
    expected_first = active(interval, start).current_period_end
    if renewed:
        assert renewed[0][0] == expected_first
        for (_, end), (next_start, _) in itertools.pairwise(renewed):
            assert next_start == end
    assert state.current_period_end is not None
    assert state.current_period_end > now
