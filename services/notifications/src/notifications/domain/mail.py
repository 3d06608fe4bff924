"""Which mail an event calls for, and what that mail says once its facts are known.

An event names the mail (:func:`mail_for`); the application loads the projected facts the
mail needs (:meth:`MailTrigger.needs`) and :func:`compose` either writes the mail's content,
formatted for the customer's locale, or says which facts are still missing. Facts arrive on
other topics than the event that asks for the mail (a receipt's customer comes from the
customers topic), so "not yet" is a normal answer, not an error: the mail waits for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from babel.dates import format_date, format_interval

from billing_events.contract.events import (
    CancellationScheduled,
    InvoicePaid,
    SubscriptionCanceled,
)
from billing_events.envelope import EventData
from notifications.domain.brand import Brand, brand_of
from notifications.domain.locale import MailLocale, resolve_locale
from notifications.domain.money import format_money
from notifications.domain.projection import (
    CustomerProfile,
    InvoiceRecord,
    MerchantProfile,
    SubscriptionRecord,
)


class MailKind(StrEnum):
    """A kind of mail; also the name of its templates and part of the sent-mail log's key."""

    RECEIPT = "receipt"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    CANCELLATION_SCHEDULED = "cancellation_scheduled"


MailEvent = InvoicePaid | SubscriptionCanceled | CancellationScheduled


@dataclass(frozen=True)
class Needs:
    """The projected records a mail is written from; None where the mail does not need one or
    its id is not known yet (a scheduled cancellation's customer comes from its subscription)."""

    merchant_id: str
    customer_id: str | None = None
    invoice_id: str | None = None
    subscription_id: str | None = None


@dataclass(frozen=True)
class MailTrigger:
    kind: MailKind
    merchant_id: str
    event: MailEvent

    def needs(self) -> Needs:
        event = self.event
        if isinstance(event, InvoicePaid):
            return Needs(
                self.merchant_id,
                customer_id=event.customer_id,
                invoice_id=event.invoice_id,
                subscription_id=event.subscription_id,
            )
        if isinstance(event, SubscriptionCanceled):
            return Needs(
                self.merchant_id,
                customer_id=event.customer_id,
                subscription_id=event.subscription_id,
            )
        return Needs(self.merchant_id, subscription_id=event.subscription_id)


def mail_for(data: EventData, merchant_id: str) -> MailTrigger | None:
    """The mail ``data`` calls for, if any."""
    if isinstance(data, InvoicePaid):
        return MailTrigger(MailKind.RECEIPT, merchant_id, data)
    if isinstance(data, SubscriptionCanceled):
        return MailTrigger(MailKind.SUBSCRIPTION_CANCELED, merchant_id, data)
    if isinstance(data, CancellationScheduled):
        return MailTrigger(MailKind.CANCELLATION_SCHEDULED, merchant_id, data)
    return None


@dataclass(frozen=True)
class Facts:
    """What the projection knows of the records a mail needs."""

    merchant: MerchantProfile | None = None
    customer: CustomerProfile | None = None
    invoice: InvoiceRecord | None = None
    subscription: SubscriptionRecord | None = None


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str


@dataclass(frozen=True)
class ReceiptLine:
    description: str
    quantity: int
    amount: str
    period: str | None


@dataclass(frozen=True)
class ReceiptContent:
    customer_name: str
    invoice_number: str
    paid_on: str
    amount_paid: str
    total: str
    plan_name: str | None
    period: str | None
    lines: tuple[ReceiptLine, ...]


@dataclass(frozen=True)
class CancellationContent:
    customer_name: str
    plan_name: str
    canceled_on: str
    ended_at_period_end: bool
    reason: str | None
    comment: str | None


@dataclass(frozen=True)
class ScheduledCancellationContent:
    customer_name: str
    plan_name: str
    ends_on: str
    reason: str | None
    comment: str | None


MailContent = ReceiptContent | CancellationContent | ScheduledCancellationContent


@dataclass(frozen=True)
class MailRequest:
    """A mail ready to be rendered: who, in which locale, under whose brand, saying what.

    Money and dates in ``content`` are already formatted for ``locale``; the templates only
    translate sentences around them.
    """

    kind: MailKind
    locale: MailLocale
    recipient: Recipient
    brand: Brand
    content: MailContent


@dataclass(frozen=True)
class Waiting:
    """The mail cannot be written yet: ``missing`` names the records still to be projected."""

    missing: tuple[str, ...]
    needs: Needs


