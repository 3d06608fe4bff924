"""In-memory fakes of the application's ports, for unit tests of the handlers only.

Integration tests use the real PostgreSQL event store and outbox instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
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
from subscriptions.application.merchant_time import MerchantTime
from subscriptions.application.ports import DueSubscription, InvoiceLink
from subscriptions.application.renewals import RenewalScan
from subscriptions.application.writer import Writer
from subscriptions.domain.clock import TestClock
from subscriptions.domain.subscription import Subscription, due_at

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


class InMemoryFrozenClocks:
    def __init__(self) -> None:
        self.clocks: dict[str, tuple[TestClock, int]] = {}

    async def frozen_time(self, merchant_id: str, *, conn: object = None) -> datetime | None:
        found = self.clocks.get(merchant_id)
        return found[0].frozen_time if found is not None else None

    async def record(self, clock: TestClock, version: int, *, conn: object) -> None:
        current = self.clocks.get(clock.merchant_id)
        if current is None or current[1] <= version:
            self.clocks[clock.merchant_id] = (clock, version)


class InMemoryRenewalSchedule:
    """The renewal schedule with the real one's version rule and due query."""

    def __init__(self, clocks: InMemoryFrozenClocks) -> None:
        self.clocks = clocks
        self.rows: dict[str, tuple[str, Subscription, int]] = {}

    async def record(
        self, merchant_id: str, subscription: Subscription, version: int, *, conn: object
    ) -> None:
        current = self.rows.get(subscription.subscription_id)
        if current is None or current[2] <= version:
            self.rows[subscription.subscription_id] = (merchant_id, subscription, version)

    async def due(
        self,
        wall_clock_now: datetime,
        *,
        merchant_id: str | None = None,
        exclude: Sequence[str] = (),
        limit: int = 100,
    ) -> list[DueSubscription]:
        found = []
        for subscription_id, (merchant, subscription, _) in self.rows.items():
            moment = due_at(subscription)
            now = await self.clocks.frozen_time(merchant) or wall_clock_now
            if moment is None or moment > now or subscription_id in exclude:
                continue
            if merchant_id is None or merchant == merchant_id:
                found.append(DueSubscription(subscription_id, merchant, moment))
        return sorted(found, key=lambda d: (d.due_at, d.subscription_id))[:limit]

    def entry(self, subscription_id: str) -> Subscription:
        return self.rows[subscription_id][1]


class FakeTransactions:
    """No database: the in-memory ports ignore the connection they are given."""

    def __init__(self) -> None:
        self.opened = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[object]:
        self.opened += 1
        yield object()


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
def frozen_clocks() -> InMemoryFrozenClocks:
    return InMemoryFrozenClocks()


@pytest.fixture
def schedule(frozen_clocks: InMemoryFrozenClocks) -> InMemoryRenewalSchedule:
    return InMemoryRenewalSchedule(frozen_clocks)


@pytest.fixture
def writer(
    store: InMemoryEventStore,
    schedule: InMemoryRenewalSchedule,
    frozen_clocks: InMemoryFrozenClocks,
) -> Writer:
    return Writer(store, schedule, frozen_clocks)  # type: ignore[arg-type]


@pytest.fixture
def merchant_time(frozen_clocks: InMemoryFrozenClocks, clock: ManualClock) -> MerchantTime:
    return MerchantTime(frozen_clocks, clock)


@pytest.fixture
def command_handler(
    writer: Writer, outbox: RecordingOutbox, merchant_time: MerchantTime
) -> CommandHandler:
    return CommandHandler(writer, outbox, merchant_time)


@pytest.fixture
def invoice_handler(
    writer: Writer, links: InMemoryInvoiceLinks, merchant_time: MerchantTime
) -> InvoiceEventHandler:
    return InvoiceEventHandler(writer, links, merchant_time)


@pytest.fixture
def renewal_scan(writer: Writer, merchant_time: MerchantTime, clock: ManualClock) -> RenewalScan:
    return RenewalScan(writer, merchant_time, clock, FakeTransactions())  # type: ignore[arg-type]


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
