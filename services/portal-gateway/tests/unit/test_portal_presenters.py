"""Unit tests of what the portal says about subscriptions, cards and invoices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from portal_gateway.application.ports import InvoiceView, SubscriptionView
from portal_gateway.portal import presenters
from portal_gateway.portal.formatting import Formatter
from portal_gateway.portal.i18n import messages_for
from portal_gateway.portal.locales import PortalLocale
from portal_gateway.portal.testing import card, demo_data, subscription

NOW = datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
T = messages_for("en")
FMT = Formatter(PortalLocale("en"))


def make(**changes: object) -> SubscriptionView:
    return replace(subscription("sub_1", "cus_1", NOW), **changes)  # type: ignore[arg-type]


def facts(sub: SubscriptionView) -> dict[str, str]:
    card_view = presenters.subscription_card(sub, T, FMT, NOW, "Acme")
    return {fact.label: fact.value for fact in card_view.facts}


def test_an_active_subscription_shows_the_exact_next_charge() -> None:
    sub = make(
        next_renewal_at=datetime(2025, 4, 4, tzinfo=UTC),
        next_renewal_amount=3499,  # e.g. a price change or proration: not the plan amount
    )
    view = presenters.subscription_card(sub, T, FMT, NOW, "Acme")
    assert view.badge == presenters.Badge("Active", "positive")
    assert view.price == "$29.99 per month"
    assert facts(sub)["Next charge"] == "$34.99 on April 4, 2025"
    assert view.can_cancel
    assert view.notice is None


def test_a_yearly_price_says_so() -> None:
    assert presenters.price(make(interval="year"), T, FMT) == "$29.99 per year"


def test_a_scheduled_cancellation_replaces_the_renewal() -> None:
    sub = make(cancel_at=datetime(2025, 4, 4, tzinfo=UTC))
    view = presenters.subscription_card(sub, T, FMT, NOW, "Acme")
    assert view.badge.label == "Ending"
    assert "Next charge" not in facts(sub)
    assert facts(sub)["Ends on"] == "April 4, 2025"
    assert view.notice is not None
    assert "April 4, 2025" in view.notice.text
    assert not view.can_cancel


def test_a_canceled_subscription_shows_when_and_offers_nothing() -> None:
    sub = make(status="canceled", canceled_at=datetime(2025, 3, 1, tzinfo=UTC))
    view = presenters.subscription_card(sub, T, FMT, NOW, "Acme")
    assert view.badge == presenters.Badge("Canceled", "muted")
    assert facts(sub)["Canceled on"] == "March 1, 2025"
    assert "Next charge" not in facts(sub)
    assert not view.can_cancel


def test_on_hold_warns_and_can_still_be_canceled() -> None:
    view = presenters.subscription_card(make(status="on_hold"), T, FMT, NOW, "Acme")
    assert view.badge.tone == "negative"
    assert view.notice is not None
    assert view.notice.tone == "warning"
    assert "Acme" in view.notice.text
    assert view.can_cancel


@pytest.mark.parametrize("status", ["incomplete", "incomplete_expired"])
def test_unstarted_subscriptions_explain_themselves(status: str) -> None:
    view = presenters.subscription_card(make(status=status), T, FMT, NOW, "Acme")
    assert view.notice is not None
    assert not view.can_cancel


def test_the_payment_method_is_shown_as_brand_last4_and_expiry() -> None:
    assert facts(make())["Payment method"] == "Visa ending in 4242 · Expires 12/2030"


@pytest.mark.parametrize(
    ("month", "year", "expiry", "warning"),
    [
        (2, 2025, "Expired 02/2025", None),
        (3, 2025, "Expires 03/2025", "Expires soon"),
        (4, 2025, "Expires 04/2025", "Expires soon"),
        (5, 2025, "Expires 05/2025", None),
    ],
)
def test_cards_near_or_past_expiry_are_flagged(
    month: int, year: int, expiry: str, warning: str | None
) -> None:
    line = presenters.card_line(card(exp_month=month, exp_year=year), T, NOW)
    assert (line.expiry, line.warning) == (expiry, warning)


def test_unknown_card_brands_are_shown_as_given() -> None:
    assert presenters.card_brand_name("amex", T) == "American Express"
    assert presenters.card_brand_name("Elo", T) == "Elo"
    assert presenters.card_brand_name("", T) == "Card"


async def test_what_needs_attention_comes_first() -> None:
    data = demo_data(NOW)
    bob = data.customers[("m_acme", "cus_bob")]
    data.add_subscription("m_acme", replace(make(status="on_hold"), customer_id=bob.customer_id))
    overview = await data.overview("m_acme", "cus_bob")
    assert overview is not None
    cards = presenters.subscription_cards(overview, T, FMT, NOW)
    assert [c.badge.label for c in cards] == ["On hold", "Active", "Canceled"]


def test_invoices_are_listed_newest_first_with_their_plan() -> None:
    older = InvoiceView("in_1", "A-1", NOW - timedelta(days=40), 2999, "USD", "paid", "Pro", None)
    newer = InvoiceView("in_2", "A-2", NOW - timedelta(days=10), 1500, "JPY", "open", None, None)
    rows = presenters.invoice_rows([older, newer], T, FMT)
    assert [row.number for row in rows] == ["A-2", "A-1"]
    assert rows[0].amount == "¥1,500"
    assert rows[0].status == presenters.Badge("Due", "caution")
    assert rows[0].plan == "—"
    assert rows[1].plan == "Pro"
    assert rows[1].date == "Feb 3, 2025"


async def test_payment_methods_include_cards_known_only_from_subscriptions() -> None:
    data = demo_data(NOW)
    overview = await data.overview("m_acme", "cus_bob")
    assert overview is not None
    lines = presenters.payment_method_lines(overview, T, NOW)
    assert [line.label for line in lines] == ["Mastercard ending in 4444"]


def test_cancel_summary_now_or_at_period_end() -> None:
    sub = make()
    now = presenters.cancel_summary(sub, at_period_end=False, t=T, fmt=FMT)
    assert "ends immediately" in now.effect
    later = presenters.cancel_summary(sub, at_period_end=True, t=T, fmt=FMT)
    assert sub.current_period_end is not None
    assert FMT.date(sub.current_period_end) in later.effect


def test_period_end_cancellation_only_for_active_subscriptions_with_a_period() -> None:
    assert presenters.cancels_at_period_end(make(), True)
    assert not presenters.cancels_at_period_end(make(), False)
    assert not presenters.cancels_at_period_end(make(status="on_hold"), True)
    assert not presenters.cancels_at_period_end(make(current_period_end=None), True)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:image/png;base64,AAAA", "/x.png"])
def test_only_http_images_are_shown(url: str) -> None:
    assert presenters.safe_image_url(url) is None
    assert presenters.safe_image_url("https://cdn.example.com/p.png") is not None
