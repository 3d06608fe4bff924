"""The operator API: ``/admin/...``, authenticated by ADMIN_TOKEN. Used by ``billingctl``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar import Controller, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, SkipValidation
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from portal_gateway.adapters.command_gateway import request_correlation_id
from portal_gateway.api.auth import AdminAuthMiddleware
from portal_gateway.api.errors import exception_handlers, json_errors
from portal_gateway.api.presenters import clock_out, event_list
from portal_gateway.api.schemas import (
    ErrorBody,
    EventList,
    MerchantCreate,
    MerchantCreated,
    Processing,
    RebuildStarted,
    TestClockAdvance,
    TestClockOut,
)
from portal_gateway.application.merchant_api import ReadModel
from portal_gateway.application.merchants import Merchants, NewMerchant
from portal_gateway.application.test_clocks import TestClocks
from portal_gateway.domain.merchants import CancelMode

Rebuild = Callable[[], Awaitable[tuple[int, str]]]


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description)


_CLOCK_RESPONSES = {
    404: _error("No such merchant"),
    409: _error("clock_backwards or test_clocks_disabled (ENV=prod)"),
    422: _error("clock_advance_too_far: more than 5 years in one advance"),
    202: ResponseSpec(
        data_container=Processing, description="Queued; the clock did not answer in time"
    ),
}


class AdminController(Controller):
    path = "/"
    tags = ["admin"]

    @post("/merchants", status_code=HTTP_201_CREATED, summary="Register a merchant")
    @json_errors
    async def create_merchant(
        self, data: JSONBody[MerchantCreate], merchants: NamedDependency[Merchants]
    ) -> MerchantCreated:
        registered = await merchants.register(
            NewMerchant(
                name=data.name,
                slug=data.slug,
                support_email=str(data.support_email) if data.support_email else None,
                logo_url=data.logo_url,
                brand_color=data.brand_color,
                cancel_mode=CancelMode(data.cancel_mode),
            ),
            correlation_id=request_correlation_id(),
        )
        merchant = registered.merchant
        return MerchantCreated(
            id=merchant.merchant_id,
            slug=merchant.slug,
            name=merchant.name,
            api_key=registered.api_key,
        )

    @get(
        "/streams/{stream_id:str}/events",
        summary="Any stream's events in order, from the gateway's history projection",
    )
    @json_errors
    async def stream_events(
        self, stream_id: FromPath[str], reads: NamedDependency[SkipValidation[ReadModel]]
    ) -> EventList:
        return event_list(stream_id, await reads.history(stream_id))

    @get(
        "/merchants/{merchant_id:str}/test_clock",
        summary="A merchant's test clock (null frozen_time: it lives in wall-clock time)",
        responses={404: _error("No such merchant")},
    )
    @json_errors
    async def get_test_clock(
        self, merchant_id: FromPath[str], clocks: NamedDependency[SkipValidation[TestClocks]]
    ) -> TestClockOut:
        return clock_out(await clocks.current(merchant_id))

    @post(
        "/merchants/{merchant_id:str}/test_clock",
        status_code=HTTP_200_OK,
        summary="Set a merchant's test clock (development and tests)",
        description=(
            "Moves the merchant's time to `advance_to` and answers once the subscriptions "
            "service has moved it. Renewals that fall due happen right after, asynchronously: "
            "poll `GET /v1/invoices?subscription=...` or the subscription to see them billed."
        ),
        responses=_CLOCK_RESPONSES,
    )
    @json_errors
    async def advance_test_clock(
        self,
        merchant_id: FromPath[str],
        data: JSONBody[TestClockAdvance],
        clocks: NamedDependency[SkipValidation[TestClocks]],
    ) -> TestClockOut:
        return clock_out(await clocks.advance(merchant_id, data.advance_to))

    @post(
        "/projections/rebuild",
        status_code=HTTP_202_ACCEPTED,
        summary="Truncate the projections and replay every event topic in a new group",
    )
    @json_errors
    async def rebuild(self, rebuild: NamedDependency[SkipValidation[Rebuild]]) -> RebuildStarted:
        generation, group = await rebuild()
        return RebuildStarted(generation=generation, consumer_group=group)


def admin_router(
    *,
    admin_token: str | None,
    merchants: Callable[[], Merchants],
    reads: Callable[[], ReadModel],
    rebuild: Callable[[], Rebuild],
    clocks: Callable[[], TestClocks],
) -> Router:
    return Router(
        path="/admin",
        route_handlers=[AdminController],
        dependencies={
            "merchants": Provide(merchants, sync_to_thread=False),
            "reads": Provide(reads, sync_to_thread=False),
            "rebuild": Provide(rebuild, sync_to_thread=False),
            "clocks": Provide(clocks, sync_to_thread=False),
        },
        middleware=[AdminAuthMiddleware(admin_token)],
        exception_handlers=exception_handlers(),
        security=[{"adminToken": []}],
    )
