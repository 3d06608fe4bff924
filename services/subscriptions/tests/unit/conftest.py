"""In-memory fakes of the application's ports, for unit tests of the handlers only.

Integration tests use the real PostgreSQL event store and outbox instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from billing_events.contract.commands import (
    AttachPaymentMethod,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
)
from billing_events.contract.common import CardSummary
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.store import ConcurrencyConflict
from subscriptions.application.commands import CommandHandler, target_stream
from subscriptions.application.invoice_events import InvoiceEventHandler
from subscriptions.application.ports import InvoiceLink

MERCHANT = "mer_1"
NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
CARD = CardSummary(
    payment_method_id="pm_visa", brand="visa", last4="4242", exp_month=12, exp_year=2030
)


class InMemoryEventStore:
    """Streams in a dict, with the real store's optimistic concurrency.

    ``read_stream`` yields to the event loop after reading, so that handlers run with
    asyncio.gather interleave between reading a stream and appending to it, as concurrent
    consumers would.
    """

    def __init__(self) -> None:
        self.streams: dict[str, list[Envelope]] = {}
        self.conflicts = 0

    async def read_stream(
        self, stream_id: str, from_version: int = 1, *, conn: object = None
    ) -> list[Envelope]:
        history = [e for e in self.streams.get(stream_id, []) if e.stream_version >= from_version]
        await asyncio.sleep(0)  # others may append now: what was read is already stale
        return history

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Envelope],
        *,
        conn: object = None,
    ) -> list[Envelope]:
        current = self.streams.setdefault(stream_id, [])
        if len(current) != expected_version:
            self.conflicts += 1
            raise ConcurrencyConflict(stream_id, expected_version)
        stored = [
            e.model_copy(update={"stream_id": stream_id, "stream_version": expected_version + i})
            for i, e in enumerate(events, start=1)
        ]
        current.extend(stored)
        return stored

    def types(self, stream_id: str) -> list[str]:
        return [e.event_type for e in self.streams.get(stream_id, [])]


class RecordingOutbox:
    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(self, envelope: Envelope, *, conn: object) -> None:
        self.published.append(envelope)


class InMemoryInvoiceLinks:
    def __init__(self) -> None:
        self.links: dict[tuple[str, str], InvoiceLink] = {}

    async def remember(self, merchant_id: str, link: InvoiceLink, *, conn: object) -> None:
        self.links.setdefault((merchant_id, link.invoice_id), link)

    async def find(self, merchant_id: str, invoice_id: str, *, conn: object) -> InvoiceLink | None:
        return self.links.get((merchant_id, invoice_id))


class ManualClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


Send = Callable[..., Awaitable[Envelope]]


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def outbox() -> RecordingOutbox:
    return RecordingOutbox()


@pytest.fixture
def links() -> InMemoryInvoiceLinks:
    return InMemoryInvoiceLinks()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def command_handler(
    store: InMemoryEventStore, outbox: RecordingOutbox, clock: ManualClock
) -> CommandHandler:
    return CommandHandler(store, outbox, clock)


@pytest.fixture
def invoice_handler(
    store: InMemoryEventStore, links: InMemoryInvoiceLinks, clock: ManualClock
) -> InvoiceEventHandler:
    return InvoiceEventHandler(store, links, clock)


def envelope_for(
    data: EventData,
    *,
    merchant_id: str = MERCHANT,
    stream_id: str | None = None,
    correlation_id: uuid.UUID | None = None,
) -> Envelope:
    return new_envelope(
        data,
        stream_id=stream_id or target_stream(data),
        merchant_id=merchant_id,
        correlation_id=correlation_id or uuid.uuid4(),
    )


@pytest.fixture
def send(command_handler: CommandHandler) -> Send:
    """Deliver a command to the handler as the consumer would; returns its envelope."""

    async def deliver(data: EventData, **envelope_fields: object) -> Envelope:
        envelope = envelope_for(data, **envelope_fields)  # type: ignore[arg-type]
        await command_handler(envelope, object())  # type: ignore[arg-type]
        return envelope

    return deliver


@pytest.fixture
def catalog(send: Send) -> Callable[..., Awaitable[None]]:
    """Creates plan_month, plan_year, customer cus_1 with CARD, for subscription tests."""

    async def build(merchant_id: str = MERCHANT) -> None:
        await send(
            CreatePlan(
                plan_id="plan_month", name="Pro", amount=2999, currency="USD", interval="month"
            ),
            merchant_id=merchant_id,
        )
        await send(
            CreatePlan(
                plan_id="plan_year",
                name="Pro yearly",
                amount=29990,
                currency="USD",
                interval="year",
            ),
            merchant_id=merchant_id,
        )
        await send(
            RegisterCustomer(customer_id="cus_1", email="ana@example.com", name="Ana"),
            merchant_id=merchant_id,
        )
        await send(AttachPaymentMethod(customer_id="cus_1", card=CARD), merchant_id=merchant_id)

    return build


@pytest.fixture
def make_envelope() -> Callable[..., Envelope]:
    return envelope_for


def create_subscription(
    subscription_id: str = "sub_1",
    plan_id: str = "plan_month",
    payment_method_id: str = "pm_visa",
    customer_id: str = "cus_1",
) -> CreateSubscription:
    return CreateSubscription(
        subscription_id=subscription_id,
        customer_id=customer_id,
        plan_id=plan_id,
        payment_method_id=payment_method_id,
    )


@pytest.fixture
def new_subscription() -> Callable[..., CreateSubscription]:
    """CreateSubscription for cus_1 on plan_month with pm_visa unless told otherwise."""
    return create_subscription
