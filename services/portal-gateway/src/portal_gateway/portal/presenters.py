"""What each part of a portal page says, decided from the read models; no HTML here.

The templates only lay these out. Keeping the decisions (which notice for which status, what
the next charge is, whether a card is about to expire, what canceling will do) in plain
functions makes every one of them testable in every language without rendering a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal_gateway.application.ports import (
    CardView,
    InvoiceView,
    PortalOverview,
    SubscriptionView,
)
from portal_gateway.portal.formatting import Formatter, as_utc
from portal_gateway.portal.i18n import Messages

CANCELABLE_STATUSES = frozenset({"active", "on_hold"})
# A customer may switch the card of a live subscription; on hold it is how the arrears get paid.
CARD_CHANGE_STATUSES = frozenset({"active", "on_hold"})
# Badge colors in portal.css, by meaning rather than by status name.
_TONES = {
    "active": "positive",
    "ending": "caution",
    "on_hold": "negative",
    "incomplete": "neutral",
    "incomplete_expired": "muted",
    "canceled": "muted",
    "paid": "positive",
    "open": "caution",
    "uncollectible": "negative",
    "void": "muted",
    "draft": "neutral",
}
_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "american_express": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "maestro": "Maestro",
}


def is_cancelable(subscription: SubscriptionView) -> bool:
    return subscription.status in CANCELABLE_STATUSES and subscription.cancel_at is None


def can_change_card(subscription: SubscriptionView) -> bool:
    return subscription.status in CARD_CHANGE_STATUSES


def cancels_at_period_end(
    subscription: SubscriptionView, merchant_prefers_period_end: bool
) -> bool:
    """Whether a cancellation now would wait for the period to end.

    Only an active subscription with a known period can run to its end; one on hold is not
    being paid for, so canceling it takes effect at once whatever the merchant prefers.
    """
    return (
        merchant_prefers_period_end
        and subscription.status == "active"
        and subscription.current_period_end is not None
    )


def card_brand_name(brand: str, t: Messages) -> str:
    return _BRANDS.get(brand.strip().lower().replace(" ", "_"), brand.strip() or t.card_generic)


@dataclass(frozen=True)
class Badge:
    label: str
    tone: str  # positive | caution | negative | neutral | muted


@dataclass(frozen=True)
class Fact:
    """One labelled line of a subscription card (a ``<dt>``/``<dd>`` pair)."""

    label: str
    value: str
    datetime_iso: str | None = None


@dataclass(frozen=True)
class Notice:
    tone: str  # info | warning | error | success
    text: str


@dataclass(frozen=True)
class CardLine:
    payment_method_id: str
    label: str  # "Visa ending in 4242"
    expiry: str  # "Expires 12/2030"
    warning: str | None  # "Expires soon", or None


@dataclass(frozen=True)
class SubscriptionCard:
    subscription_id: str
    plan_name: str
    description: str
    image_url: str | None
    price: str
    badge: Badge
    facts: tuple[Fact, ...]
    notice: Notice | None
    can_cancel: bool
    can_change_card: bool = False


@dataclass(frozen=True)
class InvoiceRow:
    invoice_id: str
    date: str
    date_iso: str
    number: str
    amount: str
    status: Badge
    plan: str


@dataclass(frozen=True)
class CancelSummary:
    subscription_id: str
    plan_name: str
    price: str
    at_period_end: bool
    effect: str  # what happens, in one sentence
    no_charge: str


def price(subscription: SubscriptionView, t: Messages, fmt: Formatter) -> str:
    amount = fmt.money(subscription.amount, subscription.currency)
    template = t.price_year if subscription.interval == "year" else t.price_month
    return template.format(amount=amount)


def _months_until(year: int, month: int, now: datetime) -> int:
    return (year - now.year) * 12 + (month - now.month)


def card_expired(card: CardView, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month (the subscriptions service's
    rule, applied at the merchant's time)."""
    return _months_until(card.exp_year, card.exp_month, as_utc(now)) < 0


