"""Subscription: a customer paying a plan's price every interval with one card.

Life cycle::

    StartSubscription ──> incomplete ──first invoice paid──> active ──cancel──> canceled
                              │    └──first charge failed──> incomplete_expired
                              └──cancel──> canceled

    active ──period end──> active, next period (SubscriptionRenewed)
    active, cancel_at set ──that period's end──> canceled (at_period_end)

When the merchant's clock passes the end of an active subscription's period,
``RenewDuePeriods`` starts the next period (``SubscriptionRenewed``, which invoicing bills),
once for every period that elapsed, in order. An active subscription canceled "at period end"
keeps running with ``cancel_at`` set; at that period's end it is canceled instead of renewed.
``on_hold`` belongs to dunning (a later issue); the state already follows its events so that
streams written later still fold correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from billing_events.contract.commands import (
    CancelSubscription,
    CreateSubscription,
    UpdateSubscriptionPaymentMethod,
)
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationReason,
    CancellationRevoked,
    CancellationScheduled,
    PaymentMethodUpdated,
    PlanChanged,
    SubscriptionActivated,
    SubscriptionActivationFailed,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionPutOnHold,
    SubscriptionReactivated,
    SubscriptionRenewed,
)
from billing_events.envelope import EventData
from subscriptions.domain.customer import Customer
from subscriptions.domain.periods import period_end
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
    PAYMENT_METHOD_UNCHANGED,
    PLAN_NOT_FOUND,
    SUBSCRIPTION_ALREADY_EXISTS,
    SUBSCRIPTION_ENDED,
    SUBSCRIPTION_NOT_FOUND,
    Rejected,
)

# A clock jump renews at most this many periods in one decision (one append); a longer jump
# is caught up by the next decisions. Bounds the size of one transaction.
MAX_PERIODS_PER_DECISION = 120


class Status(StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        """Nothing more can happen to the subscription: it can no longer be canceled."""
        return self in (Status.CANCELED, Status.INCOMPLETE_EXPIRED)


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    customer_id: str
    plan: PlanSnapshot
    payment_method: CardSummary
    status: Status = Status.INCOMPLETE
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    # The day of month the billing cycle is anchored on (see ``periods``).
    billing_anchor_day: int | None = None
    cancel_at: datetime | None = None
    cancellation_reason: CancellationReason | None = None
    cancellation_comment: str | None = None
    canceled_at: datetime | None = None


SubscriptionState = Subscription | None

initial_state: SubscriptionState = None


# --- commands the application builds for this aggregate --------------------------------


@dataclass(frozen=True)
class StartSubscription:
    """CreateSubscription once its plan and card are known to exist and to belong together."""

    subscription_id: str
    customer_id: str
    plan: PlanSnapshot
    payment_method: CardSummary


@dataclass(frozen=True)
class ActivateSubscription:
    """The subscription's first invoice was paid.

    ``period_start`` is where the paid period begins: the first invoice's period start, so
    that the subscription's period and the invoice line agree (else the moment of payment).
    """

    invoice_id: str
    period_start: datetime


@dataclass(frozen=True)
class FailActivation:
    """The charge of the subscription's first invoice failed."""

    invoice_id: str
    decline_code: str
    message: str


@dataclass(frozen=True)
class EndScheduledCancellation:
    """The period at whose end the customer asked to cancel is over."""


@dataclass(frozen=True)
class RenewDuePeriods:
    """The merchant's clock may have passed the end of the current period: start every period
    that is due, in order, or end the subscription where a cancellation was scheduled.

    Decided from the state alone, so deciding it again (a second scan, a redelivery) finds
    nothing due: a period can never be renewed twice.
    """

    max_periods: int = MAX_PERIODS_PER_DECISION

    def __post_init__(self) -> None:
        if self.max_periods < 1:
            raise ValueError("max_periods must be at least 1")


@dataclass(frozen=True)
class ChangePaymentMethod:
    """UpdateSubscriptionPaymentMethod once the card is known to be the customer's."""

    card: CardSummary


