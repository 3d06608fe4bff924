"""The projection consumer on the real broker and PostgreSQL: topic -> read model, rebuild.

Each test has its own topic and consumer-group prefix, so it neither sees other tests' events
nor shares their offsets. Waits poll until a condition holds or a deadline passes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CustomerRegistered,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionCreated,
)
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.postgres import migrate
from billing_events.topics import Topic, dead_letter_topic
from devstack.kafka import ensure_topics
from portal_gateway.adapters.postgres.read_model import PostgresReadModel
from portal_gateway.adapters.postgres.schema import MIGRATIONS
from portal_gateway.adapters.projection_consumer import ProjectionConsumer

pytestmark = pytest.mark.integration

WAIT = 60.0  # joining a consumer group takes a few seconds on a cold broker
T0 = datetime(2025, 4, 1, 10, tzinfo=UTC)
MERCHANT = "mer_k"
CARD = CardSummary(
    payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030
)
PLAN = PlanSnapshot(plan_id="plan_1", name="Pro", amount=2999, currency="USD", interval="month")


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {WAIT:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


def event(data: EventData, stream: str, version: int) -> Envelope:
    return new_envelope(
        data,
        stream_id=stream,
        stream_version=version,
        merchant_id=MERCHANT,
        correlation_id=uuid.uuid4(),
        occurred_at=T0,
    )


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    name = f"test.gateway.{uuid.uuid4().hex[:12]}"
    await ensure_topics(kafka_bootstrap, [Topic(name, 3), dead_letter_topic(name)])
    return name


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
async def consumer(
    pg_pool: asyncpg.Pool, kafka_bootstrap: str, topic: str
) -> AsyncIterator[ProjectionConsumer]:
    await migrate(pg_pool, MIGRATIONS)
    projections = ProjectionConsumer(
        pg_pool,
        kafka_bootstrap,
        topic_names=[topic],
        base_group=f"test.projections.{uuid.uuid4().hex[:8]}",
    )
    await projections.start()
    yield projections
    await projections.stop()


async def publish(producer: AIOKafkaProducer, topic: str, *envelopes: Envelope) -> None:
    for envelope in envelopes:
        await producer.send_and_wait(
            topic,
            envelope.to_json(),
            key=envelope.stream_id.encode(),
            headers=[(k, v.encode()) for k, v in envelope.kafka_headers().items()],
        )


async def test_published_events_reach_the_read_model_once_and_survive_a_rebuild(
    pg_pool: asyncpg.Pool, consumer: ProjectionConsumer, producer: AIOKafkaProducer, topic: str
) -> None:
    reads = PostgresReadModel(pg_pool)
    created = event(
        SubscriptionCreated(
            subscription_id="sub_1", customer_id="cus_1", plan=PLAN, payment_method=CARD
        ),
        "subscription-sub_1",
        1,
    )
    activated = event(
        SubscriptionActivated(
            subscription_id="sub_1",
            invoice_id="in_1",
            current_period_start=T0,
            current_period_end=T0 + timedelta(days=30),
        ),
        "subscription-sub_1",
        2,
    )
    customer = event(
        CustomerRegistered(customer_id="cus_1", email="ana@example.com", name="Ana"),
        "customer-cus_1",
        1,
    )
    # The relay may publish twice after a crash: the duplicate must change nothing.
    await publish(producer, topic, customer, created, activated, activated)
    # Not JSON at all: dead-lettered by the consumer, which goes on with what follows.
    await producer.send_and_wait(topic, b"not json", key=b"subscription-sub_1")
    canceled = event(
        SubscriptionCanceled(
            subscription_id="sub_1", customer_id="cus_1", canceled_at=T0, reason="unused"
        ),
        "subscription-sub_1",
        3,
    )
    await publish(producer, topic, canceled)

    async def canceled_in_read_model() -> bool:
        detail = await reads.subscription_detail(MERCHANT, "sub_1")
        return detail is not None and detail.view.status == "canceled"

    await eventually(canceled_in_read_model, "the cancellation to be projected")
    assert [h.event_type for h in await reads.history("subscription-sub_1")] == [
        "SubscriptionCreated",
        "SubscriptionActivated",
        "SubscriptionCanceled",
    ]
    assert (await consumer.check())["partitions"] == 3
    first_group = consumer.group_id
    # A row no event stands behind: a rebuild must not keep it.
    await pg_pool.execute(
        "INSERT INTO plans (plan_id, merchant_id, name, amount, currency, interval, created_at,"
        " version) VALUES ('plan_stale', $1, 'Stale', 1, 'USD', 'month', now(), 1)",
        MERCHANT,
    )

    generation = await consumer.rebuild()
    assert generation == 2
    assert consumer.group_id != first_group
    assert consumer.group_id is not None
    assert consumer.group_id.endswith(".r2")

    async def replayed() -> bool:
        # Every event processed again, by the new group (its inbox name is the group).
        count = await pg_pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1", consumer.group_id
        )
        return bool(count == 4) and await canceled_in_read_model()

    await eventually(replayed, "the rebuild to replay the topic")
    assert await reads.plan(MERCHANT, "plan_stale") is None
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", first_group) == 0
    )
    assert len(await reads.history("subscription-sub_1")) == 3
    overview = await reads.overview(MERCHANT, "cus_1")
    assert overview is None  # no merchant row in this schema: the overview needs one
    customer_view = await reads.customer(MERCHANT, "cus_1")
    assert customer_view is not None
    assert customer_view.name == "Ana"
