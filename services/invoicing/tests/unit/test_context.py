"""When the effects of an event are dated: never before the event, in its merchant's time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from billing_events.contract.events import SubscriptionRenewed
from billing_events.envelope import new_envelope
from invoicing.application.invoices import Context

WALL = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def context_at(occurred_at: datetime) -> Context:
    trigger = new_envelope(
        SubscriptionRenewed(
            subscription_id="sub_1",
            current_period_start=occurred_at,
            current_period_end=occurred_at + timedelta(days=30),
        ),
        stream_id="subscription-sub_1",
        merchant_id="mer_1",
        correlation_id=uuid.uuid4(),
        occurred_at=occurred_at,
    )
    context = Context.caused_by(trigger)
    assert (context.merchant_id, context.causation_id) == ("mer_1", trigger.event_id)
    assert context.correlation_id == trigger.correlation_id
    return context


def test_a_cause_in_the_past_has_its_effects_now() -> None:
    assert context_at(WALL - timedelta(minutes=3)).effect_time(WALL) == WALL


def test_a_cause_ahead_of_the_wall_clock_dates_its_effects_at_its_own_time() -> None:
    # A merchant's test clock advanced by a month.
    ahead = WALL + timedelta(days=30)
    assert context_at(ahead).effect_time(WALL) == ahead


def test_a_context_without_a_cause_time_is_the_wall_clock() -> None:
    context = Context("mer_1", uuid.uuid4(), uuid.uuid4())
    assert context.effect_time(WALL) == WALL