SubscriptionCommand = (
    StartSubscription
    | CancelSubscription
    | ActivateSubscription
    | FailActivation
    | EndScheduledCancellation
    | RenewDuePeriods
    | ChangePaymentMethod
)


def prepare_start(
    command: CreateSubscription, plan: Plan | None, customer: Customer | None, now: datetime
) -> StartSubscription:
    """Check what CreateSubscription needs from other aggregates; returns the command to decide.

    The plan and the card are copied into the subscription so that it is priced and charged
    as agreed, whatever happens to the plan or the customer's cards later.
    """
    if plan is None:
        raise Rejected(PLAN_NOT_FOUND, f"plan {command.plan_id} does not exist")
    if customer is None:
        raise Rejected(CUSTOMER_NOT_FOUND, f"customer {command.customer_id} does not exist")
    card = customer.card(command.payment_method_id)
    if card is None:
        raise Rejected(
            PAYMENT_METHOD_NOT_FOUND,
            f"payment method {command.payment_method_id} is not attached to customer "
            f"{command.customer_id}",
        )
    if card_expired(card, now):
        raise Rejected(
            PAYMENT_METHOD_EXPIRED,
            f"payment method {card.payment_method_id} expired at the end of "
            f"{card.exp_month:02d}/{card.exp_year}",
        )
    return StartSubscription(
        subscription_id=command.subscription_id,
        customer_id=customer.customer_id,
        plan=plan.snapshot(),
        payment_method=card,
    )


def prepare_payment_method_update(
    command: UpdateSubscriptionPaymentMethod,
    subscription: SubscriptionState,
    customer: Customer | None,
    now: datetime,
) -> ChangePaymentMethod:
    """Check that the card is one of the subscription's customer's attached cards, and valid."""
    if subscription is None:
        raise Rejected(
            SUBSCRIPTION_NOT_FOUND, f"subscription {command.subscription_id} does not exist"
        )
    card = customer.card(command.payment_method_id) if customer is not None else None
    if card is None:
        raise Rejected(
            PAYMENT_METHOD_NOT_FOUND,
            f"payment method {command.payment_method_id} is not attached to customer "
            f"{subscription.customer_id}",
        )
    if card_expired(card, now):
        raise Rejected(
            PAYMENT_METHOD_EXPIRED,
            f"payment method {card.payment_method_id} expired at the end of "
            f"{card.exp_month:02d}/{card.exp_year}",
        )
    return ChangePaymentMethod(card)


