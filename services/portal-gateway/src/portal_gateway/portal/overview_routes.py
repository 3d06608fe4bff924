"""The portal's home: subscriptions, payment methods and invoices of the signed-in customer."""

from __future__ import annotations

from datetime import datetime

from litestar import Response, get

from portal_gateway.portal import csrf
from portal_gateway.portal.dependencies import PortalDep, Visit, VisitDep, page
from portal_gateway.portal.presenters import Notice
from portal_gateway.portal.sessions import Flash, pop_flash


def flash_notice(flash: Flash, visit: Visit) -> Notice | None:
    """A stored notice in the visitor's current language; dates are stored as ISO instants."""
    template = getattr(visit.t, flash.key, None)
    if not isinstance(template, str):
        return None
    params = dict(flash.params)
    if "date" in params:
        try:
            params["date"] = visit.fmt.date(datetime.fromisoformat(params["date"]))
        except ValueError:
            return None
    params.setdefault("merchant", visit.overview.merchant.name)
    try:
        return Notice(flash.kind, template.format(**params))
    except (KeyError, IndexError):
        return None


@get("/", name="portal:overview")
async def overview_page(portal: PortalDep, visit: VisitDep) -> Response[str]:
    # The session read says whether a notice waits: without one, no query to pop it.
    flash = await pop_flash(portal.pool, visit.session) if visit.session.flash_pending else None
    html = portal.overview_pages.html(
        visit.overview,
        locale=visit.locale,
        return_url=visit.session.portal.return_url,
        now=visit.now,
        csrf_token=csrf.issue_token(visit.session.csrf_secret),
        flash=flash_notice(flash, visit) if flash else None,
    )
    return page(html)
