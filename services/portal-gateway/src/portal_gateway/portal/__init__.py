"""The customer self-service portal: server-rendered pages under ``/portal``.

For the gateway's composition root::

    await migrate(pool, [*other_migrations, *PORTAL_MIGRATIONS])
    app = Litestar(route_handlers=[..., portal_router(queries, commands, pool,
                                                      PortalSettings.for_env(settings.env))])

For the merchant API (``POST /v1/portal/sessions``)::

    created = await create_portal_session(pool, merchant_id=..., customer_id=...,
                                          return_url=..., locale=..., now=clock.now())
    url = public_base_url + portal_link_path(created.url_token)
"""

from portal_gateway.portal.access import IDLE_TTL, LINK_TTL, InvalidReturnUrl
from portal_gateway.portal.clock import Clock, FakeClock, SystemClock
from portal_gateway.portal.router import PORTAL_MIGRATIONS, portal_router
from portal_gateway.portal.session_routes import portal_link_path
from portal_gateway.portal.sessions import (
    CreatedSession,
    InvalidLocale,
    create_portal_session,
    purge_expired,
)
from portal_gateway.portal.settings import PortalSettings

__all__ = [
    "IDLE_TTL",
    "LINK_TTL",
    "PORTAL_MIGRATIONS",
    "Clock",
    "CreatedSession",
    "FakeClock",
    "InvalidLocale",
    "InvalidReturnUrl",
    "PortalSettings",
    "SystemClock",
    "create_portal_session",
    "portal_link_path",
    "portal_router",
    "purge_expired",
]
