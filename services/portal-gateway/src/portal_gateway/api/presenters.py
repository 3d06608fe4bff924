"""Read models -> API response bodies."""

from __future__ import annotations

from typing import Any

from portal_gateway.api.schemas import (
    CardOut,
    CustomerOut,
    EventList,
    EventOut,
    InvoiceList,
    InvoiceOut,
    PaymentMethodOut,
    PlanOut,
    PlanSummary,
    PortalSessionOut,
    SubscriptionOut,
    TestClockOut,
)
from portal_gateway.application.merchant_api import AttachedCard, CreatedPortalSession
from portal_gateway.application.ports import CardView, CustomerView
from portal_gateway.application.test_clocks import MerchantClock
from portal_gateway.application.views import (
    HistoryEntry,
    InvoiceDetail,
    PlanView,
    SubscriptionDetail,
)


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


def invoice_out(invoice: InvoiceDetail) -> InvoiceOut:
    return InvoiceOut(
        id=invoice.invoice_id,
        number=invoice.number,
        customer=invoice.customer_id,
        subscription=invoice.subscription_id,
        reason=invoice.reason,
        status=invoice.status,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        currency=invoice.currency,
        plan_name=invoice.plan_name,
        issued_at=invoice.issued_at,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        paid_at=invoice.paid_at,
        attempt_count=invoice.failed_attempts,
        last_decline_code=invoice.last_decline_code,
        last_decline_message=invoice.last_decline_message,
    )


def invoice_list(invoices: list[InvoiceDetail], limit: int) -> InvoiceList:
    """``invoices`` as read with ``limit + 1``: the extra one only says there are more."""
    return InvoiceList(
        data=[invoice_out(i) for i in invoices[:limit]], has_more=len(invoices) > limit
    )


def clock_out(clock: MerchantClock) -> TestClockOut:
    return TestClockOut(merchant_id=clock.merchant_id, frozen_time=clock.frozen_time)


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
        case MerchantClock():
            return clock_out(resource).model_dump(mode="json")
        case InvoiceDetail():
            return invoice_out(resource).model_dump(mode="json")
    raise TypeError(f"no presenter for {type(resource).__name__}")
