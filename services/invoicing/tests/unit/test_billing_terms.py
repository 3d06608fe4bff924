"""Invoicing's copy of a subscription's customer, plan and card: newest version wins, in any
order of observation."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    PaymentMethodUpdated,
    PlanChanged,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionRenewed,
)
from billing_events.envelope import EventData
from invoicing.domain.billing_terms import BillableTerms, SubscriptionTerms, observe

AT = datetime(2025, 6, 15, tzinfo=UTC)


def card(last4: str) -> CardSummary:
    return CardSummary(
        payment_method_id=f"pm_{last4}", brand="visa", last4=last4, exp_month=1, exp_year=2030
    )


def plan(amount: int) -> PlanSnapshot:
    return PlanSnapshot(
        plan_id=f"plan_{amount}",
        name=f"Plan {amount}",
        amount=amount,
        currency="USD",
        interval="month",
    )


CREATED = SubscriptionCreated(
    subscription_id="sub_1", customer_id="cus_1", plan=plan(1000), payment_method=card("4242")
)
EMPTY = SubscriptionTerms("sub_1")


def card_update(last4: str) -> PaymentMethodUpdated:
    return PaymentMethodUpdated(
        subscription_id="sub_1", customer_id="cus_1", payment_method=card(last4)
    )


def plan_change(amount: int) -> PlanChanged:
    return PlanChanged(
        subscription_id="sub_1",
        from_plan=plan(1000),
        to_plan=plan(amount),
        effective_at=AT,
        proration_amount=0,
    )


def test_creation_makes_the_subscription_billable() -> None:
    assert EMPTY.billable() is None
    terms = observe(EMPTY, CREATED, 1)
    assert terms.billable() == BillableTerms("cus_1", plan(1000), card("4242"))
    assert (terms.plan_version, terms.payment_method_version) == (1, 1)


def test_a_newer_card_and_plan_replace_the_old_ones() -> None:
    terms = observe(
        observe(observe(EMPTY, CREATED, 1), card_update("4444"), 3), plan_change(5000), 4
    )
    assert terms.billable() == BillableTerms("cus_1", plan(5000), card("4444"))
    assert (terms.plan_version, terms.payment_method_version) == (4, 3)


def test_an_older_or_repeated_event_changes_nothing() -> None:
    newest = observe(observe(EMPTY, CREATED, 1), card_update("4444"), 5)
    assert observe(newest, card_update("1111"), 4) == newest
    assert observe(newest, card_update("4444"), 5) == newest
    assert observe(newest, CREATED, 1) == newest


def test_a_card_update_seen_before_the_creation_is_kept() -> None:
    # A replayed dead letter: the creation arrives after a later card change.
    terms = observe(observe(EMPTY, card_update("4444"), 3), CREATED, 1)
    assert terms.billable() == BillableTerms("cus_1", plan(1000), card("4444"))


def test_other_events_leave_the_terms_alone() -> None:
    terms = observe(EMPTY, CREATED, 1)
    renewed = SubscriptionRenewed(
        subscription_id="sub_1", current_period_start=AT, current_period_end=AT
    )
    canceled = SubscriptionCanceled(subscription_id="sub_1", customer_id="cus_1", canceled_at=AT)
    assert observe(observe(terms, renewed, 2), canceled, 3) == terms


def test_another_subscriptions_event_is_refused() -> None:
    other = CREATED.model_copy(update={"subscription_id": "sub_2"})
    with pytest.raises(ValueError, match="sub_2"):
        observe(EMPTY, other, 1)


def test_versions_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        observe(EMPTY, CREATED, 0)


changes = st.lists(
    st.one_of(
        st.sampled_from(["1111", "4444", "5556"]).map(card_update),
        st.sampled_from([500, 2000, 9900]).map(plan_change),
    ),
    max_size=8,
)


@given(changes, st.randoms(use_true_random=False), st.integers(0, 3))
def test_the_order_of_observation_does_not_matter(
    later: list[EventData], shuffler: random.Random, repeats: int
) -> None:
    history: list[tuple[EventData, int]] = [
        (CREATED, 1),
        *((event, version) for version, event in enumerate(later, start=2)),
    ]
    in_order = EMPTY
    for event, version in history:
        in_order = observe(in_order, event, version)

    # Shuffled, with some events delivered again.
    delivered = history + history[:repeats]
    shuffler.shuffle(delivered)
    observed = EMPTY
    for event, version in delivered:
        observed = observe(observed, event, version)

    assert observed == in_order
