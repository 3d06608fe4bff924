"""Read models -> API response bodies."""

from __future__ import annotations

from typing import Any

from portal_gateway.api.schemas import (
    CardOut,
    CustomerOut,
    EventList,
    EventOut,
    PaymentMethodOut,
    PlanOut,
    PlanSummary,
    PortalSessionOut,
    SubscriptionOut,
)
from portal_gateway.application.merchant_api import AttachedCard, CreatedPortalSession
from portal_gateway.application.ports import CardView, CustomerView
from portal_gateway.application.views import HistoryEntry, PlanView, SubscriptionDetail


def plan_out(plan: PlanView) -> PlanOut:
    return PlanOut(
        id=plan.plan_id,
        name=plan.name,
        description=plan.description,
        image_url=plan.image_url,
        amount=plan.amount,
        currency=plan.currency,
        interval=plan.interval,
        created_at=plan.created_at,
    )


def customer_out(customer: CustomerView) -> CustomerOut:
    return CustomerOut(
        id=customer.customer_id,
        email=customer.email,
        name=customer.name,
        phone=customer.phone,
        locale=customer.locale,
    )


def card_out(card: CardView) -> CardOut:
    return CardOut(
        id=card.payment_method_id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
    )


def payment_method_out(attached: AttachedCard) -> PaymentMethodOut:
    card = attached.card
    return PaymentMethodOut(
        id=card.payment_method_id,
        customer=attached.customer_id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
    )


def subscription_out(detail: SubscriptionDetail) -> SubscriptionOut:
    view = detail.view
    return SubscriptionOut(
        id=view.subscription_id,
        customer=view.customer_id,
        status=view.status,
        plan=PlanSummary(
            id=view.plan_id,
            name=view.plan_name,
            description=view.plan_description,
            image_url=view.plan_image_url,
            amount=view.amount,
            currency=view.currency,
            interval=view.interval,
        ),
        payment_method=card_out(view.payment_method) if view.payment_method else None,
        current_period_start=view.current_period_start,
        current_period_end=view.current_period_end,
        next_renewal_at=view.next_renewal_at,
        next_renewal_amount=view.next_renewal_amount,
        cancel_at=view.cancel_at,
        canceled_at=view.canceled_at,
        cancellation_reason=view.cancellation_reason,
        cancellation_comment=detail.cancellation_comment,
        latest_invoice=detail.latest_invoice_id,
        created_at=detail.created_at,
        version=view.version,
    )


def event_out(entry: HistoryEntry) -> EventOut:
    return EventOut(
        id=entry.event_id,
        type=entry.event_type,
        version=entry.version,
        schema_version=entry.schema_version,
        occurred_at=entry.occurred_at,
        correlation_id=entry.correlation_id,
        causation_id=entry.causation_id,
        data=entry.data,
    )


def event_list(stream_id: str, entries: list[HistoryEntry]) -> EventList:
    return EventList(stream_id=stream_id, data=[event_out(e) for e in entries])


def portal_session_out(
    session: CreatedPortalSession, customer_id: str, return_url: str | None, locale: str | None
) -> PortalSessionOut:
    return PortalSessionOut(
        id=session.session_id,
        customer=customer_id,
        url=session.url,
        expires_at=session.expires_at,
        return_url=return_url,
        locale=locale,
    )


def present_resource(resource: object) -> dict[str, Any]:
    """Any read model the API returns, as its JSON body (for a 202's partial answer)."""
    match resource:
        case SubscriptionDetail():
            return subscription_out(resource).model_dump(mode="json")
        case AttachedCard():
            return payment_method_out(resource).model_dump(mode="json")
        case PlanView():
            return plan_out(resource).model_dump(mode="json")
        case CustomerView():
            return customer_out(resource).model_dump(mode="json")
    raise TypeError(f"no presenter for {type(resource).__name__}")