def card_line(card: CardView, t: Messages, now: datetime) -> CardLine:
    expiry = f"{card.exp_month:02d}/{card.exp_year}"
    months_left = _months_until(card.exp_year, card.exp_month, as_utc(now))
    expired = card_expired(card, now)
    return CardLine(
        payment_method_id=card.payment_method_id,
        label=t.card_ending.format(brand=card_brand_name(card.brand, t), last4=card.last4),
        expiry=(t.card_expired if expired else t.card_expires).format(expiry=expiry),
        warning=t.card_expiring_soon if 0 <= months_left <= 1 else None,
    )


def _badge(subscription: SubscriptionView, t: Messages) -> Badge:
    if subscription.status == "active" and subscription.cancel_at is not None:
        return Badge(t.status_ending, _TONES["ending"])
    return Badge(
        t.subscription_status(subscription.status), _TONES.get(subscription.status, "neutral")
    )


def _facts(
    subscription: SubscriptionView, t: Messages, fmt: Formatter, now: datetime
) -> list[Fact]:
    facts: list[Fact] = []
    renews = (
        subscription.status == "active"
        and subscription.cancel_at is None
        and subscription.next_renewal_at is not None
    )
    if renews and subscription.next_renewal_at is not None:
        amount = (
            subscription.next_renewal_amount
            if subscription.next_renewal_amount is not None
            else subscription.amount
        )
        facts.append(
            Fact(
                t.next_charge_label,
                t.next_charge_value.format(
                    amount=fmt.money(amount, subscription.currency),
                    date=fmt.date(subscription.next_renewal_at),
                ),
            )
        )
    if subscription.cancel_at is not None and subscription.status != "canceled":
        facts.append(
            Fact(t.ends_on_label, fmt.date(subscription.cancel_at), fmt.iso(subscription.cancel_at))
        )
    if subscription.status == "canceled" and subscription.canceled_at is not None:
        facts.append(
            Fact(
                t.canceled_on_label,
                fmt.date(subscription.canceled_at),
                fmt.iso(subscription.canceled_at),
            )
        )
    start, end = subscription.current_period_start, subscription.current_period_end
    if subscription.status in CANCELABLE_STATUSES and start is not None and end is not None:
        facts.append(
            Fact(
                t.current_period_label,
                t.period_range.format(start=fmt.date(start), end=fmt.date(end)),
            )
        )
    if subscription.payment_method is not None and subscription.status != "canceled":
        card = card_line(subscription.payment_method, t, now)
        facts.append(Fact(t.payment_method_label, f"{card.label} · {card.expiry}"))
    return facts


def _notice(
    subscription: SubscriptionView, t: Messages, fmt: Formatter, merchant: str
) -> Notice | None:
    status = subscription.status
    if status == "active" and subscription.cancel_at is not None:
        return Notice("info", t.ends_on_notice.format(date=fmt.date(subscription.cancel_at)))
    if status == "on_hold":
        return Notice("warning", t.on_hold_notice.format(merchant=merchant))
    if status == "incomplete":
        return Notice("info", t.incomplete_notice)
    if status == "incomplete_expired":
        return Notice("info", t.incomplete_expired_notice)
    if status == "canceled":
        when = subscription.canceled_at
        return Notice("info", t.canceled_notice.format(date=fmt.date(when))) if when else None
    return None


def subscription_card(
    subscription: SubscriptionView, t: Messages, fmt: Formatter, now: datetime, merchant: str
) -> SubscriptionCard:
    return SubscriptionCard(
        subscription_id=subscription.subscription_id,
        plan_name=subscription.plan_name,
        description=subscription.plan_description,
        image_url=safe_image_url(subscription.plan_image_url),
        price=price(subscription, t, fmt),
        badge=_badge(subscription, t),
        facts=tuple(_facts(subscription, t, fmt, now)),
        notice=_notice(subscription, t, fmt, merchant),
        can_cancel=is_cancelable(subscription),
        can_change_card=can_change_card(subscription),
    )


def _status_order(subscription: SubscriptionView) -> int:
    # What needs attention or is current comes first; history last.
    order = {"on_hold": 0, "active": 1, "incomplete": 2, "incomplete_expired": 4, "canceled": 5}
    return order.get(subscription.status, 3)


