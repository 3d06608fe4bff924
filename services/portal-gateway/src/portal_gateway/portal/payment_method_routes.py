"""Changing the card a subscription is charged to: choose a saved card, or add a new one.

1. ``GET  /portal/subscriptions/{id}/payment_method``: the current card, the customer's saved
   cards, and a form for a new card.
2. ``POST /portal/subscriptions/{id}/payment_method`` with ``source=saved`` (and
   ``payment_method``) or ``source=new`` (and ``card_number``, ``exp_month``, ``exp_year``,
   ``cvc``). A new card is tokenized by the payment processor, attached to the customer, then
   chosen for the subscription (see ``application.payment_methods``); each command waits
   (bounded) for the projection to show its outcome. Success redirects to the overview, which
   already shows the new card; a refused card re-renders this page with the reason.

The card number and CVC live in the request's form and in a :class:`~payments.CardInput`
only: they are not logged, not stored, not put in a command, and never written back into the
page (after an error the customer types them again; the expiry is kept).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import structlog
from litestar import Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from payments import CardInput
from portal_gateway.application.payment_methods import (
    CardRefused,
    CardUpdated,
    ChangeOutcome,
    ChangePending,
    ChangeRejected,
)
from portal_gateway.application.ports import SubscriptionView
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
from portal_gateway.portal.i18n import Messages
from portal_gateway.portal.rendering import PORTAL_PATH
from portal_gateway.portal.sessions import Flash, set_flash

log = structlog.stdlib.get_logger("portal_gateway.portal")

# Longest input accepted before anything else is looked at: 19 digits plus separators.
MAX_NUMBER_INPUT = 32
MAX_SHORT_INPUT = 8


@dataclass(frozen=True)
class PageState:
    """What the page shows besides the read model: errors, and the expiry typed so far."""

    errors: dict[str, str] = field(default_factory=dict)
    page_error: str | None = None
    exp_month: str = ""
    exp_year: str = ""
    selected: str | None = None


def _text(form: FormMultiDict, name: str, limit: int) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True)
class NewCardForm:
    card: CardInput | None  # None when a field is unusable (see ``state.errors``)
    state: PageState


def read_new_card(form: FormMultiDict, t: Messages) -> NewCardForm:
    """The typed card, or the field errors the processor need not be asked about."""
    number = _text(form, "card_number", MAX_NUMBER_INPUT)
    cvc = _text(form, "cvc", MAX_SHORT_INPUT)
    month_text = _text(form, "exp_month", MAX_SHORT_INPUT)
    year_text = _text(form, "exp_year", MAX_SHORT_INPUT)
    errors: dict[str, str] = {}
    if not number:
        errors["number"] = t.error_card_number
    if not cvc:
        errors["cvc"] = t.error_card_cvc
    month = int(month_text) if month_text.isdigit() else None
    year = int(year_text) if year_text.isdigit() else None
    if month is None:
        errors["expiry"] = t.error_card_exp_month
    elif year is None:
        errors["expiry"] = t.error_card_exp_year
    if errors or month is None or year is None:
        if "number" not in errors or "cvc" not in errors:
            errors.setdefault("card", t.error_card_reenter)
        state = PageState(errors=errors, exp_month=month_text, exp_year=year_text)
        return NewCardForm(None, state)
    # Spaces and hyphens as printed on cards are fine; the processor validates the rest.
    digits = number.replace(" ", "").replace("-", "")
    card = CardInput(number=digits, exp_month=month, exp_year=year, cvc=cvc)
    return NewCardForm(card, PageState(exp_month=month_text, exp_year=year_text))


# The processor's card error codes (payments.CardError), by the form field they concern.
_CARD_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_number": ("number", "error_card_number"),
    "incorrect_number": ("number", "error_card_number"),
    "invalid_expiry_month": ("expiry", "error_card_exp_month"),
    "invalid_expiry_year": ("expiry", "error_card_exp_year"),
    "expired_card": ("expiry", "error_card_expired"),
    "invalid_cvc": ("cvc", "error_card_cvc"),
    "incorrect_cvc": ("cvc", "error_card_cvc_incorrect"),
    "processing_error": ("card", "error_card_processing"),
}


def card_refusal_errors(code: str, t: Messages) -> dict[str, str]:
    """Field errors for a card the processor refused; unknown codes read as a decline."""
    where, message = _CARD_ERRORS.get(code, ("card", "error_card_declined"))
    errors = {where: getattr(t, message)}
    if where != "card":
        errors["card"] = t.error_card_reenter
    return errors


async def _owned_subscription(
    portal: Portal, visit: Visit, subscription_id: str
) -> SubscriptionView:
    subscription = await portal.queries.subscription(
        visit.merchant_id, visit.customer_id, subscription_id
    )
    if subscription is None:
        raise PageNotFound(visit.context())
    return subscription


def _path(subscription_id: str) -> str:
    return f"{PORTAL_PATH}/subscriptions/{subscription_id}/payment_method"


def _see_overview() -> Redirect:
    return Redirect(PORTAL_PATH, status_code=HTTP_303_SEE_OTHER)


async def _back_to_overview(portal: Portal, visit: Visit, flash: Flash) -> Redirect:
    await set_flash(portal.pool, visit.session, flash)
    return _see_overview()


async def _render(
    portal: Portal,
    visit: Visit,
    subscription: SubscriptionView,
    state: PageState,
    *,
    status_code: int = 200,
) -> Response[str]:
    # Read again: a card attached on the way (then refused for the subscription) is listed.
    overview = await portal.queries.overview(visit.merchant_id, visit.customer_id)
    summary = presenters.payment_method_summary(
        overview or visit.overview,
        subscription,
        visit.t,
        visit.fmt,
        visit.merchant_now,
        selected=state.selected,
    )
    html = pages.payment_method_html(
        portal.renderer,
        visit.chrome(portal.renderer, current_path=_path(subscription.subscription_id)),
        summary,
        errors=state.errors,
        page_error=state.page_error,
        exp_month=state.exp_month,
        exp_year=state.exp_year,
        can_add_card=portal.card_changes.can_add_cards,
    )
    return page(html, status_code)


@get("/subscriptions/{subscription_id:str}/payment_method", name="portal:payment-method")
async def payment_method_page(
    portal: PortalDep, visit: VisitDep, subscription_id: FromPath[str]
) -> Response[str]:
    subscription = await _owned_subscription(portal, visit, subscription_id)
    if not presenters.can_change_card(subscription):
        return await _back_to_overview(
            portal, visit, Flash("info", "notice_card_subscription_ended")
        )
    return await _render(portal, visit, subscription, PageState())


@post("/subscriptions/{subscription_id:str}/payment_method", name="portal:payment-method-submit")
async def payment_method_submit(
    portal: PortalDep, visit: VisitDep, form: CheckedForm, subscription_id: FromPath[str]
) -> Response[str]:
    subscription = await _owned_subscription(portal, visit, subscription_id)
    if not presenters.can_change_card(subscription):
        return await _back_to_overview(
            portal, visit, Flash("info", "notice_card_subscription_ended")
        )
    if form.get("source") == "new":
        new_card = read_new_card(form, visit.t)
        if new_card.card is None:
            return await _render(
                portal,
                visit,
                subscription,
                new_card.state,
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        state, source = new_card.state, "new"
        send = functools.partial(
            portal.card_changes.add_and_use_card,
            merchant_id=visit.merchant_id,
            customer_id=visit.customer_id,
            subscription_id=subscription.subscription_id,
            card=new_card.card,
        )
    else:
        chosen = _text(form, "payment_method", 300)
        card = presenters.find_customer_card(visit.overview, chosen) if chosen else None
        if card is None:
            state = PageState(errors={"saved": visit.t.error_choose_card})
            return await _render(
                portal, visit, subscription, state, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        if presenters.card_expired(card, visit.merchant_now):
            state = PageState(errors={"saved": visit.t.error_saved_card_expired})
            return await _render(
                portal, visit, subscription, state, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        current = subscription.payment_method
        unchanged = current is not None and current.payment_method_id == card.payment_method_id
        # On hold, choosing the same card again retries the overdue charge: let it through.
        if unchanged and subscription.status != "on_hold":
            flash = Flash("info", "notice_card_unchanged", {"plan": subscription.plan_name})
            return await _back_to_overview(portal, visit, flash)
        state, source = PageState(selected=card.payment_method_id), "saved"
        send = functools.partial(
            portal.card_changes.use_saved_card,
            merchant_id=visit.merchant_id,
            subscription_id=subscription.subscription_id,
            card=card,
        )
    try:
        outcome = await send(correlation_id=correlation_uuid())
    except Exception:
        # Nothing is known to have changed: say so, and let the customer try again.
        log.exception("portal.card_change_failed", subscription_id=subscription_id)
        unavailable = PageState(page_error=visit.t.notice_unavailable)
        return await _render(
            portal, visit, subscription, unavailable, status_code=HTTP_503_SERVICE_UNAVAILABLE
        )
    return await _answer(portal, visit, subscription, outcome, state, source)


async def _answer(
    portal: Portal,
    visit: Visit,
    subscription: SubscriptionView,
    outcome: ChangeOutcome,
    state: PageState,
    source: str,
) -> Response[str]:
    t = visit.t
    plan = {"plan": subscription.plan_name}
    log.info(
        "portal.card_change_outcome",
        subscription_id=subscription.subscription_id,
        source=source,
        outcome=type(outcome).__name__,
        code=getattr(outcome, "code", None),
    )
    field_name = "card" if source == "new" else "saved"
    match outcome:
        case CardUpdated(card=card):
            brand = presenters.card_brand_name(card.brand, t)
            flash = Flash(
                "success", "notice_card_updated", {**plan, "brand": brand, "last4": card.last4}
            )
            return await _back_to_overview(portal, visit, flash)
        case CardRefused(code=code):
            errors = card_refusal_errors(code, t)
            failed = PageState(errors=errors, exp_month=state.exp_month, exp_year=state.exp_year)
            return await _render(
                portal, visit, subscription, failed, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        case ChangePending():
            return await _back_to_overview(portal, visit, Flash("warning", "notice_card_pending"))
        case ChangeRejected(code="payment_method_unchanged"):
            return await _back_to_overview(
                portal, visit, Flash("info", "notice_card_unchanged", plan)
            )
        case ChangeRejected(code="subscription_ended"):
            return await _back_to_overview(
                portal, visit, Flash("info", "notice_card_subscription_ended")
            )
        case ChangeRejected(code=code):
            message = {
                "payment_method_expired": (
                    t.error_card_expired if source == "new" else t.error_saved_card_expired
                ),
                "payment_method_not_found": t.error_saved_card_missing,
            }.get(code)
            if message is not None:
                failed = PageState(
                    errors={field_name: message}, exp_month=state.exp_month, exp_year=state.exp_year
                )
            else:
                failed = PageState(
                    page_error=t.error_card_change_rejected.format(
                        merchant=visit.overview.merchant.name
                    ),
                    exp_month=state.exp_month,
                    exp_year=state.exp_year,
                )
            return await _render(
                portal, visit, subscription, failed, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
    raise AssertionError(f"unhandled outcome {outcome!r}")
