"""The merchant API: ``/v1/...``, authenticated by the merchant's secret key.

Every POST honours ``Idempotency-Key``. Writes are commands to the owning service; a write
answers once the gateway's projection shows its outcome (bounded wait, then 202).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Controller, Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from payments import CardInput
from portal_gateway.api.auth import Authenticate, MerchantAuthMiddleware, current_merchant
from portal_gateway.api.errors import exception_handlers, json_errors
from portal_gateway.api.idempotency import IdempotencyMiddleware, IdempotencyStore
from portal_gateway.api.presenters import (
    customer_out,
    event_list,
    invoice_list,
    invoice_out,
    payment_method_out,
    plan_out,
    portal_session_out,
    subscription_out,
)
from portal_gateway.api.schemas import (
    CustomerCreate,
    CustomerOut,
    ErrorBody,
    EventList,
    InvoiceList,
    InvoiceOut,
    PaymentMethodCreate,
    PaymentMethodOut,
    PlanCreate,
    PlanOut,
    PortalSessionCreate,
    PortalSessionOut,
    Processing,
    SubscriptionCancel,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionPaymentMethodUpdate,
)
from portal_gateway.application.merchant_api import MerchantApi
from portal_gateway.domain import ids

AnyRequest = Request[Any, Any, Any]


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description)


_COMMON: dict[int, ResponseSpec] = {
    400: _error("Invalid request: `param` names the field"),
    401: _error("Missing or invalid API key"),
    409: _error("Rejected by the current state, or the Idempotency-Key is in use"),
    422: _error("The Idempotency-Key was used with a different request"),
}
_WRITE = {
    **_COMMON,
    202: ResponseSpec(
        data_container=Processing,
        description="Queued; the outcome was not seen within the bounded wait",
    ),
}
_NOT_FOUND = {404: _error("No such resource for this merchant")}


class PlansController(Controller):
    path = "/plans"
    tags = ["plans"]

    @post(
        status_code=HTTP_201_CREATED,
        summary="Create a plan",
        responses=_WRITE,
    )
    @json_errors
    async def create_plan(
        self, request: AnyRequest, data: JSONBody[PlanCreate], api: NamedDependency[MerchantApi]
    ) -> PlanOut:
        merchant = current_merchant(request)
        plan = await api.create_plan(
            merchant.merchant_id,
            name=data.name,
            description=data.description,
            image_url=data.image_url,
            amount=data.amount,
            currency=data.currency,
            interval=data.interval,
        )
        return plan_out(plan)

    @get("/{plan_id:str}", summary="Retrieve a plan", responses={**_COMMON, **_NOT_FOUND})
    @json_errors
    async def get_plan(
        self, request: AnyRequest, plan_id: FromPath[str], api: NamedDependency[MerchantApi]
    ) -> PlanOut:
        merchant = current_merchant(request)
        return plan_out(await api.get_plan(merchant.merchant_id, plan_id))


class CustomersController(Controller):
    path = "/customers"
    tags = ["customers"]

    @post(status_code=HTTP_201_CREATED, summary="Create a customer", responses=_WRITE)
    @json_errors
    async def create_customer(
        self, request: AnyRequest, data: JSONBody[CustomerCreate], api: NamedDependency[MerchantApi]
    ) -> CustomerOut:
        merchant = current_merchant(request)
        customer = await api.register_customer(
            merchant.merchant_id,
            email=str(data.email),
            name=data.name,
            phone=data.phone,
            locale=data.locale,
        )
        return customer_out(customer)

    @get("/{customer_id:str}", summary="Retrieve a customer", responses={**_COMMON, **_NOT_FOUND})
    @json_errors
    async def get_customer(
        self, request: AnyRequest, customer_id: FromPath[str], api: NamedDependency[MerchantApi]
    ) -> CustomerOut:
        merchant = current_merchant(request)
        return customer_out(await api.get_customer(merchant.merchant_id, customer_id))


class PaymentMethodsController(Controller):
    path = "/payment_methods"
    tags = ["payment methods"]

    @post(
        status_code=HTTP_201_CREATED,
        summary="Attach a card to a customer",
        description=(
            "The card is tokenized by the payment processor; its number and CVC are never "
            "stored, logged or forwarded. Invalid or refused cards answer 402 with a card "
            "error code (invalid_number, invalid_expiry_month, invalid_expiry_year, "
            "expired_card, invalid_cvc, incorrect_cvc...)."
        ),
        responses={**_WRITE, **_NOT_FOUND, 402: _error("The card was refused")},
    )
    @json_errors
    async def attach(
        self,
        request: AnyRequest,
        data: JSONBody[PaymentMethodCreate],
        api: NamedDependency[MerchantApi],
    ) -> PaymentMethodOut:
        merchant = current_merchant(request)
        # The secrets are unwrapped straight into CardInput, which masks itself everywhere.
        card = CardInput(
            number=data.card.number.get_secret_value(),
            exp_month=data.card.exp_month,
            exp_year=data.card.exp_year,
            cvc=data.card.cvc.get_secret_value(),
        )
        attached = await api.attach_payment_method(merchant.merchant_id, data.customer, card)
        return payment_method_out(attached)


class SubscriptionsController(Controller):
    path = "/subscriptions"
    tags = ["subscriptions"]

    @post(
        status_code=HTTP_200_OK,
        summary="Create a subscription and charge its first invoice",
        description=(
            "Answers once the first charge is decided: 200 with status `active`, or 402 with "
            "the decline code (`error.code`) and message; the subscription then stays "
            "`incomplete_expired`. 202 if the charge is still being processed."
        ),
        responses={**_WRITE, **_NOT_FOUND, 402: _error("The first charge was declined")},
    )
    @json_errors
    async def create_subscription(
        self,
        request: AnyRequest,
        data: JSONBody[SubscriptionCreate],
        api: NamedDependency[MerchantApi],
    ) -> SubscriptionOut:
        merchant = current_merchant(request)
        detail = await api.create_subscription(
            merchant.merchant_id,
            customer_id=data.customer,
            plan_id=data.plan,
            payment_method_id=data.payment_method,
        )
        return subscription_out(detail)

    @get(
        "/{subscription_id:str}",
        summary="Retrieve a subscription",
        responses={**_COMMON, **_NOT_FOUND},
    )
    @json_errors
    async def get_subscription(
        self, request: AnyRequest, subscription_id: FromPath[str], api: NamedDependency[MerchantApi]
    ) -> SubscriptionOut:
        merchant = current_merchant(request)
        return subscription_out(await api.get_subscription(merchant.merchant_id, subscription_id))

    @get(
        "/{subscription_id:str}/events",
        summary="A subscription's event history, in order",
        responses={**_COMMON, **_NOT_FOUND},
    )
    @json_errors
    async def get_events(
        self, request: AnyRequest, subscription_id: FromPath[str], api: NamedDependency[MerchantApi]
    ) -> EventList:
        merchant = current_merchant(request)
        entries = await api.subscription_events(merchant.merchant_id, subscription_id)
        return event_list(ids.subscription_stream(subscription_id), entries)

    @post(
        "/{subscription_id:str}/cancel",
        status_code=HTTP_200_OK,
        summary="Cancel a subscription now or at the end of its period",
        responses={**_WRITE, **_NOT_FOUND},
    )
    @json_errors
    async def cancel(
        self,
        request: AnyRequest,
        subscription_id: FromPath[str],
        api: NamedDependency[MerchantApi],
        data: JSONBody[SubscriptionCancel | None] = None,
    ) -> SubscriptionOut:
        merchant = current_merchant(request)
        body = data or SubscriptionCancel()
        detail = await api.cancel_subscription(
            merchant.merchant_id,
            subscription_id,
            at_period_end=body.at_period_end,
            reason=body.reason,
            comment=body.comment,
        )
        return subscription_out(detail)

    @post(
        "/{subscription_id:str}/payment_method",
        status_code=HTTP_200_OK,
        summary="Charge a subscription to another of its customer's cards",
        description=(
            "Attach the card first (`POST /v1/payment_methods`). Refusals: 404 "
            "`payment_method_not_found`; 402 `payment_method_expired` (expired in the "
            "merchant's time); 409 `subscription_ended` (canceled or never started) or "
            "`payment_method_unchanged` (that card already pays it)."
        ),
        responses={**_WRITE, **_NOT_FOUND, 402: _error("The card has expired")},
    )
    @json_errors
    async def update_payment_method(
        self,
        request: AnyRequest,
        subscription_id: FromPath[str],
        data: JSONBody[SubscriptionPaymentMethodUpdate],
        api: NamedDependency[MerchantApi],
    ) -> SubscriptionOut:
        merchant = current_merchant(request)
        detail = await api.update_subscription_payment_method(
            merchant.merchant_id, subscription_id, payment_method_id=data.payment_method
        )
        return subscription_out(detail)


MAX_PAGE = 100


class InvoicesController(Controller):
    path = "/invoices"
    tags = ["invoices"]

    @get(
        summary="List invoices, newest first",
        description=(
            "Filter by `subscription` or `customer` (an unknown one is a 404). Renewal invoices "
            "appear here once invoicing has issued them; `issued_at` is in the merchant's time."
        ),
        responses={**_COMMON, **_NOT_FOUND},
    )
    @json_errors
    async def list_invoices(
        self,
        request: AnyRequest,
        api: NamedDependency[MerchantApi],
        subscription: Annotated[str | None, Parameter(max_length=100)] = None,
        customer: Annotated[str | None, Parameter(max_length=100)] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    ) -> InvoiceList:
        merchant = current_merchant(request)
        invoices = await api.list_invoices(
            merchant.merchant_id,
            subscription_id=subscription,
            customer_id=customer,
            limit=limit + 1,
        )
        return invoice_list(invoices, limit)

    @get("/{invoice_id:str}", summary="Retrieve an invoice", responses={**_COMMON, **_NOT_FOUND})
    @json_errors
    async def get_invoice(
        self, request: AnyRequest, invoice_id: FromPath[str], api: NamedDependency[MerchantApi]
    ) -> InvoiceOut:
        merchant = current_merchant(request)
        return invoice_out(await api.get_invoice(merchant.merchant_id, invoice_id))


class PortalSessionsController(Controller):
    path = "/portal/sessions"
    tags = ["portal sessions"]

    @post(
        status_code=HTTP_201_CREATED,
        summary="Create a customer portal session",
        description=(
            "A short-lived link to the customer's self-service portal: unused it expires "
            "after 5 minutes; once opened the session lives until an hour after its last use."
        ),
        responses={**_COMMON, **_NOT_FOUND},
    )
    @json_errors
    async def create_session(
        self,
        request: AnyRequest,
        data: JSONBody[PortalSessionCreate],
        api: NamedDependency[MerchantApi],
    ) -> PortalSessionOut:
        merchant = current_merchant(request)
        session = await api.create_portal_session(
            merchant.merchant_id,
            customer_id=data.customer,
            return_url=data.return_url,
            locale=data.locale,
        )
        return portal_session_out(session, data.customer, data.return_url, data.locale)


def merchant_router(
    *,
    api: Callable[[], MerchantApi],
    authenticate: Callable[[], Authenticate],
    idempotency: Callable[[], IdempotencyStore],
) -> Router:
    """``/v1``; the arguments provide the runtime parts once the service has started."""
    return Router(
        path="/v1",
        route_handlers=[
            PlansController,
            CustomersController,
            PaymentMethodsController,
            SubscriptionsController,
            InvoicesController,
            PortalSessionsController,
        ],
        dependencies={"api": Provide(api, sync_to_thread=False)},
        middleware=[MerchantAuthMiddleware(authenticate), IdempotencyMiddleware(idempotency)],
        exception_handlers=exception_handlers(),
        security=[{"bearerAuth": []}],
    )
