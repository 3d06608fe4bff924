"""Which mail an event calls for, and when its facts suffice to write it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationRevoked,
    CancellationScheduled,
    ChargeSucceeded,
    CustomerRegistered,
    InvoicePaid,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionCreated,
)
from notifications.domain.locale import MailLocale
from notifications.domain.mail import (
    CancellationContent,
    Facts,
    MailKind,
    MailRequest,
    Needs,
    ReceiptContent,
    ScheduledCancellationContent,
    Waiting,
    compose,
    mail_for,
)

PAID_AT = datetime(2025, 1, 5, 23, 59, tzinfo=UTC)
CARD = CardSummary(
    payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030
)


def invoice_paid(**overrides: Any) -> InvoicePaid:
    values: dict[str, Any] = {
        "invoice_id": "in_1",
        "customer_id": "cus_1",
        "subscription_id": "sub_1",
        "amount_paid": 2999,
        "currency": "USD",
        "paid_at": PAID_AT,
    }
    values.update(overrides)
    return InvoicePaid(**values)


def canceled(**overrides: Any) -> SubscriptionCanceled:
    values: dict[str, Any] = {
        "subscription_id": "sub_1",
        "customer_id": "cus_1",
        "canceled_at": datetime(2025, 3, 2, 10, 0, tzinfo=UTC),
        "reason": "too_expensive",
    }
    values.update(overrides)
    return SubscriptionCanceled(**values)


def scheduled(**overrides: Any) -> CancellationScheduled:
    values: dict[str, Any] = {
        "subscription_id": "sub_1",
        "cancel_at": datetime(2025, 2, 5, 9, 30, tzinfo=UTC),
    }
    values.update(overrides)
    return CancellationScheduled(**values)


def test_each_mail_event_names_its_mail() -> None:
    receipt = mail_for(invoice_paid(), "m_1")
    assert receipt is not None
    assert receipt.kind is MailKind.RECEIPT
    assert receipt.needs() == Needs(
        "m_1", customer_id="cus_1", invoice_id="in_1", subscription_id="sub_1"
    )

    cancellation = mail_for(canceled(), "m_1")
    assert cancellation is not None
    assert cancellation.kind is MailKind.SUBSCRIPTION_CANCELED
    assert cancellation.needs() == Needs("m_1", customer_id="cus_1", subscription_id="sub_1")

    schedule = mail_for(scheduled(), "m_1")
    assert schedule is not None
    assert schedule.kind is MailKind.CANCELLATION_SCHEDULED
    # The event does not name the customer: the subscription will.
    assert schedule.needs() == Needs("m_1", subscription_id="sub_1")


@pytest.mark.parametrize(
    "data",
    [
        CustomerRegistered(customer_id="cus_1", email="a@example.com", name="A"),
        SubscriptionActivated(
            subscription_id="sub_1",
            invoice_id="in_1",
            current_period_start=PAID_AT,
            current_period_end=PAID_AT,
        ),
        SubscriptionCreated(
            subscription_id="sub_1",
            customer_id="cus_1",
            payment_method=CARD,
            plan=PlanSnapshot(plan_id="p", name="P", amount=1, currency="USD", interval="month"),
        ),
        ChargeSucceeded(
            invoice_id="in_1", charge_id="ch_1", amount=1, currency="USD", payment_method=CARD
        ),
        CancellationRevoked(subscription_id="sub_1"),
    ],
)
def test_other_events_call_for_no_mail(data: Any) -> None:
    assert mail_for(data, "m_1") is None


def test_receipt_with_every_fact_is_written_in_the_customers_locale(records: Any) -> None:
    trigger = mail_for(invoice_paid(), "m_1")
    assert trigger is not None
    facts = Facts(
        merchant=records.merchant(),
        customer=records.customer("es-MX"),
        invoice=records.invoice(),
    )
    request = compose(trigger, facts)
    assert isinstance(request, MailRequest)
    assert request.kind is MailKind.RECEIPT
    assert request.locale == MailLocale("es", "es_MX")
    assert request.recipient.email == "ana@example.com"
    assert request.brand.name == "TechSolutions Inc."
    content = request.content
    assert isinstance(content, ReceiptContent)
    assert content.invoice_number == "TS-0001"
    assert content.amount_paid == "USD\xa029.99"  # es-MX writes foreign dollars with the code
    assert content.paid_on == "5 de enero de 2025"
    assert content.plan_name == "Premium Monthly"
    assert content.period == "5 de ene\u2009\u2013\u20095 de feb 2025"
    assert [(line.description, line.amount) for line in content.lines] == [
        ("Premium Monthly", "USD\xa029.99")
    ]


def test_receipt_amounts_of_a_zero_decimal_currency(records: Any) -> None:
    trigger = mail_for(invoice_paid(amount_paid=1500, currency="JPY"), "m_1")
    assert trigger is not None
    facts = Facts(
        records.merchant(), records.customer("en"), records.invoice(currency="JPY", amount=1500)
    )
    request = compose(trigger, facts)
    assert isinstance(request, MailRequest)
    assert isinstance(request.content, ReceiptContent)
    assert request.content.amount_paid == "¥1,500"
    assert request.content.total == "¥1,500"


def test_dates_are_the_utc_calendar_day(records: Any) -> None:
    late_evening = datetime.fromisoformat("2025-01-05T23:30:00-05:00")  # Jan 6, 04:30 UTC
    trigger = mail_for(invoice_paid(paid_at=late_evening), "m_1")
    assert trigger is not None
    request = compose(trigger, Facts(records.merchant(), records.customer(), records.invoice()))
    assert isinstance(request, MailRequest)
    assert isinstance(request.content, ReceiptContent)
    assert request.content.paid_on == "January 6, 2025"


@pytest.mark.parametrize(
    ("facts", "missing"),
    [
        ({"customer": None}, ("customer cus_1",)),
        ({"merchant": None}, ("merchant m_1",)),
        ({"invoice": None}, ("invoice in_1",)),
        ({"merchant": None, "customer": None}, ("merchant m_1", "customer cus_1")),
    ],
)
def test_receipt_waits_for_each_missing_fact(
    records: Any, facts: dict[str, Any], missing: tuple[str, ...]
) -> None:
    trigger = mail_for(invoice_paid(), "m_1")
    assert trigger is not None
    known: dict[str, Any] = {
        "merchant": records.merchant(),
        "customer": records.customer(),
        "invoice": records.invoice(),
    }
    known.update(facts)
    outcome = compose(trigger, Facts(**known))
    assert outcome == Waiting(missing, trigger.needs())


def test_receipt_without_a_plan_name_waits_for_the_subscription(records: Any) -> None:
    trigger = mail_for(invoice_paid(), "m_1")
    assert trigger is not None
    invoice = records.invoice(plan_name=None)
    outcome = compose(trigger, Facts(records.merchant(), records.customer(), invoice))
    assert isinstance(outcome, Waiting)
    assert outcome.missing == ("subscription sub_1",)

    written = compose(
        trigger,
        Facts(
            records.merchant(), records.customer(), invoice, records.subscription(plan_name="Basic")
        ),
    )
    assert isinstance(written, MailRequest)
    assert isinstance(written.content, ReceiptContent)
    assert written.content.plan_name == "Basic"


def test_a_one_off_invoice_needs_no_subscription(records: Any) -> None:
    trigger = mail_for(invoice_paid(subscription_id=None), "m_1")
    assert trigger is not None
    invoice = records.invoice(plan_name=None, subscription_id=None)
    written = compose(trigger, Facts(records.merchant(), records.customer(), invoice))
    assert isinstance(written, MailRequest)
    assert isinstance(written.content, ReceiptContent)
    assert written.content.plan_name is None


def test_cancellation_confirmation(records: Any) -> None:
    trigger = mail_for(canceled(comment="Found a cheaper tool"), "m_1")
    assert trigger is not None
    request = compose(
        trigger,
        Facts(records.merchant(), records.customer("fr"), subscription=records.subscription()),
    )
    assert isinstance(request, MailRequest)
    assert request.content == CancellationContent(
        customer_name="Ana Gómez",
        plan_name="Premium Monthly",
        canceled_on="2 mars 2025",
        ended_at_period_end=False,
        reason="too_expensive",
        comment="Found a cheaper tool",
    )


def test_cancellation_waits_for_the_subscription_that_names_the_plan(records: Any) -> None:
    trigger = mail_for(canceled(), "m_1")
    assert trigger is not None
    outcome = compose(trigger, Facts(records.merchant(), records.customer()))
    assert isinstance(outcome, Waiting)
    assert outcome.missing == ("subscription sub_1",)


def test_scheduled_cancellation_finds_its_customer_through_the_subscription(
    records: Any,
) -> None:
    trigger = mail_for(scheduled(reason="unused"), "m_1")
    assert trigger is not None

    # Nothing known: the customer's id is unknown too, so only the subscription is named.
    nothing = compose(trigger, Facts(merchant=records.merchant()))
    assert nothing == Waiting(("subscription sub_1",), Needs("m_1", subscription_id="sub_1"))

    # The subscription names the customer, who is not projected yet: wait for that customer.
    no_customer = compose(trigger, Facts(records.merchant(), subscription=records.subscription()))
    assert no_customer == Waiting(
        ("customer cus_1",), Needs("m_1", customer_id="cus_1", subscription_id="sub_1")
    )

    request = compose(
        trigger,
        Facts(records.merchant(), records.customer("pt"), subscription=records.subscription()),
    )
    assert isinstance(request, MailRequest)
    assert request.content == ScheduledCancellationContent(
        customer_name="Ana Gómez",
        plan_name="Premium Monthly",
        ends_on="5 de fevereiro de 2025",
        reason="unused",
        comment=None,
    )
