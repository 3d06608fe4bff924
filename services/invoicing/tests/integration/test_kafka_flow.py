"""The invoicing service as it runs: SubscriptionCreated and SubscriptionRenewed on
billing.subscriptions.events in, invoice events on billing.invoices.events out, through the
real broker and PostgreSQL.

The service is composed by ``invoicing.bootstrap.install`` on a ``servicekit.Service``, as the
process does, with the simulated processor wrapped to count the charges it is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
from uuid import uuid4

import asyncpg
import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from billing_events.contract.events import SubscriptionCreated, SubscriptionRenewed
from billing_events.envelope import Envelope
from billing_events.topics import INVOICES, SUBSCRIPTIONS
from invoicing.application.invoices import invoice_stream
from invoicing.bootstrap import Wiring, install
from invoicing.domain.identity import invoice_number
from invoicing.domain.subscription_billing import cycle_invoice_id, first_invoice_id
from invoicing.settings import Settings
from servicekit.service import Service

from .conftest import CountingProcessor, fixed_clock, renewal_of

pytestmark = pytest.mark.integration

WAIT_SECONDS = 60.0


@pytest_asyncio.fixture
async def invoicing(
    postgres_url: str,
    schema_name: str,
    pg_pool: asyncpg.Pool,  # owns the schema: dropped after the test
    kafka_bootstrap: str,
    processor: CountingProcessor,
) -> AsyncIterator[Wiring]:
    settings = Settings(
        database_url=postgres_url,
        db_schema=schema_name,
        kafka_bootstrap_servers=kafka_bootstrap,
        shutdown_timeout=10,
    )
    service = Service(settings)
    # A group of its own: joining the service's group right after the previous test's member
    # left waits for the broker's rebalance timeout.
    wiring = install(
        service,
        settings,
        clock=fixed_clock,
        processor=processor,
        consumer_group=f"invoicing.test-{uuid4().hex[:8]}",
    )
    await asyncio.wait_for(service.start(), WAIT_SECONDS)
    try:
        yield wiring
    finally:
        await service.stop()


@pytest_asyncio.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=False
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def invoice_events(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    # No consumer group: reading every partition from the start needs no group join.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(INVOICES.name, p) for p in range(INVOICES.partitions)])
        await consumer.seek_to_beginning()
        yield consumer
    finally:
        await consumer.stop()


async def publish(producer: AIOKafkaProducer, envelope: Envelope, key: str | None = None) -> None:
    """As the subscriptions service's relay does: keyed by stream id, with the headers."""
    await producer.send_and_wait(
        SUBSCRIPTIONS.name,
        envelope.to_json(),
        key=(key or envelope.stream_id).encode(),
        headers=[(k, v.encode()) for k, v in envelope.kafka_headers().items()],
    )


def stream_of(trigger: Envelope) -> str:
    """The invoice stream a SubscriptionCreated or SubscriptionRenewed is billed in."""
    data = trigger.data
    if isinstance(data, SubscriptionRenewed):
        return invoice_stream(
            cycle_invoice_id(trigger.merchant_id, data.subscription_id, data.current_period_start)
        )
    assert isinstance(data, SubscriptionCreated)
    return invoice_stream(first_invoice_id(trigger.merchant_id, data.subscription_id))


async def wait_for_streams(
    consumer: AIOKafkaConsumer, expected: dict[str, int]
) -> dict[str, list[dict]]:
    """Invoice events by stream (distinct event ids, in arrival order) until each stream in
    ``expected`` has that many, or fail after a bounded wait."""
    seen: dict[str, list[dict]] = defaultdict(list)
    ids: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while any(len(seen[s]) < n for s, n in expected.items()):
        if loop.time() > deadline:
            pytest.fail(f"invoice events did not arrive in time: {dict(seen)}")
        batches = await consumer.getmany(timeout_ms=500)
        for messages in batches.values():
            for message in messages:
                body = orjson.loads(message.value)
                if body["stream_id"] in expected and body["event_id"] not in ids:
                    assert message.key.decode() == body["stream_id"]
                    ids.add(body["event_id"])
                    seen[body["stream_id"]].append(body)
    return seen


