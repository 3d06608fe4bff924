"""Each portal page as a function of its data: what the routes render, and what the template
tests render for every language without a server."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final, get_args

from billing_events.contract.events import CancellationReason
from portal_gateway.application.ports import PortalOverview
from portal_gateway.portal import presenters
from portal_gateway.portal.formatting import Formatter
from portal_gateway.portal.presenters import CancelSummary, Notice
from portal_gateway.portal.rendering import Chrome, PageRenderer

REASONS: Final[tuple[str, ...]] = get_args(CancellationReason)
MAX_COMMENT: Final = 2000  # CancelSubscription.comment's limit in the contract


def overview_html(
    renderer: PageRenderer,
    chrome: Chrome,
    overview: PortalOverview,
    *,
    fmt: Formatter,
    now: datetime,
    flash: Notice | None = None,
) -> str:
    t = chrome.t
    return renderer.render(
        "overview.html",
        chrome,
        customer=overview.customer,
        flash=flash,
        subscriptions=presenters.subscription_cards(overview, t, fmt, now),
        cards=presenters.payment_method_lines(overview, t, now),
        invoices=presenters.invoice_rows(overview.invoices, t, fmt),
    )


def cancel_reason_html(
    renderer: PageRenderer,
    chrome: Chrome,
    summary: CancelSummary,
    *,
    selected_reason: str | None = None,
    comment: str = "",
    errors: Mapping[str, str] | None = None,
) -> str:
    t = chrome.t
    return renderer.render(
        "cancel_reason.html",
        chrome,
        summary=summary,
        reasons=[(code, t.reason(code)) for code in REASONS],
        selected_reason=selected_reason,
        comment=comment,
        errors=dict(errors or {}),
        max_comment=MAX_COMMENT,
    )


def cancel_confirm_html(
    renderer: PageRenderer,
    chrome: Chrome,
    summary: CancelSummary,
    *,
    reason: str | None,
    comment: str,
) -> str:
    return renderer.render(
        "cancel_confirm.html",
        chrome,
        summary=summary,
        reason=reason,
        reason_label=chrome.t.reason(reason) if reason else None,
        comment=comment,
    )


def message_html(
    renderer: PageRenderer,
    chrome: Chrome,
    *,
    title: str,
    body: str,
    show_overview_link: bool = False,
) -> str:
    return renderer.render(
        "message.html", chrome, title=title, body=body, show_overview_link=show_overview_link
    )
