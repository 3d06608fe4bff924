"""The gateway's view of a subscription, folded from the subscription stream's events.

This is a read model, not the aggregate: the subscriptions service decides, this only records
what was decided, in the shape the portal and the merchant API show (status, plan, period,
the next renewal date and the exact amount that will be charged). Pure functions over
immutable records; the adapter loads a record, applies one event and stores the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationRevoked,
    CancellationScheduled,
    PaymentMethodUpdated,
    PlanChanged,
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


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    CANCELED = "canceled"

    @property
    def settled(self) -> bool:
        """Whether the first charge has been decided (a POST /v1/subscriptions waits for it)."""
        return self is not SubscriptionStatus.INCOMPLETE


@dataclass(frozen=True)
class PlanTerms:
    plan_id: str
    name: str
    description: str
    image_url: str | None
    amount: int  # minor units per interval
    currency: str
    interval: str

    @classmethod
    def from_snapshot(cls, snapshot: PlanSnapshot) -> PlanTerms:
        return cls(
            plan_id=snapshot.plan_id,
            name=snapshot.name,
            description=snapshot.description,
            image_url=snapshot.image_url,
            amount=snapshot.amount,
            currency=snapshot.currency,
            interval=snapshot.interval,
        )


@dataclass(frozen=True)
class CardOnFile:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    @classmethod
    def from_summary(cls, card: CardSummary) -> CardOnFile:
        return cls(
            payment_method_id=card.payment_method_id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )


@dataclass(frozen=True)
class Discount:
    """A retention coupon: ``percent_off`` for the next ``periods_remaining`` renewals
    (None: every renewal)."""

    percent_off: int
    periods_remaining: int | None

    @property
    def applies_to_next_renewal(self) -> bool:
        return self.periods_remaining is None or self.periods_remaining > 0

    def after_renewal(self) -> Discount | None:
        if self.periods_remaining is None:
            return self
        left = self.periods_remaining - 1
        return replace(self, periods_remaining=left) if left > 0 else None

    def apply(self, amount: int) -> int:
        # The discount is rounded half up, the way a coupon's amount off is printed.
        return amount - (amount * self.percent_off + 50) // 100


@dataclass(frozen=True)
class SubscriptionRecord:
    subscription_id: str
    merchant_id: str
    customer_id: str
    status: SubscriptionStatus
    plan: PlanTerms
    payment_method: CardOnFile | None
    created_at: datetime
    updated_at: datetime
    version: int
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at: datetime | None = None
    canceled_at: datetime | None = None
    cancellation_reason: str | None = None
    cancellation_comment: str | None = None
    scheduled_plan: PlanTerms | None = None
    scheduled_plan_at: datetime | None = None
    activation_failure_code: str | None = None
    activation_failure_message: str | None = None
    latest_invoice_id: str | None = None
    amount_due: int | None = None  # arrears while on hold
    discount: Discount | None = None

    @property
    def renews(self) -> bool:
        if self.status is not SubscriptionStatus.ACTIVE or self.current_period_end is None:
            return False
        return self.cancel_at is None or self.cancel_at > self.current_period_end

    @property
    def next_renewal_at(self) -> datetime | None:
        return self.current_period_end if self.renews else None

    @property
    def next_renewal_plan(self) -> PlanTerms:
        """The plan the next period is charged at: a deferred change takes effect then."""
        if (
            self.scheduled_plan is not None
            and self.scheduled_plan_at is not None
            and self.current_period_end is not None
            and self.scheduled_plan_at <= self.current_period_end
        ):
            return self.scheduled_plan
        return self.plan

    @property
    def next_renewal_amount(self) -> int | None:
        if not self.renews:
            return None
        amount = self.next_renewal_plan.amount
        if self.discount is not None and self.discount.applies_to_next_renewal:
            amount = self.discount.apply(amount)
        return amount


class UnexpectedEvent(ValueError):
    """An event that does not belong to a subscription stream."""


def start(
    event: SubscriptionCreated, *, merchant_id: str, version: int, at: datetime
) -> SubscriptionRecord:
    return SubscriptionRecord(
        subscription_id=event.subscription_id,
        merchant_id=merchant_id,
        customer_id=event.customer_id,
        status=SubscriptionStatus.INCOMPLETE,
        plan=PlanTerms.from_snapshot(event.plan),
        payment_method=CardOnFile.from_summary(event.payment_method),
        created_at=at,
        updated_at=at,
        version=version,
    )


def apply(
    record: SubscriptionRecord, event: EventData, *, version: int, at: datetime
) -> SubscriptionRecord:
    """``record`` after ``event`` (stream version ``version``, occurred ``at``)."""
    changed = _evolve(record, event)
    return replace(changed, version=version, updated_at=at)


def _evolve(record: SubscriptionRecord, event: EventData) -> SubscriptionRecord:
    match event:
        case SubscriptionCreated():
            return record  # a redelivered creation changes nothing
        case SubscriptionActivated():
            return replace(
                record,
                status=SubscriptionStatus.ACTIVE,
                current_period_start=event.current_period_start,
                current_period_end=event.current_period_end,
                latest_invoice_id=event.invoice_id,
                activation_failure_code=None,
                activation_failure_message=None,
            )
        case SubscriptionActivationFailed():
            return replace(
                record,
                status=SubscriptionStatus.INCOMPLETE_EXPIRED,
                latest_invoice_id=event.invoice_id,
                activation_failure_code=event.decline_code,
                activation_failure_message=event.message,
            )
        case SubscriptionRenewed():
            return _renewed(record, event)
        case SubscriptionReactivated():
            return replace(
                record,
                status=SubscriptionStatus.ACTIVE,
                current_period_start=event.current_period_start,
                current_period_end=event.current_period_end,
                latest_invoice_id=event.invoice_id,
                amount_due=None,
            )
        case SubscriptionPutOnHold():
            return replace(
                record,
                status=SubscriptionStatus.ON_HOLD,
                latest_invoice_id=event.invoice_id,
                amount_due=event.amount_due,
            )
        case PlanChanged():
            return _plan_changed(record, event)
        case PaymentMethodUpdated():
            return replace(record, payment_method=CardOnFile.from_summary(event.payment_method))
        case CancellationScheduled():
            return replace(
                record,
                cancel_at=event.cancel_at,
                cancellation_reason=event.reason,
                cancellation_comment=event.comment,
            )
        case CancellationRevoked():
            return replace(
                record, cancel_at=None, cancellation_reason=None, cancellation_comment=None
            )
        case SubscriptionCanceled():
            return replace(
                record,
                status=SubscriptionStatus.CANCELED,
                canceled_at=event.canceled_at,
                cancel_at=None,
                cancellation_reason=event.reason or record.cancellation_reason,
                cancellation_comment=event.comment or record.cancellation_comment,
            )
        case RetentionOfferAccepted():
            if event.offer.kind == "coupon" and event.offer.percent_off is not None:
                return replace(
                    record,
                    discount=Discount(event.offer.percent_off, event.offer.duration_in_periods),
                )
            # A cheaper plan arrives as PlanChanged; a pause has no effect on this view yet.
            return record
        case _:
            if event.event_type.startswith("Subscription") or event.event_type in _KNOWN_OTHER:
                return record
            raise UnexpectedEvent(f"{event.event_type} is not a subscription event")


# Subscription-stream events that change nothing shown here (they stay in the history).
_KNOWN_OTHER = frozenset({"LicenseKeyIssued"})


def _renewed(record: SubscriptionRecord, event: SubscriptionRenewed) -> SubscriptionRecord:
    plan, scheduled, scheduled_at = record.plan, record.scheduled_plan, record.scheduled_plan_at
    if (
        scheduled is not None
        and scheduled_at is not None
        and scheduled_at <= event.current_period_start
    ):
        plan, scheduled, scheduled_at = scheduled, None, None
    return replace(
        record,
        status=SubscriptionStatus.ACTIVE,
        current_period_start=event.current_period_start,
        current_period_end=event.current_period_end,
        plan=plan,
        scheduled_plan=scheduled,
        scheduled_plan_at=scheduled_at,
        discount=record.discount.after_renewal() if record.discount is not None else None,
    )


def _plan_changed(record: SubscriptionRecord, event: PlanChanged) -> SubscriptionRecord:
    to_plan = PlanTerms.from_snapshot(event.to_plan)
    # A change effective at (or after) the end of the current period is a deferred downgrade:
    # the current plan is kept until the renewal that starts the new one.
    if record.current_period_end is not None and event.effective_at >= record.current_period_end:
        return replace(record, scheduled_plan=to_plan, scheduled_plan_at=event.effective_at)
    return replace(record, plan=to_plan, scheduled_plan=None, scheduled_plan_at=None)