def subscription_cards(
    overview: PortalOverview, t: Messages, fmt: Formatter, now: datetime
) -> list[SubscriptionCard]:
    ordered = sorted(overview.subscriptions, key=_status_order)
    return [subscription_card(s, t, fmt, now, overview.merchant.name) for s in ordered]


def invoice_rows(invoices: list[InvoiceView], t: Messages, fmt: Formatter) -> list[InvoiceRow]:
    newest_first = sorted(invoices, key=lambda invoice: invoice.issued_at, reverse=True)
    return [
        InvoiceRow(
            invoice_id=invoice.invoice_id,
            date=fmt.short_date(invoice.issued_at),
            date_iso=fmt.iso(invoice.issued_at),
            number=invoice.number,
            amount=fmt.money(invoice.amount, invoice.currency),
            status=Badge(t.invoice_status(invoice.status), _TONES.get(invoice.status, "neutral")),
            plan=invoice.plan_name or "—",
        )
        for invoice in newest_first
    ]


def customer_cards(overview: PortalOverview) -> list[CardView]:
    """The customer's cards, newest first; those known only through a subscription count too."""
    cards: dict[str, CardView] = {card.payment_method_id: card for card in overview.payment_methods}
    for subscription in overview.subscriptions:
        card = subscription.payment_method
        if card is not None and subscription.status != "canceled":
            cards.setdefault(card.payment_method_id, card)
    return list(cards.values())


def payment_method_lines(overview: PortalOverview, t: Messages, now: datetime) -> list[CardLine]:
    return [card_line(card, t, now) for card in customer_cards(overview)]


@dataclass(frozen=True)
class CardChoice:
    """A saved card offered for a subscription: expired cards are shown but cannot be chosen."""

    payment_method_id: str
    label: str
    expiry: str
    current: bool
    expired: bool


@dataclass(frozen=True)
class PaymentMethodSummary:
    subscription_id: str
    plan_name: str
    price: str
    current: CardLine | None
    choices: tuple[CardChoice, ...]
    # Which saved card the form starts with: the current one, or the one just chosen.
    selected: str | None


def find_customer_card(overview: PortalOverview, payment_method_id: str) -> CardView | None:
    return next(
        (c for c in customer_cards(overview) if c.payment_method_id == payment_method_id), None
    )


def payment_method_summary(
    overview: PortalOverview,
    subscription: SubscriptionView,
    t: Messages,
    fmt: Formatter,
    now: datetime,
    *,
    selected: str | None = None,
) -> PaymentMethodSummary:
    current = subscription.payment_method
    current_id = current.payment_method_id if current is not None else None
    cards = customer_cards(overview)
    # The card in use first, then the others newest first.
    cards.sort(key=lambda card: card.payment_method_id != current_id)
    choices = tuple(
        CardChoice(
            payment_method_id=card.payment_method_id,
            label=(line := card_line(card, t, now)).label,
            expiry=line.expiry,
            current=card.payment_method_id == current_id,
            expired=card_expired(card, now),
        )
        for card in cards
    )
    return PaymentMethodSummary(
        subscription_id=subscription.subscription_id,
        plan_name=subscription.plan_name,
        price=price(subscription, t, fmt),
        current=card_line(current, t, now) if current is not None else None,
        choices=choices,
        selected=selected or current_id,
    )


def cancel_summary(
    subscription: SubscriptionView,
    *,
    at_period_end: bool,
    t: Messages,
    fmt: Formatter,
) -> CancelSummary:
    if at_period_end and subscription.current_period_end is not None:
        effect = t.confirm_period_end_summary.format(
            plan=subscription.plan_name, date=fmt.date(subscription.current_period_end)
        )
    else:
        effect = t.confirm_now_summary.format(plan=subscription.plan_name)
    return CancelSummary(
        subscription_id=subscription.subscription_id,
        plan_name=subscription.plan_name,
        price=price(subscription, t, fmt),
        at_period_end=at_period_end,
        effect=effect,
        no_charge=t.confirm_no_charge,
    )


def safe_image_url(url: str | None) -> str | None:
    """Only http(s) images: the CSP would block anything else, and ``javascript:`` or
    ``data:`` URLs from a merchant's plan data have no business in an ``src``."""
    if url and url.lower().startswith(("https://", "http://")) and len(url) <= 2000:
        return url
    return None
