"""Fixtures for integration tests on the real PostgreSQL (``pg_pool``: a schema per test)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from billing_events.consumer import INBOX_MIGRATIONS, Handler, claim
from billing_events.envelope import ContractError, Envelope, EventData, new_envelope, registry
from billing_events.postgres import migrate
from billing_events.store import MIGRATIONS as EVENT_STORE_MIGRATIONS
from billing_events.store import PostgresEventStore
from billing_events.topics import CLOCKS, CUSTOMERS, PLANS, SUBSCRIPTIONS
from subscriptions.adapters.postgres import (
    MIGRATIONS,
    PoolTransactions,
    PostgresFrozenClocks,
    PostgresInvoiceLinks,
    PostgresRenewalSchedule,
    TransactionalOutbox,
)
from subscriptions.application.commands import CommandHandler, target_stream
from subscriptions.application.invoice_events import InvoiceEventHandler
from subscriptions.application.merchant_time import MerchantTime
from subscriptions.application.renewals import RenewalScan
from subscriptions.application.writer import Writer

MERCHANT = "mer_it"
FIXED_NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)

Deliver = Callable[..., Awaitable[bool]]


@pytest_asyncio.fixture
async def db(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    """A schema with the service's tables, migrated as the service does at start."""
    await migrate(pg_pool, [*EVENT_STORE_MIGRATIONS, *INBOX_MIGRATIONS, *MIGRATIONS])
    return pg_pool


@pytest.fixture
def store(db: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(db)


@pytest.fixture
def schedule(db: asyncpg.Pool) -> PostgresRenewalSchedule:
    return PostgresRenewalSchedule(db)


@pytest.fixture
def frozen_clocks(db: asyncpg.Pool) -> PostgresFrozenClocks:
    return PostgresFrozenClocks(db)


@pytest.fixture
def writer(
    store: PostgresEventStore,
    schedule: PostgresRenewalSchedule,
    frozen_clocks: PostgresFrozenClocks,
) -> Writer:
    return Writer(store, schedule, frozen_clocks)


@pytest.fixture
def merchant_time(frozen_clocks: PostgresFrozenClocks) -> MerchantTime:
    return MerchantTime(frozen_clocks, lambda: FIXED_NOW)


@pytest.fixture
def command_handler(writer: Writer, merchant_time: MerchantTime) -> CommandHandler:
    return CommandHandler(writer, TransactionalOutbox(), merchant_time)


@pytest.fixture
def invoice_handler(writer: Writer, merchant_time: MerchantTime) -> InvoiceEventHandler:
    return InvoiceEventHandler(writer, PostgresInvoiceLinks(), merchant_time)


@pytest.fixture
def renewal_scan(db: asyncpg.Pool, writer: Writer, merchant_time: MerchantTime) -> RenewalScan:
    return RenewalScan(writer, merchant_time, lambda: FIXED_NOW, PoolTransactions(db))


def command(
    data: EventData, *, merchant_id: str = MERCHANT, correlation_id: uuid.UUID | None = None
) -> Envelope:
    return new_envelope(
        data,
        stream_id=target_stream(data),
        merchant_id=merchant_id,
        correlation_id=correlation_id or uuid.uuid4(),
    )


@pytest.fixture
def make_command() -> Callable[..., Envelope]:
    return command


@pytest.fixture
def deliver(db: asyncpg.Pool) -> Deliver:
    """Run a handler the way billing_events.consumer does: one transaction holding the inbox
    row and the handler's writes. Returns False when the message was already processed."""

    async def run(handler: Handler, envelope: Envelope, consumer: str = "test") -> bool:
        async with db.acquire() as conn, conn.transaction():
            if not await claim(conn, consumer, envelope.event_id):
                return False
            await handler(envelope, conn)
        return True

    return run


class EventWatcher:
    """Reads event topics from their beginning in the background, for bounded waits on what
    the service published. No consumer group: it sees every partition and commits nothing."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self.seen: list[Envelope] = []
        self._arrived = asyncio.Condition()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self._topics
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._consumer = consumer
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            envelopes = []
            for records in batches.values():
                for record in records:
                    # Other producers share the topics; what is not an event is not ours.
                    with contextlib.suppress(ContractError):
                        envelopes.append(registry.parse(record.value))
            if envelopes:
                async with self._arrived:
                    self.seen.extend(envelopes)
                    self._arrived.notify_all()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def caused_by(self, message_id: uuid.UUID) -> list[Envelope]:
        return [e for e in self.seen if e.causation_id == message_id]

    async def wait_for(
        self, predicate: Callable[[Envelope], bool], *, count: int = 1, timeout: float = 30.0
    ) -> list[Envelope]:
        """The first ``count`` envelopes matching ``predicate``; fails after ``timeout``."""

        def matches() -> list[Envelope]:
            return [e for e in self.seen if predicate(e)]

        async with self._arrived:
            try:
                async with asyncio.timeout(timeout):
                    await self._arrived.wait_for(lambda: len(matches()) >= count)
            except TimeoutError:
                found = [(e.event_type, e.stream_id) for e in matches()]
                raise AssertionError(
                    f"expected {count} matching events within {timeout}s, saw {found}"
                ) from None
            return matches()[:count]

    async def answer_to(self, command: Envelope, timeout: float = 30.0) -> Envelope:
        """The first event caused by ``command``: what it produced, or its rejection."""
        [answer] = await self.wait_for(
            lambda e: e.causation_id == command.event_id, timeout=timeout
        )
        return answer


@pytest_asyncio.fixture
async def watcher(kafka_bootstrap: str) -> AsyncIterator[EventWatcher]:
    topics = [t.name for t in (PLANS, CUSTOMERS, SUBSCRIPTIONS, CLOCKS)]
    watching = EventWatcher(kafka_bootstrap, topics)
    await watching.start()
    yield watching
    await watching.stop()


@pytest_asyncio.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=False, acks="all"
    )
    await kafka.start()
    yield kafka
    await kafka.stop()
