"""Pages shown instead of the portal: expired links, ended sessions, not found, forbidden.

Each is an exception carrying what is known about the visitor (the merchant's branding, the
session's locale, the return URL), so that even an error page is branded and in the right
language. The handlers built by ``page_error_handlers`` turn them, and any other exception,
into a rendered page: a portal URL never answers with a bare 500.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from portal_gateway.application.ports import Merchant
from portal_gateway.portal.i18n import Messages
from portal_gateway.portal.locales import negotiate
from portal_gateway.portal.pages import message_html
from portal_gateway.portal.rendering import PageRenderer
from servicekit.correlation import current_correlation_id

log = structlog.stdlib.get_logger("portal_gateway.portal")

AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True)
class PageContext:
    """Whatever is known about the visitor when a page cannot be served normally."""

    merchant: Merchant | None = None
    session_locale: str | None = None
    customer_locale: str | None = None
    return_url: str | None = None
    csrf_token: str | None = None  # set when the visitor is signed in


class PortalPageError(Exception):
    status_code = 400
    title = "bad_request_title"
    body = "bad_request_body"
    show_overview_link = False

    def __init__(self, context: PageContext | None = None) -> None:
        super().__init__(self.title)
        self.context = context or PageContext()


class LinkUnknown(PortalPageError):
    status_code = 404
    title = "link_unknown_title"
    body = "link_unknown_body"


class LinkExpired(PortalPageError):
    status_code = 410
    title = "link_expired_title"
    body = "link_expired_body"


class LinkUsed(PortalPageError):
    status_code = 410
    title = "link_used_title"
    body = "link_used_body"


class NotSignedIn(PortalPageError):
    status_code = 401
    title = "no_session_title"
    body = "no_session_body"


class SessionEnded(PortalPageError):
    status_code = 401
    title = "session_ended_title"
    body = "session_ended_body"


class PageNotFound(PortalPageError):
    """Unknown ids and other customers' ids alike: the answer must not tell them apart."""

    status_code = 404
    title = "not_found_title"
    body = "not_found_body"
    show_overview_link = True


class CsrfRejected(PortalPageError):
    status_code = 403
    title = "csrf_title"
    body = "csrf_body"
    show_overview_link = True


class AccountUnavailable(PortalPageError):
    """The session is valid but the projection does not (yet) know the customer."""

    status_code = 503
    title = "account_unavailable_title"
    body = "account_unavailable_body"


def render_message(
    renderer: PageRenderer,
    request: AnyRequest,
    *,
    context: PageContext,
    title: str,
    body: str,
    status_code: int,
    show_overview_link: bool = False,
    reference: str | None = None,
) -> Response[str]:
    locale = negotiate(
        session_locale=context.session_locale,
        customer_locale=context.customer_locale,
        accept_language=request.headers.get("accept-language"),
    )
    chrome = renderer.chrome(
        locale,
        merchant=context.merchant,
        return_url=context.return_url,
        csrf_token=context.csrf_token,
        current_path=request.url.path,
    )
    t: Messages = chrome.t
    html = message_html(
        renderer,
        chrome,
        title=getattr(t, title),
        body=getattr(t, body).format(merchant=chrome.merchant_label, reference=reference or ""),
        show_overview_link=show_overview_link and context.csrf_token is not None,
    )
    return Response(html, status_code=status_code, media_type=MediaType.HTML)


ExceptionHandler = Callable[[AnyRequest, Exception], Response[str]]


def page_error_handlers(renderer: PageRenderer) -> dict[type[Exception], ExceptionHandler]:
    def portal_page(request: AnyRequest, exc: Exception) -> Response[str]:
        assert isinstance(exc, PortalPageError)
        return render_message(
            renderer,
            request,
            context=exc.context,
            title=exc.title,
            body=exc.body,
            status_code=exc.status_code,
            show_overview_link=exc.show_overview_link,
        )

    def http_error(request: AnyRequest, exc: Exception) -> Response[str]:
        assert isinstance(exc, HTTPException)
        if exc.status_code >= 500:
            return unexpected(request, exc)
        not_found = isinstance(exc, NotFoundException)
        return render_message(
            renderer,
            request,
            context=PageContext(),
            title="not_found_title" if not_found else "bad_request_title",
            body="not_found_body" if not_found else "bad_request_body",
            status_code=exc.status_code,
        )

    def unexpected(request: AnyRequest, exc: Exception) -> Response[str]:
        reference = _reference()
        log.exception("portal.unexpected_error", path=request.url.path, reference=reference)
        try:
            return render_message(
                renderer,
                request,
                context=PageContext(),
                title="error_title",
                body="error_body",
                status_code=HTTP_500_INTERNAL_SERVER_ERROR,
                reference=reference,
            )
        except Exception:  # the error page itself failed: still answer with something useful
            log.exception("portal.error_page_failed", reference=reference)
            return Response(
                f"Something went wrong. Reference: {reference}",
                status_code=HTTP_500_INTERNAL_SERVER_ERROR,
                media_type=MediaType.TEXT,
            )

    return {PortalPageError: portal_page, HTTPException: http_error, Exception: unexpected}


def _reference() -> str:
    """The request's correlation id when one is bound (support can find the logs by it)."""
    return current_correlation_id() or uuid.uuid4().hex[:12]
