from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    ChargeFailed,
    ChargeSucceeded,
    InvoiceIssued,
    InvoiceLine,
    InvoicePaid,
    SubscriptionActivated,
    SubscriptionActivationFailed,
)
from billing_events.envelope import Envelope, EventData, new_envelope

MERCHANT = "mer_1"
PERIOD_START = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)  # the subscription's creation
PAID_AT = datetime(2025, 1, 31, 12, 0, 3, tzinfo=UTC)
CARD = CardSummary(
    payment_method_id="pm_visa", brand="visa", last4="4242", exp_month=12, exp_year=2030
)


def invoice_event(data: EventData, invoice_id: str = "in_1", merchant: str = MERCHANT) -> Envelope:
    return new_envelope(
        data,
        stream_id=f"invoice-{invoice_id}",
        merchant_id=merchant,
        correlation_id=uuid.uuid4(),
        stream_version=1,
    )


def issued(invoice_id: str = "in_1", reason: str = "subscription_create") -> InvoiceIssued:
    return InvoiceIssued(
        invoice_id=invoice_id,
        number="INV-0001",
        customer_id="cus_1",
        subscription_id="sub_1",
        reason=reason,  # type: ignore[arg-type]
        lines=(InvoiceLine(description="Pro", amount=2999, plan_id="plan_month"),),
        amount_due=2999,
        currency="USD",
        issued_at=PAID_AT,
        period_start=PERIOD_START,
        period_end=datetime(2025, 2, 28, 12, 0, tzinfo=UTC),
    )


def paid(invoice_id: str = "in_1", subscription_id: str | None = "sub_1") -> InvoicePaid:
    return InvoicePaid(
        invoice_id=invoice_id,
        customer_id="cus_1",
        subscription_id=subscription_id,
        amount_paid=2999,
        currency="USD",
        paid_at=PAID_AT,
    )


def failed(invoice_id: str = "in_1") -> ChargeFailed:
    return ChargeFailed(
        invoice_id=invoice_id,
        charge_id="ch_1",
        amount=2999,
        currency="USD",
        payment_method=CARD,
        decline_code="card_declined",
        message="Your card was declined.",
    )


def succeeded(invoice_id: str = "in_1") -> ChargeSucceeded:
    return ChargeSucceeded(
        invoice_id=invoice_id, charge_id="ch_1", amount=2999, currency="USD", payment_method=CARD
    )


def test_the_consumer_is_told_which_invoice_events_matter(invoice_handler) -> None:
    acted_on = [invoice_handler.acts_on(invoice_event(e)) for e in (issued(), paid(), failed())]

    assert acted_on == [True, True, True]
    # A successful charge is followed by InvoicePaid, which is what activates.
    assert not invoice_handler.acts_on(invoice_event(succeeded()))


async def test_an_event_the_consumer_is_told_to_ignore_changes_nothing(
    store, invoice_handler, links, incomplete
) -> None:
    before = {stream: list(events) for stream, events in store.streams.items()}

    await deliver(invoice_handler, succeeded())

    assert store.streams == before
    assert links.links == {}


@pytest.fixture
async def incomplete(catalog, send, new_subscription) -> None:
    await catalog()
    await send(new_subscription())


async def deliver(handler, data: EventData, **kwargs) -> Envelope:
    envelope = invoice_event(data, **kwargs)
    await handler(envelope, object())
    return envelope


async def test_first_invoice_paid_activates(store, invoice_handler, links, incomplete) -> None:
    await deliver(invoice_handler, issued())
    paid_event = await deliver(invoice_handler, paid())
    stream = store.streams["subscription-sub_1"]
    assert [e.event_type for e in stream] == ["SubscriptionCreated", "SubscriptionActivated"]
    activated = stream[-1]
    assert activated.data == SubscriptionActivated(
        subscription_id="sub_1",
        invoice_id="in_1",
        current_period_start=PERIOD_START,
        current_period_end=datetime(2025, 2, 28, 12, 0, tzinfo=UTC),
    )
    assert activated.causation_id == paid_event.event_id
    assert activated.correlation_id == paid_event.correlation_id
    assert activated.merchant_id == MERCHANT


async def test_first_charge_failed_fails_activation(store, invoice_handler, incomplete) -> None:
    await deliver(invoice_handler, issued())
    charge = await deliver(invoice_handler, failed())
    last = store.streams["subscription-sub_1"][-1]
    assert last.data == SubscriptionActivationFailed(
        subscription_id="sub_1",
        invoice_id="in_1",
        decline_code="card_declined",
        message="Your card was declined.",
    )
    assert last.causation_id == charge.event_id


async def test_outcomes_of_other_invoices_are_left_alone(store, invoice_handler, incomplete):
    await deliver(invoice_handler, issued("in_9", reason="subscription_cycle"), invoice_id="in_9")
    await deliver(invoice_handler, paid("in_9"), invoice_id="in_9")
    await deliver(invoice_handler, failed("in_9"), invoice_id="in_9")
    assert store.types("subscription-sub_1") == ["SubscriptionCreated"]


async def test_paid_without_seen_issue_activates_a_waiting_subscription(
    store, invoice_handler, incomplete
) -> None:
    await deliver(invoice_handler, paid())
    activated = store.streams["subscription-sub_1"][-1]
    assert activated.event_type == "SubscriptionActivated"
    # Without the invoice's period, the paid period starts when it was paid.
    assert activated.data.current_period_start == PAID_AT


async def test_charge_failed_for_unknown_invoice_changes_nothing(
    store, invoice_handler, incomplete
) -> None:
    await deliver(invoice_handler, failed("in_unknown"), invoice_id="in_unknown")
    assert store.types("subscription-sub_1") == ["SubscriptionCreated"]


async def test_a_second_outcome_is_ignored_not_raised(store, invoice_handler, incomplete):
    await deliver(invoice_handler, issued())
    await deliver(invoice_handler, paid())
    await deliver(invoice_handler, failed())  # e.g. a stale retry result
    await deliver(invoice_handler, paid())  # a republished event under a new id
    assert store.types("subscription-sub_1") == ["SubscriptionCreated", "SubscriptionActivated"]


async def test_links_are_per_merchant(store, invoice_handler, links, incomplete) -> None:
    await deliver(invoice_handler, issued(), merchant="mer_other")
    await deliver(invoice_handler, failed())
    assert store.types("subscription-sub_1") == ["SubscriptionCreated"]
    # Another merchant's invoice cannot touch this merchant's subscription either.
    await deliver(invoice_handler, paid(), merchant="mer_other")
    assert store.types("subscription-sub_1") == ["SubscriptionCreated"]


async def test_activation_period_comes_from_the_invoice_not_the_clock(
    store, invoice_handler, clock, incomplete
) -> None:
    clock.advance(timedelta(hours=5))
    await deliver(invoice_handler, issued())
    await deliver(invoice_handler, paid())
    activated = store.streams["subscription-sub_1"][-1]
    assert activated.data.current_period_start == PERIOD_START
    assert activated.occurred_at == clock.now
