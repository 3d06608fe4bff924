"""Properties of the Subscription decider over arbitrary command sequences (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_events.contract.commands import CancelSubscription
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationScheduled,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionRenewed,
)
from billing_events.envelope import EventData
from subscriptions.domain import subscription as sub
from subscriptions.domain.rejection import Rejected
from subscriptions.domain.subscription import Status

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
CARD = CardSummary(
    payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2099
)
OTHER_CARD = CARD.model_copy(update={"payment_method_id": "pm_2", "last4": "4444"})


def plan(interval: str) -> PlanSnapshot:
    return PlanSnapshot(
        plan_id=f"plan_{interval}",
        name="Pro",
        amount=1000,
        currency="EUR",
        interval=interval,  # type: ignore[arg-type]
    )


moments = st.builds(
    lambda seconds: EPOCH + timedelta(seconds=seconds),
    st.integers(min_value=0, max_value=3 * 366 * 24 * 3600),
)
reasons = st.sampled_from([None, "too_expensive", "unused", "other"])

commands: st.SearchStrategy[sub.SubscriptionCommand] = st.one_of(
    st.builds(
        sub.StartSubscription,
        subscription_id=st.just("sub_1"),
        customer_id=st.just("cus_1"),
        plan=st.sampled_from(["month", "year"]).map(plan),
        payment_method=st.just(CARD),
    ),
    st.builds(
        CancelSubscription,
        subscription_id=st.just("sub_1"),
        at_period_end=st.booleans(),
        reason=reasons,
        comment=st.one_of(st.none(), st.text(max_size=20)),
    ),
    st.builds(sub.ActivateSubscription, invoice_id=st.just("in_1"), period_start=moments),
    st.builds(
        sub.FailActivation,
        invoice_id=st.just("in_1"),
        decline_code=st.sampled_from(["card_declined", "insufficient_funds"]),
        message=st.just("declined"),
    ),
    st.just(sub.EndScheduledCancellation()),
    st.builds(sub.RenewDuePeriods, max_periods=st.integers(min_value=1, max_value=40)),
    st.builds(sub.ChangePaymentMethod, card=st.sampled_from([CARD, OTHER_CARD])),
)
steps = st.lists(st.tuples(commands, moments), max_size=25)


def play(
    script: list[tuple[sub.SubscriptionCommand, datetime]],
) -> tuple[sub.SubscriptionState, list[EventData]]:
    """Decide each command on the state so far; a rejected command changes nothing."""
    state: sub.SubscriptionState = sub.initial_state
    history: list[EventData] = []
    for command, now in script:
        try:
            events = sub.decide(command, state, now)
        except Rejected:
            continue
        for event in events:
            state = sub.evolve(state, event)
        history.extend(events)
    return state, history


def fold(history: list[EventData]) -> sub.SubscriptionState:
    state: sub.SubscriptionState = sub.initial_state
    for event in history:
        state = sub.evolve(state, event)
    return state


@settings(max_examples=300)
@given(script=steps)
def test_no_sequence_of_commands_cancels_twice(
    script: list[tuple[sub.SubscriptionCommand, datetime]],
) -> None:
    state, history = play(script)
    canceled = [e for e in history if isinstance(e, SubscriptionCanceled)]
    assert len(canceled) <= 1
    if canceled:
        # Nothing happens to a subscription after its cancellation.
        assert isinstance(history[-1], SubscriptionCanceled)
        assert state is not None
        assert state.status is Status.CANCELED


@settings(max_examples=300)
@given(script=steps)
def test_evolve_is_deterministic(script: list[tuple[sub.SubscriptionCommand, datetime]]) -> None:
    state, history = play(script)
    assert fold(history) == state
    assert fold(list(history)) == fold(history)


@settings(max_examples=300)
@given(script=steps)
def test_activation_and_scheduling_never_go_back_in_time(
    script: list[tuple[sub.SubscriptionCommand, datetime]],
) -> None:
    _, history = play(script)
    activations = [e for e in history if isinstance(e, SubscriptionActivated)]
    assert len(activations) <= 1
    for activated in activations:
        assert activated.current_period_end > activated.current_period_start
    state: sub.SubscriptionState = None
    for event in history:
        if isinstance(event, CancellationScheduled):
            assert activations, "only an active subscription can be scheduled to cancel"
            assert state is not None
            assert event.cancel_at == state.current_period_end
        state = sub.evolve(state, event)


@settings(max_examples=300)
@given(script=steps)
def test_periods_follow_each_other_without_gap_or_overlap(
    script: list[tuple[sub.SubscriptionCommand, datetime]],
) -> None:
    _, history = play(script)
    periods = [
        (e.current_period_start, e.current_period_end)
        for e in history
        if isinstance(e, SubscriptionActivated | SubscriptionRenewed)
    ]
    for (_, previous_end), (start, end) in itertools.pairwise(periods):
        assert start == previous_end
        assert end > start
    if any(isinstance(e, SubscriptionRenewed) for e in history):
        assert any(isinstance(e, SubscriptionActivated) for e in history)


@settings(max_examples=300)
@given(script=steps)
def test_status_follows_the_life_cycle(
    script: list[tuple[sub.SubscriptionCommand, datetime]],
) -> None:
    allowed = {
        None: {Status.INCOMPLETE},
        Status.INCOMPLETE: {Status.ACTIVE, Status.INCOMPLETE_EXPIRED, Status.CANCELED},
        Status.ACTIVE: {Status.CANCELED},
        Status.INCOMPLETE_EXPIRED: set(),
        Status.CANCELED: set(),
    }
    _, history = play(script)
    state: sub.SubscriptionState = None
    for event in history:
        before = state.status if state is not None else None
        state = sub.evolve(state, event)
        assert state is not None
        if state.status != before:
            assert state.status in allowed[before]
