"""Fixtures for the integration tests: the service's schema, a real SMTP server, and events.

The SMTP server is aiosmtpd's, on a free loopback port, keeping what it receives in memory.
Every test writes to its own merchant and customers, so that tests sharing the session's
broker (and reading its topics from the beginning) never count each other's mail.
"""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationScheduled,
    CustomerRegistered,
    InvoiceIssued,
    InvoiceLine,
    InvoiceMarkedUncollectible,
    InvoicePaid,
    MerchantRegistered,
    SubscriptionCreated,
)
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.postgres import migrate
from devstack.network import free_port
from notifications.bootstrap import MIGRATIONS


class RecordingHandler:
    """Keeps every message; refuses recipients whose mailbox is ``nobody``."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.split("@")[0].split("+")[0] == "nobody":
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    host: str
    port: int
    handler: RecordingHandler

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in list(self.handler.messages) if address in str(m["To"])]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSink("127.0.0.1", port, handler)
    finally:
        controller.stop()


@pytest_asyncio.fixture
async def db(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The test's schema with the service's tables (inbox, projection, mail log)."""
    await migrate(pg_pool, MIGRATIONS)
    return pg_pool


JAN_5 = datetime(2025, 1, 5, 9, 30, tzinfo=UTC)
FEB_5 = datetime(2025, 2, 5, 9, 30, tzinfo=UTC)


@dataclass
class Events:
    """Envelopes of one merchant, with ids unique to the test and stream versions counted."""

    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def merchant_id(self) -> str:
        return f"m_{self.suffix}"

    def id(self, prefix: str, name: str = "1") -> str:
        return f"{prefix}_{name}_{self.suffix}"

    def email(self, name: str = "ana") -> str:
        return f"{name}+{self.suffix}@example.com"

    def envelope(self, data: EventData, stream_id: str) -> Envelope:
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        return new_envelope(
            data,
            stream_id=stream_id,
            stream_version=version,
            merchant_id=self.merchant_id,
            correlation_id=uuid.uuid4(),
            occurred_at=JAN_5,
        )

    def merchant_registered(self, name: str = "TechSolutions Inc.") -> Envelope:
        data = MerchantRegistered(
            merchant_id=self.merchant_id,
            slug=f"ts-{self.suffix}",
            name=name,
            support_email="help@techsolutions.example",
            brand_color="#0f766e",
        )
        return self.envelope(data, f"merchant-{self.merchant_id}")

    def customer_registered(self, customer: str = "ana", locale: str = "es") -> Envelope:
        customer_id = self.id("cus", customer)
        data = CustomerRegistered(
            customer_id=customer_id,
            email=self.email(customer),
            name=customer.title(),
            locale=locale,
        )
        return self.envelope(data, f"customer-{customer_id}")

    def subscription_created(self, customer: str = "ana", sub: str = "1") -> Envelope:
        subscription_id = self.id("sub", sub)
        data = SubscriptionCreated(
            subscription_id=subscription_id,
            customer_id=self.id("cus", customer),
            plan=PlanSnapshot(
                plan_id=self.id("plan"),
                name="Premium Monthly",
                amount=2999,
                currency="EUR",
                interval="month",
            ),
            payment_method=CardSummary(
                payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030
            ),
        )
        return self.envelope(data, f"subscription-{subscription_id}")

    def invoice_issued(
        self, customer: str = "ana", invoice: str = "1", amount: int = 2999, currency: str = "EUR"
    ) -> Envelope:
        invoice_id = self.id("in", invoice)
        data = InvoiceIssued(
            invoice_id=invoice_id,
            number=f"TS-{invoice}-{self.suffix[:4]}",
            customer_id=self.id("cus", customer),
            subscription_id=self.id("sub"),
            reason="subscription_create",
            lines=(
                InvoiceLine(
                    description="Premium Monthly",
                    amount=amount,
                    period_start=JAN_5,
                    period_end=FEB_5,
                ),
            ),
            amount_due=amount,
            currency=currency,
            period_start=JAN_5,
            period_end=FEB_5,
            issued_at=JAN_5,
            plan_name="Premium Monthly",
        )
        return self.envelope(data, f"invoice-{invoice_id}")

    def invoice_paid(
        self, customer: str = "ana", invoice: str = "1", amount: int = 2999, currency: str = "EUR"
    ) -> Envelope:
        invoice_id = self.id("in", invoice)
        data = InvoicePaid(
            invoice_id=invoice_id,
            customer_id=self.id("cus", customer),
            subscription_id=self.id("sub"),
            amount_paid=amount,
            currency=currency,
            paid_at=JAN_5 + timedelta(minutes=1),
        )
        return self.envelope(data, f"invoice-{invoice_id}")

    def invoice_marked_uncollectible(self, invoice: str = "1") -> Envelope:
        invoice_id = self.id("in", invoice)
        data = InvoiceMarkedUncollectible(invoice_id=invoice_id)
        return self.envelope(data, f"invoice-{invoice_id}")

    def cancellation_scheduled(self, sub: str = "1") -> Envelope:
        subscription_id = self.id("sub", sub)
        data = CancellationScheduled(
            subscription_id=subscription_id, cancel_at=FEB_5, reason="too_expensive"
        )
        return self.envelope(data, f"subscription-{subscription_id}")


@pytest.fixture
def events() -> Events:
    return Events()
