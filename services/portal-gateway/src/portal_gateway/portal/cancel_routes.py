"""Canceling a subscription: reason, then confirmation, then the command.

1. ``GET  /portal/subscriptions/{id}/cancel``: why (a fixed list plus a comment, optional).
2. ``POST /portal/subscriptions/{id}/cancel/review``: what will happen, to confirm.
3. ``POST /portal/subscriptions/{id}/cancel``: sends ``CancelSubscription`` and waits (bounded)
   for the gateway's projection to show the outcome, then redirects to the overview, which
   shows the new state and a notice saying what happened.

Every step loads the subscription through the session's (merchant, customer): an id that is
not the customer's is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from litestar import Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from billing_events.contract.commands import CancelSubscription
from billing_events.topics import stream_id
from portal_gateway.application.ports import CommandOutcome, SubscriptionView
from portal_gateway.domain.outcomes import TIMEOUT_CODE
from portal_gateway.portal import pages, presenters
from portal_gateway.portal.dependencies import (
    CheckedForm,
    Portal,
    PortalDep,
    Visit,
    VisitDep,
    correlation_uuid,
    page,
)
from portal_gateway.portal.errors import PageNotFound
from portal_gateway.portal.pages import MAX_COMMENT, REASONS
from portal_gateway.portal.rendering import PORTAL_PATH
from portal_gateway.portal.sessions import Flash, set_flash

log = structlog.stdlib.get_logger("portal_gateway.portal")


@dataclass(frozen=True)
class CancelForm:
    reason: str | None = None
    comment: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def read_cancel_form(form: FormMultiDict, visit: Visit) -> CancelForm:
    """Validate the reason and comment; keep what was typed so that nothing is lost."""
    raw_reason = form.get("reason")
    raw_comment = form.get("comment")
    reason = raw_reason.strip() if isinstance(raw_reason, str) and raw_reason.strip() else None
    # Browsers submit line breaks as CRLF; count and keep them as one character each.
    comment = raw_comment.replace("\r\n", "\n").strip() if isinstance(raw_comment, str) else ""
    errors: dict[str, str] = {}
    if reason is not None and reason not in REASONS:
        errors["reason"] = visit.t.error_reason_invalid
        reason = None
    if len(comment) > MAX_COMMENT:
        errors["comment"] = visit.t.error_comment_too_long.format(max=MAX_COMMENT)
    return CancelForm(reason=reason, comment=comment, errors=errors)


async def _owned_subscription(
    portal: Portal, visit: Visit, subscription_id: str
) -> SubscriptionView:
    subscription = await portal.queries.subscription(
        visit.merchant_id, visit.customer_id, subscription_id
    )
    if subscription is None:
        raise PageNotFound(visit.context())
    return subscription


def _see_overview() -> Redirect:
    return Redirect(PORTAL_PATH, status_code=HTTP_303_SEE_OTHER)


async def _not_cancelable(portal: Portal, visit: Visit, subscription: SubscriptionView) -> Redirect:
    key = (
        "notice_already_canceled"
        if subscription.status == "canceled" or subscription.cancel_at is not None
        else "notice_not_cancelable"
    )
    await set_flash(portal.pool, visit.session, Flash("info", key))
    return _see_overview()


def _reason_page(
    portal: Portal,
    visit: Visit,
    subscription: SubscriptionView,
    form: CancelForm,
    *,
    status_code: int = 200,
) -> Response[str]:
    path = f"{PORTAL_PATH}/subscriptions/{subscription.subscription_id}/cancel"
    html = pages.cancel_reason_html(
        portal.renderer,
        visit.chrome(portal.renderer, current_path=path),
        _summary(portal, visit, subscription),
        selected_reason=form.reason,
        comment=form.comment,
        errors=form.errors,
    )
    return page(html, status_code)


def _at_period_end(portal: Portal, subscription: SubscriptionView) -> bool:
    return presenters.cancels_at_period_end(subscription, portal.settings.cancel_at_period_end)


def _summary(
    portal: Portal, visit: Visit, subscription: SubscriptionView
) -> presenters.CancelSummary:
    return presenters.cancel_summary(
        subscription, at_period_end=_at_period_end(portal, subscription), t=visit.t, fmt=visit.fmt
    )


@get("/subscriptions/{subscription_id:str}/cancel", name="portal:cancel")
async def cancel_reason_page(
    portal: PortalDep, visit: VisitDep, subscription_id: FromPath[str]
) -> Response[str]:
    subscription = await _owned_subscription(portal, visit, subscription_id)
    if not presenters.is_cancelable(subscription):
        return await _not_cancelable(portal, visit, subscription)
    return _reason_page(portal, visit, subscription, CancelForm())


@post("/subscriptions/{subscription_id:str}/cancel/review", name="portal:cancel-review")
async def cancel_review(
    portal: PortalDep, visit: VisitDep, form: CheckedForm, subscription_id: FromPath[str]
) -> Response[str]:
    subscription = await _owned_subscription(portal, visit, subscription_id)
    if not presenters.is_cancelable(subscription):
        return await _not_cancelable(portal, visit, subscription)
    answers = read_cancel_form(form, visit)
    if answers.errors:
        return _reason_page(
            portal, visit, subscription, answers, status_code=HTTP_422_UNPROCESSABLE_ENTITY
        )
    if form.get("step") == "edit":  # "Back" from the confirmation keeps the answers
        return _reason_page(portal, visit, subscription, answers)
    path = f"{PORTAL_PATH}/subscriptions/{subscription.subscription_id}/cancel"
    html = pages.cancel_confirm_html(
        portal.renderer,
        visit.chrome(portal.renderer, current_path=path),
        _summary(portal, visit, subscription),
        reason=answers.reason,
        comment=answers.comment,
    )
    return page(html)


@post("/subscriptions/{subscription_id:str}/cancel", name="portal:cancel-submit")
async def cancel_submit(
    portal: PortalDep, visit: VisitDep, form: CheckedForm, subscription_id: FromPath[str]
) -> Response[str]:
    subscription = await _owned_subscription(portal, visit, subscription_id)
    if not presenters.is_cancelable(subscription):
        return await _not_cancelable(portal, visit, subscription)
    answers = read_cancel_form(form, visit)
    if answers.errors:  # only a tampered confirmation form gets here
        return _reason_page(
            portal, visit, subscription, answers, status_code=HTTP_422_UNPROCESSABLE_ENTITY
        )
    command = CancelSubscription(
        subscription_id=subscription.subscription_id,
        at_period_end=_at_period_end(portal, subscription),
        reason=answers.reason,  # checked against REASONS above
        comment=answers.comment or None,
    )
    try:
        outcome = await portal.commands.send(
            command,
            stream_id=stream_id("subscription", subscription.subscription_id),
            merchant_id=visit.merchant_id,
            correlation_id=correlation_uuid(),
            timeout=portal.settings.command_timeout,
        )
    except Exception:
        # Nothing is known to have been sent: say so, and let the customer try again.
        log.exception("portal.cancel_send_failed", subscription_id=subscription_id)
        await set_flash(portal.pool, visit.session, Flash("error", "notice_unavailable"))
        return _see_overview()
    flash = await _outcome_notice(portal, visit, subscription, outcome)
    await set_flash(portal.pool, visit.session, flash)
    return _see_overview()


async def _outcome_notice(
    portal: Portal, visit: Visit, before: SubscriptionView, outcome: CommandOutcome
) -> Flash:
    log.info(
        "portal.cancel_outcome",
        subscription_id=before.subscription_id,
        command_id=str(outcome.command_id),
        accepted=outcome.accepted,
        code=outcome.code,
        reason_message=outcome.message,
    )
    if not outcome.accepted and outcome.code == TIMEOUT_CODE:
        return Flash("warning", "notice_cancel_pending")
    after = await portal.queries.subscription(
        visit.merchant_id, visit.customer_id, before.subscription_id
    )
    plan = {"plan": before.plan_name}
    if outcome.accepted:
        if after is not None and after.status == "canceled":
            return Flash("success", "notice_canceled", plan)
        if after is not None and after.cancel_at is not None:
            return Flash(
                "success", "notice_cancel_scheduled", {**plan, "date": after.cancel_at.isoformat()}
            )
        return Flash("warning", "notice_cancel_pending")
    # Refused. A double submit loses the race to its twin: that is not the customer's problem.
    if after is not None and (after.status == "canceled" or after.cancel_at is not None):
        return Flash("info", "notice_already_canceled")
    return Flash("error", "notice_cancel_rejected")
