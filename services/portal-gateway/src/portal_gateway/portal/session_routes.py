"""Getting in and out of the portal, the language switcher, and the merchant's theme."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace

import structlog
from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from portal_gateway.portal.access import LinkState
from portal_gateway.portal.dependencies import CheckedForm, PortalDep, VisitDep
from portal_gateway.portal.errors import (
    AnyRequest,
    LinkExpired,
    LinkUnknown,
    LinkUsed,
    render_message,
)
from portal_gateway.portal.rendering import PORTAL_PATH
from portal_gateway.portal.sessions import (
    BrowserSession,
    InvalidLocale,
    OpenedLink,
    choose_locale,
    end_session,
    open_link,
    resume_session,
)
from portal_gateway.portal.theme import palette

log = structlog.stdlib.get_logger("portal_gateway.portal")

# Where the language switcher may send the visitor back to: the portal's own GET pages only.
_RETURN_PATH = re.compile(r"^/portal(/subscriptions/[A-Za-z0-9_-]{1,100}/cancel)?$")


def _see_other(path: str, **kwargs: object) -> Redirect:
    return Redirect(path, status_code=HTTP_303_SEE_OTHER, **kwargs)  # type: ignore[arg-type]


def portal_link_path(url_token: str) -> str:
    """The path of a portal link, for the merchant API to put behind its public base URL."""
    return f"{PORTAL_PATH}/s/{url_token}"


@get("/s/{url_token:str}", name="portal:open-link")
async def open_portal_link(
    request: AnyRequest, portal: PortalDep, url_token: FromPath[str]
) -> Redirect:
    result = await open_link(
        portal.pool, url_token, now=portal.now(), idle_ttl=portal.settings.idle_ttl
    )
    if isinstance(result, OpenedLink):
        log.info("portal.link_opened", portal_session=result.browser.portal.session_id)
        return _see_other(PORTAL_PATH, cookies=[portal.session_cookie(result.cookie_value)])
    if result.portal is None:
        raise LinkUnknown()
    if result.state is LinkState.USED:
        # Opening the same link again in the browser that opened it (a reload, the back
        # button, a second tab) just continues that session; anywhere else it is refused.
        current = await resume_session(
            portal.pool,
            request.cookies.get(portal.settings.cookie_name),
            now=portal.now(),
            idle_ttl=portal.settings.idle_ttl,
        )
        if (
            isinstance(current, BrowserSession)
            and current.portal.session_id == result.portal.session_id
        ):
            return _see_other(PORTAL_PATH)
        log.info("portal.link_reused", portal_session=result.portal.session_id)
        raise LinkUsed(await portal.context_for(result.portal))
    log.info("portal.link_expired", portal_session=result.portal.session_id)
    raise LinkExpired(await portal.context_for(result.portal))


@post("/logout", name="portal:sign-out", status_code=200)
async def sign_out(
    request: AnyRequest, portal: PortalDep, visit: VisitDep, form: CheckedForm
) -> Response[str]:
    await end_session(portal.pool, visit.session, now=portal.now())
    response = render_message(
        portal.renderer,
        request,
        # Signed out: the page keeps the branding but loses the session's controls.
        context=replace(visit.context(), csrf_token=None),
        title="signed_out_title",
        body="signed_out_body",
        status_code=200,
    )
    response.set_cookie(portal.expired_cookie())
    return response


@post("/language", name="portal:language")
async def switch_language(portal: PortalDep, visit: VisitDep, form: CheckedForm) -> Redirect:
    requested = form.get("locale")
    if isinstance(requested, str):
        # A tampered value keeps the current language.
        with contextlib.suppress(InvalidLocale):
            await choose_locale(portal.pool, visit.session, requested)
    target = form.get("next")
    path = target if isinstance(target, str) and _RETURN_PATH.match(target) else PORTAL_PATH
    return _see_other(path)


@get("/theme.css", name="portal:theme", media_type="text/css")
async def theme_stylesheet(brand: FromQuery[str | None] = None) -> Response[str]:
    return Response(
        palette(brand).css(),
        media_type="text/css; charset=utf-8",
        headers={"cache-control": "public, max-age=86400"},
    )