async def test_new_subscriptions_are_invoiced_and_charged(
    invoicing, producer, kafka_bootstrap, subscription_created
) -> None:
    merchant_id = f"mer_{uuid4().hex[:12]}"
    paid = await subscription_created("4242424242424242", merchant_id=merchant_id)
    declined = await subscription_created("4000000000000002", merchant_id=merchant_id)
    short_of_funds = await subscription_created("4000000000009995", merchant_id=merchant_id)
    async with invoice_events(kafka_bootstrap) as consumer:
        for created in (paid, declined, short_of_funds):
            await publish(producer, created)
        seen = await wait_for_streams(
            consumer, {stream_of(paid): 3, stream_of(declined): 2, stream_of(short_of_funds): 2}
        )

    events = seen[stream_of(paid)]
    assert [e["event_type"] for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    assert [e["stream_version"] for e in events] == [1, 2, 3]
    assert {e["causation_id"] for e in events} == {str(paid.event_id)}
    assert {e["correlation_id"] for e in events} == {str(paid.correlation_id)}
    issued = events[0]["data"]
    assert (issued["amount_due"], issued["currency"], issued["reason"]) == (
        2999,
        "USD",
        "subscription_create",
    )
    numbers = {seen[stream_of(c)][0]["data"]["number"] for c in (paid, declined, short_of_funds)}
    assert numbers == {invoice_number(merchant_id, n) for n in (1, 2, 3)}
    assert events[2]["data"]["amount_paid"] == 2999

    for created, code in ((declined, "card_declined"), (short_of_funds, "insufficient_funds")):
        events = seen[stream_of(created)]
        assert [e["event_type"] for e in events] == ["InvoiceIssued", "ChargeFailed"]
        assert events[1]["data"]["decline_code"] == code
        assert events[1]["data"]["message"]
        assert {e["causation_id"] for e in events} == {str(created.event_id)}


async def test_a_redelivered_subscription_created_issues_and_charges_nothing_twice(
    invoicing, producer, kafka_bootstrap, subscription_created, processor, pg_pool
) -> None:
    merchant_id = f"mer_{uuid4().hex[:12]}"
    created = await subscription_created("4242424242424242", merchant_id=merchant_id)
    async with invoice_events(kafka_bootstrap) as consumer:
        await publish(producer, created)
        await wait_for_streams(consumer, {stream_of(created): 3})

        # The same message again, then a new one behind it on the same partition: once the
        # new one is invoiced, the redelivery has been consumed.
        await publish(producer, created)
        behind = await subscription_created("5555555555554444", merchant_id=merchant_id)
        await publish(producer, behind, key=created.stream_id)
        await wait_for_streams(consumer, {stream_of(behind): 3})

    stored = await pg_pool.fetch(
        "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version",
        stream_of(created),
    )
    assert [r["event_type"] for r in stored] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    first_key = f"{first_invoice_id(created.merchant_id, created.data.subscription_id)}:1"
    assert processor.charge_keys.count(first_key) == 1
    numbers = await pg_pool.fetchval(
        "SELECT last_sequence FROM invoice_number_counters WHERE merchant_id = $1",
        created.merchant_id,
    )
    assert numbers == 2


async def test_a_renewal_is_invoiced_and_paid_once_even_when_redelivered(
    invoicing, producer, kafka_bootstrap, subscription_created, processor, pg_pool
) -> None:
    merchant_id = f"mer_{uuid4().hex[:12]}"
    created = await subscription_created("4242424242424242", merchant_id=merchant_id)
    renewed = renewal_of(created)
    async with invoice_events(kafka_bootstrap) as consumer:
        await publish(producer, created)
        await publish(producer, renewed)
        seen = await wait_for_streams(consumer, {stream_of(created): 3, stream_of(renewed): 3})

        # The renewal again, then another subscription behind it on the same partition: once
        # that one is invoiced, the redelivery has been consumed.
        await publish(producer, renewed)
        behind = await subscription_created("5555555555554444", merchant_id=merchant_id)
        await publish(producer, behind, key=renewed.stream_id)
        await wait_for_streams(consumer, {stream_of(behind): 3})

    events = seen[stream_of(renewed)]
    assert [e["event_type"] for e in events] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    assert {e["causation_id"] for e in events} == {str(renewed.event_id)}
    issued = events[0]["data"]
    assert (issued["reason"], issued["amount_due"]) == ("subscription_cycle", 2999)
    assert issued["number"] == invoice_number(merchant_id, 2)
    assert datetime.fromisoformat(issued["issued_at"]) == renewed.occurred_at

    stored = await pg_pool.fetch(
        "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version",
        stream_of(renewed),
    )
    assert [r["event_type"] for r in stored] == ["InvoiceIssued", "ChargeSucceeded", "InvoicePaid"]
    assert processor.charge_keys.count(f"{issued['invoice_id']}:1") == 1
    numbers = await pg_pool.fetchval(
        "SELECT last_sequence FROM invoice_number_counters WHERE merchant_id = $1", merchant_id
    )
    assert numbers == 3
