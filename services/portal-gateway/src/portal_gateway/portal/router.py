"""``portal_router``: everything under ``/portal``, ready for the gateway's app factory."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from billing_events.postgres import Migration
from payments import PaymentProcessor
from portal_gateway.application.payment_methods import PaymentMethodChanges
from portal_gateway.application.ports import CommandGateway, PortalQueries
from portal_gateway.portal.cancel_routes import cancel_reason_page, cancel_review, cancel_submit
from portal_gateway.portal.clock import Clock, SystemClock
from portal_gateway.portal.dependencies import Portal, provide_checked_form, provide_portal_visit
from portal_gateway.portal.errors import page_error_handlers
from portal_gateway.portal.overview_routes import overview_page
from portal_gateway.portal.page_cache import OverviewPages
from portal_gateway.portal.payment_method_routes import payment_method_page, payment_method_submit
from portal_gateway.portal.rendering import PORTAL_PATH, PageRenderer
from portal_gateway.portal.security import SecurityHeadersMiddleware
from portal_gateway.portal.session_routes import (
    open_portal_link,
    sign_out,
    switch_language,
    theme_stylesheet,
)
from portal_gateway.portal.sessions import PORTAL_SESSION_MIGRATIONS
from portal_gateway.portal.settings import PortalSettings
from portal_gateway.portal.visits import SessionThenOverview, VisitReads

PORTAL_MIGRATIONS: list[Migration] = list(PORTAL_SESSION_MIGRATIONS)
_STATIC_DIR = Path(__file__).parent / "static"


def portal_router(
    queries: PortalQueries,
    commands: CommandGateway,
    pool: asyncpg.Pool,
    settings: PortalSettings,
    *,
    clock: Clock | None = None,
    processor: PaymentProcessor | None = None,
    visits: VisitReads | None = None,
) -> Router:
    """The customer portal, mounted at ``/portal``.

    ``pool`` must reach the schema where ``PORTAL_MIGRATIONS`` have been applied. ``clock``
    defaults to the system clock; tests pass their own. ``processor`` tokenizes the cards
    customers add; without it they can only choose among their saved cards. ``visits``
    reads each page's session and overview; by default the session from ``pool``, then the
    overview from ``queries``.
    """
    renderer = PageRenderer()
    portal = Portal(
        queries=queries,
        commands=commands,
        pool=pool,
        settings=settings,
        clock=clock or SystemClock(),
        renderer=renderer,
        card_changes=PaymentMethodChanges(
            commands=commands, processor=processor, timeout=settings.command_timeout
        ),
        overview_pages=OverviewPages(renderer),
        visits=visits or SessionThenOverview(pool, queries),
    )
    static = create_static_files_router(
        path="/static",
        directories=[_STATIC_DIR],
        name="portal:static",
        cache_control=CacheControlHeader(max_age=86400, public=True),
        include_in_schema=False,
    )
    return Router(
        path=PORTAL_PATH,
        route_handlers=[
            open_portal_link,
            overview_page,
            cancel_reason_page,
            cancel_review,
            cancel_submit,
            payment_method_page,
            payment_method_submit,
            switch_language,
            sign_out,
            theme_stylesheet,
            static,
        ],
        dependencies={
            "portal": Provide(lambda: portal, use_cache=True, sync_to_thread=False),
            "visit": Provide(provide_portal_visit),
            "form": Provide(provide_checked_form),
        },
        middleware=[SecurityHeadersMiddleware(production=settings.secure_cookies)],
        exception_handlers=page_error_handlers(portal.renderer),  # type: ignore[arg-type]
        include_in_schema=False,
        tags=["portal"],
    )
