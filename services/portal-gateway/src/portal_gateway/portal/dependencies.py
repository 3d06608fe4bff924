"""What every portal route is handed: the portal's collaborators and the current visit.

``provide_visit`` is the portal's authentication: it turns the session cookie into a live
session scoped to one (merchant, customer), or raises the page explaining why not.
``provide_checked_form`` is its CSRF gate: every POST route takes its form through it.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog
from litestar import MediaType, Response
from litestar.datastructures import Cookie, FormMultiDict
from litestar.di import NamedDependency

from portal_gateway.application.payment_methods import PaymentMethodChanges
from portal_gateway.application.ports import CommandGateway, PortalOverview, PortalQueries
from portal_gateway.portal import csrf
from portal_gateway.portal.clock import Clock
from portal_gateway.portal.errors import (
    AccountUnavailable,
    AnyRequest,
    CsrfRejected,
    NotSignedIn,
    PageContext,
    SessionEnded,
)
from portal_gateway.portal.formatting import Formatter, formatter_for
from portal_gateway.portal.i18n import Messages, messages_for
from portal_gateway.portal.locales import PortalLocale, negotiate
from portal_gateway.portal.page_cache import OverviewPages
from portal_gateway.portal.rendering import PORTAL_PATH, Chrome, PageRenderer
from portal_gateway.portal.sessions import BrowserSession, EndedSession, PortalSession
from portal_gateway.portal.settings import PortalSettings
from portal_gateway.portal.visits import VisitReads
from servicekit.correlation import current_correlation_id

log = structlog.stdlib.get_logger("portal_gateway.portal")


@dataclass(frozen=True)
class Portal:
    """The portal's collaborators, built once by ``portal_router``."""

    queries: PortalQueries
    commands: CommandGateway
    pool: asyncpg.Pool
    settings: PortalSettings
    clock: Clock
    renderer: PageRenderer
    card_changes: PaymentMethodChanges
    overview_pages: OverviewPages
    visits: VisitReads

    def now(self) -> datetime:
        return self.clock.now()

    def session_cookie(self, value: str) -> Cookie:
        # No Max-Age: the browser forgets it when closed, the server after an idle hour.
        return Cookie(
            key=self.settings.cookie_name,
            value=value,
            path="/",
            httponly=True,
            secure=self.settings.secure_cookies,
            samesite="lax",
        )

    def expired_cookie(self) -> Cookie:
        return Cookie(
            key=self.settings.cookie_name,
            value="",
            path="/",
            max_age=0,
            httponly=True,
            secure=self.settings.secure_cookies,
            samesite="lax",
        )

    async def context_for(
        self, session: PortalSession, *, locale: str | None = None
    ) -> PageContext:
        """Branding for a page about a session that cannot be used; unbranded if the read
        model cannot say (an error page must not fail because of it)."""
        overview: PortalOverview | None = None
        try:
            overview = await self.queries.overview(session.merchant_id, session.customer_id)
        except Exception:
            log.warning("portal.branding_unavailable", exc_info=True)
        return PageContext(
            merchant=overview.merchant if overview else None,
            session_locale=locale or session.locale,
            customer_locale=overview.customer.locale if overview else None,
            return_url=session.return_url,
        )


@dataclass(frozen=True)
class Visit:
    """One request of a signed-in customer: who, what they may see, in which language."""

    session: BrowserSession
    overview: PortalOverview
    locale: PortalLocale
    now: datetime

    @property
    def merchant_id(self) -> str:
        return self.session.merchant_id

    @property
    def customer_id(self) -> str:
        return self.session.customer_id

    @property
    def merchant_now(self) -> datetime:
        """The merchant's time (its test clock's, if it has one): billing rules such as card
        expiry are judged at it. Session expiry stays on the wall clock (``now``)."""
        return self.overview.merchant_now(self.now)

    @property
    def t(self) -> Messages:
        return messages_for(self.locale.language)

    @property
    def fmt(self) -> Formatter:
        return formatter_for(self.locale)

    def context(self) -> PageContext:
        return PageContext(
            merchant=self.overview.merchant,
            session_locale=self.locale.tag,
            return_url=self.session.portal.return_url,
            csrf_token=csrf.issue_token(self.session.csrf_secret),
        )

    def chrome(self, renderer: PageRenderer, current_path: str = PORTAL_PATH) -> Chrome:
        return renderer.chrome(
            self.locale,
            merchant=self.overview.merchant,
            return_url=self.session.portal.return_url,
            csrf_token=csrf.issue_token(self.session.csrf_secret),
            current_path=current_path,
        )


# Handler parameters filled by the router's dependencies (see ``router.portal_router``).
PortalDep = NamedDependency[Portal]
VisitDep = NamedDependency[Visit]
CheckedForm = NamedDependency[FormMultiDict]


def page(html: str, status_code: int = 200) -> Response[str]:
    return Response(html, status_code=status_code, media_type=MediaType.HTML)


def correlation_uuid() -> uuid.UUID | None:
    value = current_correlation_id()
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return uuid.UUID(value)
    return None


async def provide_portal_visit(request: AnyRequest, portal: PortalDep) -> Visit:
    now = portal.now()
    found, overview = await portal.visits.resume(
        request.cookies.get(portal.settings.cookie_name),
        now=now,
        idle_ttl=portal.settings.idle_ttl,
    )
    if found is None:
        raise NotSignedIn()
    if isinstance(found, EndedSession):
        raise SessionEnded(await portal.context_for(found.portal))
    structlog.contextvars.bind_contextvars(
        portal_session=found.portal.session_id, merchant_id=found.merchant_id
    )
    if overview is None:
        raise AccountUnavailable(
            PageContext(session_locale=found.locale, return_url=found.portal.return_url)
        )
    locale = negotiate(
        session_locale=found.locale,
        customer_locale=overview.customer.locale,
        accept_language=request.headers.get("accept-language"),
    )
    return Visit(session=found, overview=overview, locale=locale, now=now)


async def provide_checked_form(request: AnyRequest, visit: VisitDep) -> FormMultiDict:
    """The POSTed form, once its CSRF token is shown to belong to this session."""
    form = await request.form()
    token = form.get(csrf.FIELD_NAME)
    if not isinstance(token, str) or not csrf.verify_token(visit.session.csrf_secret, token):
        log.warning("portal.csrf_rejected", path=request.url.path)
        raise CsrfRejected(visit.context())
    return form