def card_expired(card: CardSummary, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (card.exp_year, card.exp_month) < (now.year, now.month)


# --- decide ----------------------------------------------------------------------------


def decide(
    command: SubscriptionCommand, state: SubscriptionState, now: datetime
) -> list[EventData]:
    if isinstance(command, StartSubscription):
        return _start(command, state)
    if state is None:
        raise Rejected(SUBSCRIPTION_NOT_FOUND, "the subscription does not exist")
    if isinstance(command, CancelSubscription):
        return _cancel(command, state, now)
    if isinstance(command, ActivateSubscription):
        return _activate(command, state)
    if isinstance(command, FailActivation):
        return _fail_activation(command, state)
    if isinstance(command, RenewDuePeriods):
        return _renew_due_periods(command, state, now)
    if isinstance(command, ChangePaymentMethod):
        return _change_payment_method(command, state)
    return _end_scheduled_cancellation(state, now)


def _start(command: StartSubscription, state: SubscriptionState) -> list[EventData]:
    if state is not None:
        raise Rejected(
            SUBSCRIPTION_ALREADY_EXISTS, f"subscription {command.subscription_id} already exists"
        )
    return [
        SubscriptionCreated(
            subscription_id=command.subscription_id,
            customer_id=command.customer_id,
            plan=command.plan,
            payment_method=command.payment_method,
        )
    ]


def _cancel(command: CancelSubscription, state: Subscription, now: datetime) -> list[EventData]:
    if command.subscription_id != state.subscription_id:
        raise Rejected(INVALID_COMMAND, "the command names another subscription than its stream")
    if state.status.ended:
        raise Rejected(
            ALREADY_CANCELED, f"subscription {state.subscription_id} is already {state.status}"
        )
    period_ends_later = state.current_period_end is not None and state.current_period_end > now
    # An incomplete subscription has no paid period to run out: it ends at once.
    if command.at_period_end and state.status is not Status.INCOMPLETE and period_ends_later:
        if state.cancel_at is not None:
            raise Rejected(
                CANCELLATION_ALREADY_SCHEDULED,
                f"subscription {state.subscription_id} is already set to cancel at "
                f"{state.cancel_at.isoformat()}",
            )
        assert state.current_period_end is not None  # period_ends_later says so
        return [
            CancellationScheduled(
                subscription_id=state.subscription_id,
                cancel_at=state.current_period_end,
                reason=command.reason,
                comment=command.comment,
            )
        ]
    return [
        SubscriptionCanceled(
            subscription_id=state.subscription_id,
            customer_id=state.customer_id,
            canceled_at=now,
            reason=command.reason,
            comment=command.comment,
            at_period_end=False,
        )
    ]


def _activate(command: ActivateSubscription, state: Subscription) -> list[EventData]:
    if state.status is not Status.INCOMPLETE:
        raise Rejected(
            NOT_AWAITING_ACTIVATION,
            f"subscription {state.subscription_id} is {state.status}, not incomplete",
        )
    start = command.period_start
    return [
        SubscriptionActivated(
            subscription_id=state.subscription_id,
            invoice_id=command.invoice_id,
            current_period_start=start,
            current_period_end=period_end(start, state.plan.interval),
        )
    ]


def _fail_activation(command: FailActivation, state: Subscription) -> list[EventData]:
    if state.status is not Status.INCOMPLETE:
        raise Rejected(
            NOT_AWAITING_ACTIVATION,
            f"subscription {state.subscription_id} is {state.status}, not incomplete",
        )
    return [
        SubscriptionActivationFailed(
            subscription_id=state.subscription_id,
            invoice_id=command.invoice_id,
            decline_code=command.decline_code,
            message=command.message,
        )
    ]


def _renew_due_periods(
    command: RenewDuePeriods, state: Subscription, now: datetime
) -> list[EventData]:
    if state.status is Status.ON_HOLD:
        # Dunning decides about unpaid periods; only a scheduled cancellation still ends it.
        if state.cancel_at is not None and state.cancel_at <= now:
            return [_canceled_at_period_end(state, state.cancel_at)]
        return []
    if state.status is not Status.ACTIVE:
        return []
    assert state.current_period_end is not None  # an active subscription has a period
    events: list[EventData] = []
    period_end_ = state.current_period_end
    while period_end_ <= now and len(events) < command.max_periods:
        if state.cancel_at is not None and state.cancel_at <= period_end_:
            events.append(_canceled_at_period_end(state, state.cancel_at))
            break
        next_end = period_end(period_end_, state.plan.interval, anchor_day=state.billing_anchor_day)
        events.append(
            SubscriptionRenewed(
                subscription_id=state.subscription_id,
                current_period_start=period_end_,
                current_period_end=next_end,
            )
        )
        period_end_ = next_end
    return events


def _canceled_at_period_end(state: Subscription, at: datetime) -> SubscriptionCanceled:
    return SubscriptionCanceled(
        subscription_id=state.subscription_id,
        customer_id=state.customer_id,
        canceled_at=at,
        reason=state.cancellation_reason,
        comment=state.cancellation_comment,
        at_period_end=True,
    )


def _change_payment_method(command: ChangePaymentMethod, state: Subscription) -> list[EventData]:
    if state.status.ended:
        raise Rejected(
            SUBSCRIPTION_ENDED,
            f"subscription {state.subscription_id} is {state.status}; its payment method can "
            "no longer change",
        )
    # On hold, choosing the same card again is how a customer retries the overdue charge.
    if command.card == state.payment_method and state.status is not Status.ON_HOLD:
        raise Rejected(
            PAYMENT_METHOD_UNCHANGED,
            f"payment method {command.card.payment_method_id} already pays subscription "
            f"{state.subscription_id}",
        )
    return [
        PaymentMethodUpdated(
            subscription_id=state.subscription_id,
            customer_id=state.customer_id,
            payment_method=command.card,
        )
    ]


def _end_scheduled_cancellation(state: Subscription, now: datetime) -> list[EventData]:
    if state.status.ended:
        raise Rejected(
            ALREADY_CANCELED, f"subscription {state.subscription_id} is already {state.status}"
        )
    if state.cancel_at is None:
        raise Rejected(
            NO_SCHEDULED_CANCELLATION,
            f"subscription {state.subscription_id} has no scheduled cancellation",
        )
    if state.cancel_at > now:
        raise Rejected(
            NO_SCHEDULED_CANCELLATION,
            f"subscription {state.subscription_id} cancels at {state.cancel_at.isoformat()}, "
            "not yet",
        )
    return [_canceled_at_period_end(state, state.cancel_at)]


# --- evolve ----------------------------------------------------------------------------


def evolve(state: SubscriptionState, event: EventData) -> SubscriptionState:
    if isinstance(event, SubscriptionCreated):
        return Subscription(
            subscription_id=event.subscription_id,
            customer_id=event.customer_id,
            plan=event.plan,
            payment_method=event.payment_method,
        )
    if state is None:
        return state
    if isinstance(event, SubscriptionActivated | SubscriptionReactivated):
        return replace(
            state,
            status=Status.ACTIVE,
            current_period_start=event.current_period_start,
            current_period_end=event.current_period_end,
            billing_anchor_day=state.billing_anchor_day or event.current_period_start.day,
        )
    if isinstance(event, SubscriptionRenewed):
        return replace(
            state,
            current_period_start=event.current_period_start,
            current_period_end=event.current_period_end,
        )
    if isinstance(event, SubscriptionActivationFailed):
        return replace(state, status=Status.INCOMPLETE_EXPIRED)
    if isinstance(event, SubscriptionPutOnHold):
        return replace(state, status=Status.ON_HOLD)
    if isinstance(event, CancellationScheduled):
        return replace(
            state,
            cancel_at=event.cancel_at,
            cancellation_reason=event.reason,
            cancellation_comment=event.comment,
        )
    if isinstance(event, CancellationRevoked):
        return replace(state, cancel_at=None, cancellation_reason=None, cancellation_comment=None)
    if isinstance(event, SubscriptionCanceled):
        return replace(
            state,
            status=Status.CANCELED,
            canceled_at=event.canceled_at,
            cancel_at=None,
            cancellation_reason=event.reason,
            cancellation_comment=event.comment,
        )
    if isinstance(event, PaymentMethodUpdated):
        return replace(state, payment_method=event.payment_method)
    if isinstance(event, PlanChanged):
        return replace(state, plan=event.to_plan)
    return state


# --- time ------------------------------------------------------------------------------


def due_at(state: SubscriptionState) -> datetime | None:
    """When the merchant's clock next makes something happen to the subscription on its own
    (a renewal, or the end of a scheduled cancellation); None if nothing ever will."""
    if state is None:
        return None
    if state.status is Status.ACTIVE:
        return state.current_period_end
    if state.status is Status.ON_HOLD:
        return state.cancel_at
    return None


def effective_at(event: EventData, decided_at: datetime) -> datetime:
    """When an event happened in the merchant's time.

    A renewal takes effect where its period begins and a cancellation at period end when that
    period ends, even when decided later (the clock jumped over several periods, or a scan ran
    a few seconds after the boundary): histories then read as they would have unfolded.
    Anything else happens when it is decided.
    """
    if isinstance(event, SubscriptionRenewed):
        return event.current_period_start
    if isinstance(event, SubscriptionCanceled) and event.at_period_end:
        return event.canceled_at
    return decided_at
