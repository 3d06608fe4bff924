"""The operator API: ``/admin/...``, authenticated by ADMIN_TOKEN. Used by ``billingctl``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar import Controller, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, SkipValidation
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED

from portal_gateway.adapters.command_gateway import request_correlation_id
from portal_gateway.api.auth import AdminAuthMiddleware
from portal_gateway.api.errors import exception_handlers, json_errors
from portal_gateway.api.presenters import event_list
from portal_gateway.api.schemas import EventList, MerchantCreate, MerchantCreated, RebuildStarted
from portal_gateway.application.merchant_api import ReadModel
from portal_gateway.application.merchants import Merchants, NewMerchant
from portal_gateway.domain.merchants import CancelMode

Rebuild = Callable[[], Awaitable[tuple[int, str]]]


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
) -> Router:
    return Router(
        path="/admin",
        route_handlers=[AdminController],
        dependencies={
            "merchants": Provide(merchants, sync_to_thread=False),
            "reads": Provide(reads, sync_to_thread=False),
            "rebuild": Provide(rebuild, sync_to_thread=False),
        },
        middleware=[AdminAuthMiddleware(admin_token)],
        exception_handlers=exception_handlers(),
        security=[{"adminToken": []}],
    )