def compose(trigger: MailTrigger, facts: Facts) -> MailRequest | Waiting:
    """Write the mail ``trigger`` asks for from ``facts``, or say what is still missing."""
    needs = _resolved_needs(trigger, facts)
    missing = _missing(trigger, needs, facts)
    if missing:
        return Waiting(missing, needs)
    # _missing guarantees these; the asserts narrow the types for the checker.
    assert facts.merchant is not None
    assert facts.customer is not None
    locale = resolve_locale(facts.customer.locale)
    content = _content(trigger.event, facts, locale.formatting)
    return MailRequest(
        kind=trigger.kind,
        locale=locale,
        recipient=Recipient(email=facts.customer.email, name=facts.customer.name),
        brand=brand_of(facts.merchant),
        content=content,
    )


def _resolved_needs(trigger: MailTrigger, facts: Facts) -> Needs:
    needs = trigger.needs()
    if needs.customer_id is None and facts.subscription is not None:
        return Needs(
            needs.merchant_id,
            customer_id=facts.subscription.customer_id,
            invoice_id=needs.invoice_id,
            subscription_id=needs.subscription_id,
        )
    return needs


def _missing(trigger: MailTrigger, needs: Needs, facts: Facts) -> tuple[str, ...]:
    missing: list[str] = []
    if facts.merchant is None:
        missing.append(f"merchant {needs.merchant_id}")
    # An unknown customer id means the subscription naming the customer is missing (below).
    if facts.customer is None and needs.customer_id is not None:
        missing.append(f"customer {needs.customer_id}")
    if trigger.kind is MailKind.RECEIPT:
        if facts.invoice is None:
            missing.append(f"invoice {needs.invoice_id}")
        elif (
            facts.invoice.plan_name is None
            and facts.invoice.subscription_id is not None
            and facts.subscription is None
        ):
            # Only the subscription can name the plan the receipt is for.
            missing.append(f"subscription {facts.invoice.subscription_id}")
    elif facts.subscription is None:
        missing.append(f"subscription {needs.subscription_id}")
    return tuple(missing)


def _content(event: MailEvent, facts: Facts, locale: str) -> MailContent:
    assert facts.customer is not None
    name = facts.customer.name
    if isinstance(event, InvoicePaid):
        assert facts.invoice is not None
        return _receipt(event, facts.invoice, facts.subscription, name, locale)
    assert facts.subscription is not None
    plan = facts.subscription.plan_name
    if isinstance(event, SubscriptionCanceled):
        return CancellationContent(
            customer_name=name,
            plan_name=plan,
            canceled_on=format_day(event.canceled_at, locale),
            ended_at_period_end=event.at_period_end,
            reason=event.reason,
            comment=event.comment or None,
        )
    return ScheduledCancellationContent(
        customer_name=name,
        plan_name=plan,
        ends_on=format_day(event.cancel_at, locale),
        reason=event.reason,
        comment=event.comment or None,
    )


def _receipt(
    event: InvoicePaid,
    invoice: InvoiceRecord,
    subscription: SubscriptionRecord | None,
    customer_name: str,
    locale: str,
) -> ReceiptContent:
    plan_name = invoice.plan_name or (subscription.plan_name if subscription else None)
    return ReceiptContent(
        customer_name=customer_name,
        invoice_number=invoice.number,
        paid_on=format_day(event.paid_at, locale),
        amount_paid=format_money(event.amount_paid, event.currency, locale),
        total=format_money(invoice.amount_due, invoice.currency, locale),
        plan_name=plan_name,
        period=format_period(invoice.period_start, invoice.period_end, locale),
        lines=tuple(
            ReceiptLine(
                description=line.description,
                quantity=line.quantity,
                amount=format_money(line.amount, invoice.currency, locale),
                period=format_period(line.period_start, line.period_end, locale),
            )
            for line in invoice.lines
        ),
    )


def utc_day(moment: datetime) -> date:
    """The calendar day of ``moment`` in UTC, the time zone every billing date is kept in."""
    return moment.astimezone(UTC).date()


def format_day(moment: datetime, locale: str) -> str:
    return format_date(utc_day(moment), format="long", locale=locale)


def format_period(start: datetime | None, end: datetime | None, locale: str) -> str | None:
    """The locale's own way of writing a date range (``5 ene - 5 feb 2025`` in Spanish)."""
    if start is None or end is None:
        return None
    return format_interval(utc_day(start), utc_day(end), skeleton="yMMMd", locale=locale)
