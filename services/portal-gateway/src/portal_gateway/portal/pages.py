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
from portal_gateway.portal.i18n import Messages
from portal_gateway.portal.presenters import CancelSummary, Notice, PaymentMethodSummary
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
    """``now`` is the wall clock; the page itself lives in the merchant's time."""
    t = chrome.t
    merchant_now = overview.merchant_now(now)
    return renderer.render(
        "overview.html",
        chrome,
        customer=overview.customer,
        flash=flash,
        test_clock=clock_notice(overview, t, fmt),
        subscriptions=presenters.subscription_cards(overview, t, fmt, merchant_now),
        cards=presenters.payment_method_lines(overview, t, merchant_now),
        invoices=presenters.invoice_rows(overview.invoices, t, fmt),
    )


def clock_notice(overview: PortalOverview, t: Messages, fmt: Formatter) -> Notice | None:
    """Development only: say that this merchant's time is a test clock's, and which."""
    if overview.test_clock is None:
        return None
    text = t.test_clock_notice.format(
        merchant=overview.merchant.name, date=fmt.date(overview.test_clock)
    )
    return Notice("info", text)


def payment_method_html(
    renderer: PageRenderer,
    chrome: Chrome,
    summary: PaymentMethodSummary,
    *,
    errors: Mapping[str, str] | None = None,
    page_error: str | None = None,
    exp_month: str = "",
    exp_year: str = "",
    can_add_card: bool = True,
) -> str:
    """The change-card page. The card number and the CVC are never put back into the form:
    after an error the customer types them again (``exp_month``/``exp_year`` are kept)."""
    return renderer.render(
        "payment_method.html",
        chrome,
        summary=summary,
        errors=dict(errors or {}),
        page_error=page_error,
        exp_month=exp_month,
        exp_year=exp_year,
        can_add_card=can_add_card,
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
