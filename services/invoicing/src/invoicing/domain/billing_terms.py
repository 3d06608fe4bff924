"""What invoicing must know of a subscription to bill its later periods: customer, plan, card.

The subscriptions service owns these facts; invoicing keeps its own copy, told by
``SubscriptionCreated``, ``PaymentMethodUpdated`` and ``PlanChanged``, because a renewal only
says which period begins. Each part remembers the version of the subscription stream that set
it: a message seen again, or late (a dead letter replayed after newer events), never replaces
a newer value. The result is the same whatever order the events are observed in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import PaymentMethodUpdated, PlanChanged, SubscriptionCreated
from billing_events.envelope import EventData

TermsEvent = SubscriptionCreated | PaymentMethodUpdated | PlanChanged
"""The subscription events that change what a renewal is billed."""


@dataclass(frozen=True)
class BillableTerms:
    """Everything a renewal invoice needs, all known."""

    customer_id: str
    plan: PlanSnapshot
    payment_method: CardSummary


@dataclass(frozen=True)
class SubscriptionTerms:
    """The newest customer, plan and card observed for one subscription, each with the
    subscription stream version it came from (0: not known yet)."""

    subscription_id: str
    customer_id: str | None = None
    plan: PlanSnapshot | None = None
    plan_version: int = 0
    payment_method: CardSummary | None = None
    payment_method_version: int = 0

    def billable(self) -> BillableTerms | None:
        """The terms to bill with, or None while the subscription's creation is unseen."""
        if self.customer_id is None or self.plan is None or self.payment_method is None:
            return None
        return BillableTerms(self.customer_id, self.plan, self.payment_method)


def observe(terms: SubscriptionTerms, event: EventData, version: int) -> SubscriptionTerms:
    """``terms`` after ``event``, the subscription stream's ``version``-th event."""
    if not isinstance(event, TermsEvent):
        return terms
    if event.subscription_id != terms.subscription_id:
        raise ValueError(
            f"{event.event_type} of {event.subscription_id} observed on the terms of "
            f"{terms.subscription_id}"
        )
    if version < 1:
        raise ValueError(f"stream versions start at 1, got {version}")
    match event:
        case SubscriptionCreated():
            terms = _with_customer(terms, event.customer_id)
            terms = _with_plan(terms, event.plan, version)
            return _with_payment_method(terms, event.payment_method, version)
        case PaymentMethodUpdated():
            terms = _with_customer(terms, event.customer_id)
            return _with_payment_method(terms, event.payment_method, version)
        case PlanChanged():
            return _with_plan(terms, event.to_plan, version)


def _with_customer(terms: SubscriptionTerms, customer_id: str) -> SubscriptionTerms:
    # A subscription never changes customer: the first one seen stays.
    if terms.customer_id is not None:
        return terms
    return replace(terms, customer_id=customer_id)


def _with_plan(terms: SubscriptionTerms, plan: PlanSnapshot, version: int) -> SubscriptionTerms:
    if version <= terms.plan_version:
        return terms
    return replace(terms, plan=plan, plan_version=version)


def _with_payment_method(
    terms: SubscriptionTerms, card: CardSummary, version: int
) -> SubscriptionTerms:
    if version <= terms.payment_method_version:
        return terms
    return replace(terms, payment_method=card, payment_method_version=version)
