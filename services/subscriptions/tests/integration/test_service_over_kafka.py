"""The whole subscriptions process on the real PostgreSQL and Kafka-protocol broker: commands
go in on billing.subscriptions.commands, events come out on the event topics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from litestar.testing import AsyncTestClient

from billing_events.contract.commands import (
    AdvanceTestClock,
    AttachPaymentMethod,
    CancelSubscription,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
    UpdateSubscriptionPaymentMethod,
)
from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    ChargeFailed,
    CommandRejected,
    InvoiceIssued,
    InvoiceLine,
    InvoicePaid,
)
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.postgres import create_pool
from billing_events.store import PostgresEventStore
from billing_events.topics import INVOICES, SUBSCRIPTIONS_COMMANDS, dead_letter_topic
from subscriptions.app import create_app
from subscriptions.domain.periods import add_months
from subscriptions.settings import Settings

pytestmark = pytest.mark.integration

READY_TIMEOUT = 60.0


@pytest_asyncio.fixture(scope="module")
async def service_schema(postgres_url: str) -> AsyncIterator[str]:
    """One schema for the module's service: starting the process (and joining its consumer
    groups) once keeps the module fast; tests stay apart by merchant and ids."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield schema
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module")
async def service(
    postgres_url: str, service_schema: str, kafka_bootstrap: str
) -> AsyncIterator[AsyncTestClient]:
    """The service as its entry point builds it; ready (consumers assigned) when yielded."""
    settings = Settings(
        database_url=postgres_url,
        db_schema=service_schema,
        kafka_bootstrap_servers=kafka_bootstrap,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while (response := await client.get("/readyz")).status_code != 200:
            assert loop.time() < deadline, f"not ready in {READY_TIMEOUT}s: {response.text}"
            await asyncio.sleep(0.5)
        yield client


@pytest_asyncio.fixture(scope="module")
async def service_pool(postgres_url: str, service_schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(postgres_url, service_schema, max_size=2)
    yield pool
    await pool.close()


class Sender:
    def __init__(self, producer: AIOKafkaProducer, merchant_id: str) -> None:
        self.producer = producer
        self.merchant_id = merchant_id

    async def send(self, data: EventData, *, stream_id: str, topic: str) -> Envelope:
        envelope = new_envelope(
            data, stream_id=stream_id, merchant_id=self.merchant_id, correlation_id=uuid.uuid4()
        )
        await self.producer.send_and_wait(
            topic,
            envelope.to_json(),
            key=stream_id.encode(),
            headers=[(k, v.encode()) for k, v in envelope.kafka_headers().items()],
        )
        return envelope

    async def command(self, data: EventData, stream_id: str) -> Envelope:
        return await self.send(data, stream_id=stream_id, topic=SUBSCRIPTIONS_COMMANDS.name)

    async def invoice_event(self, data: EventData, invoice_id: str) -> Envelope:
        return await self.send(data, stream_id=f"invoice-{invoice_id}", topic=INVOICES.name)


def ids() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:12]
    return {name: f"{name}_{suffix}" for name in ("plan", "cus", "pm", "sub", "in")}


async def create_subscription(
    sender: Sender, watcher, names: dict[str, str]
) -> dict[str, Envelope]:
    """Plan, customer, card and subscription, each sent once the previous one is answered,
    as the gateway does; returns each answer by event type."""
    card = CardSummary(
        payment_method_id=names["pm"], brand="visa", last4="4242", exp_month=12, exp_year=2030
    )
    steps: list[tuple[EventData, str]] = [
        (
            CreatePlan(
                plan_id=names["plan"],
                name="Pro",
                description="Monthly",
                amount=2999,
                currency="USD",
                interval="month",
            ),
            f"plan-{names['plan']}",
        ),
        (
            RegisterCustomer(customer_id=names["cus"], email="ana@example.com", name="Ana"),
            f"customer-{names['cus']}",
        ),
        (AttachPaymentMethod(customer_id=names["cus"], card=card), f"customer-{names['cus']}"),
        (
            CreateSubscription(
                subscription_id=names["sub"],
                customer_id=names["cus"],
                plan_id=names["plan"],
                payment_method_id=names["pm"],
            ),
            f"subscription-{names['sub']}",
        ),
    ]
    answers: dict[str, Envelope] = {}
    for data, stream_id in steps:
        command = await sender.command(data, stream_id)
        answer = await watcher.answer_to(command)
        assert answer.correlation_id == command.correlation_id
        assert answer.merchant_id == sender.merchant_id
        assert answer.stream_id == stream_id
        answers[answer.event_type] = answer
    assert set(answers) == {
        "PlanCreated",
        "CustomerRegistered",
        "PaymentMethodAttached",
        "SubscriptionCreated",
    }
    return answers


def first_invoice(names: dict[str, str], at: datetime) -> InvoiceIssued:
    return InvoiceIssued(
        invoice_id=names["in"],
        number="INV-0001",
        customer_id=names["cus"],
        subscription_id=names["sub"],
        reason="subscription_create",
        lines=(InvoiceLine(description="Pro", amount=2999, plan_id=names["plan"]),),
        amount_due=2999,
        currency="USD",
        issued_at=at,
        period_start=at,
    )


async def test_subscription_life_over_kafka(service, watcher, producer, service_pool) -> None:
    sender = Sender(producer, f"mer_{uuid.uuid4().hex[:8]}")
    names = ids()
    created = (await create_subscription(sender, watcher, names))["SubscriptionCreated"]
    assert created.data.plan.amount == 2999
    assert created.data.payment_method.last4 == "4242"

    # Invoicing's part, played by the test: the first invoice is issued and paid.
    now = datetime.now(UTC)
    await sender.invoice_event(first_invoice(names, now), names["in"])
    paid = await sender.invoice_event(
        InvoicePaid(
            invoice_id=names["in"],
            customer_id=names["cus"],
            subscription_id=names["sub"],
            amount_paid=2999,
            currency="USD",
            paid_at=now + timedelta(seconds=2),
        ),
        names["in"],
    )
    activated = await watcher.answer_to(paid)
    assert activated.event_type == "SubscriptionActivated"
    assert activated.data.current_period_start == now
    assert activated.data.current_period_end > now
    assert activated.correlation_id == paid.correlation_id

    stream_id = f"subscription-{names['sub']}"
    scheduled = await watcher.answer_to(
        await sender.command(
            CancelSubscription(subscription_id=names["sub"], at_period_end=True, reason="unused"),
            stream_id,
        )
    )
    assert scheduled.event_type == "CancellationScheduled"
    assert scheduled.data.cancel_at == activated.data.current_period_end

    canceled = await watcher.answer_to(
        await sender.command(
            CancelSubscription(subscription_id=names["sub"], reason="too_expensive", comment="bye"),
            stream_id,
        )
    )
    assert canceled.event_type == "SubscriptionCanceled"
    assert (canceled.data.reason, canceled.data.comment) == ("too_expensive", "bye")
    assert canceled.data.customer_id == names["cus"]

    again = await sender.command(CancelSubscription(subscription_id=names["sub"]), stream_id)
    rejected = await watcher.answer_to(again)
    assert rejected.data == CommandRejected(
        command_id=str(again.event_id),
        command_type="CancelSubscription",
        code="already_canceled",
        message=f"subscription {names['sub']} is already canceled",
    )
    assert rejected.stream_id == stream_id

    history = await PostgresEventStore(service_pool).read_stream(stream_id)
    assert [e.event_type for e in history] == [
        "SubscriptionCreated",
        "SubscriptionActivated",
        "CancellationScheduled",
        "SubscriptionCanceled",
    ]


async def test_declined_first_charge_fails_activation(service, watcher, producer) -> None:
    sender = Sender(producer, f"mer_{uuid.uuid4().hex[:8]}")
    names = ids()
    await create_subscription(sender, watcher, names)
    await sender.invoice_event(first_invoice(names, datetime.now(UTC)), names["in"])
    failed = await sender.invoice_event(
        ChargeFailed(
            invoice_id=names["in"],
            charge_id="ch_1",
            amount=2999,
            currency="USD",
            payment_method=CardSummary(
                payment_method_id=names["pm"],
                brand="visa",
                last4="0002",
                exp_month=12,
                exp_year=2030,
            ),
            decline_code="card_declined",
            message="Your card was declined.",
        ),
        names["in"],
    )
    answer = await watcher.answer_to(failed)
    assert answer.event_type == "SubscriptionActivationFailed"
    assert (answer.data.decline_code, answer.data.message) == (
        "card_declined",
        "Your card was declined.",
    )


async def test_unknown_references_are_rejected(service, watcher, producer) -> None:
    sender = Sender(producer, f"mer_{uuid.uuid4().hex[:8]}")
    names = ids()
    command = await sender.command(
        CreateSubscription(
            subscription_id=names["sub"],
            customer_id=names["cus"],
            plan_id=names["plan"],
            payment_method_id=names["pm"],
        ),
        f"subscription-{names['sub']}",
    )
    answer = await watcher.answer_to(command)
    assert answer.event_type == "CommandRejected"
    assert answer.data.code == "plan_not_found"
    assert answer.stream_id == f"subscription-{names['sub']}"


async def test_twenty_cancels_over_kafka_give_one_cancellation(
    service, watcher, producer, service_pool
) -> None:
    sender = Sender(producer, f"mer_{uuid.uuid4().hex[:8]}")
    names = ids()
    await create_subscription(sender, watcher, names)
    stream_id = f"subscription-{names['sub']}"
    cancels = await asyncio.gather(
        *(
            sender.command(CancelSubscription(subscription_id=names["sub"]), stream_id)
            for _ in range(20)
        )
    )
    sent = {c.event_id for c in cancels}
    answers = await watcher.wait_for(lambda e: e.causation_id in sent, count=20)
    types = sorted(a.event_type for a in answers)
    assert types == ["CommandRejected"] * 19 + ["SubscriptionCanceled"]
    history = await PostgresEventStore(service_pool).read_stream(stream_id)
    assert [e.event_type for e in history] == ["SubscriptionCreated", "SubscriptionCanceled"]


async def read_dead_letters(bootstrap: str, topic: str, timeout: float = 30.0) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        batch = await consumer.getmany(partition, timeout_ms=int(timeout * 1000))
        return batch.get(partition, [])
    finally:
        await consumer.stop()


async def test_malformed_command_is_dead_lettered_and_the_next_one_processed(
    service, watcher, producer, kafka_bootstrap
) -> None:
    sender = Sender(producer, f"mer_{uuid.uuid4().hex[:8]}")
    names = ids()
    stream_id = f"plan-{names['plan']}"
    bad = new_envelope(
        CreatePlan(plan_id=names["plan"], name="Bad", amount=1, currency="USD", interval="month"),
        stream_id=stream_id,
        merchant_id=sender.merchant_id,
        correlation_id=uuid.uuid4(),
    ).model_dump(mode="json")
    bad["data"]["amount"] = -5  # money is never negative: fails the contract
    marker = names["plan"].encode()
    await producer.send_and_wait(
        SUBSCRIPTIONS_COMMANDS.name, orjson.dumps(bad), key=stream_id.encode()
    )
    good = await sender.command(
        CreatePlan(plan_id=names["plan"], name="Good", amount=1, currency="USD", interval="year"),
        stream_id,
    )
    assert (await watcher.answer_to(good)).event_type == "PlanCreated"
    letters = await read_dead_letters(
        kafka_bootstrap, dead_letter_topic(SUBSCRIPTIONS_COMMANDS.name).name
    )
    mine = [r for r in letters if marker in r.value]
    assert len(mine) == 1
    assert dict(mine[0].headers)["dlq.reason"] == b"malformed"


async def activate(sender: Sender, watcher, names: dict[str, str]) -> Envelope:
    """Invoicing's part, played by the test: the first invoice is issued and paid now."""
    now = datetime.now(UTC)
    await sender.invoice_event(first_invoice(names, now), names["in"])
    paid = await sender.invoice_event(
        InvoicePaid(
            invoice_id=names["in"],
            customer_id=names["cus"],
            subscription_id=names["sub"],
            amount_paid=2999,
            currency="USD",
            paid_at=now,
        ),
        names["in"],
    )
    activated = await watcher.answer_to(paid)
    assert activated.event_type == "SubscriptionActivated"
    return activated


async def test_advancing_the_test_clock_three_months_publishes_three_renewals_in_order(
    service, watcher, producer
) -> None:
    sender = Sender(producer, f"mer_{uuid.uuid4().hex[:8]}")
    names = ids()
    await create_subscription(sender, watcher, names)
    start = (await activate(sender, watcher, names)).data.current_period_start

    clock_stream = f"clock-{sender.merchant_id}"
    target = add_months(start, 3) + timedelta(minutes=1)
    advance = await sender.command(
        AdvanceTestClock(merchant_id=sender.merchant_id, advance_to=target), clock_stream
    )
    advanced = await watcher.answer_to(advance)
    assert advanced.event_type == "TestClockAdvanced"
    assert (advanced.stream_id, advanced.data.frozen_time) == (clock_stream, target)

    stream_id = f"subscription-{names['sub']}"
    renewed = await watcher.wait_for(
        lambda e: e.stream_id == stream_id and e.event_type == "SubscriptionRenewed", count=3
    )
    # In the topic's order, which is the stream's.
    assert [e.stream_version for e in renewed] == [3, 4, 5]
    assert [(e.data.current_period_start, e.data.current_period_end) for e in renewed] == [
        (add_months(start, n), add_months(start, n + 1)) for n in (1, 2, 3)
    ]
    assert [e.occurred_at for e in renewed] == [add_months(start, n) for n in (1, 2, 3)]
    assert all(e.causation_id == advanced.event_id for e in renewed)
    assert all(e.correlation_id == advance.correlation_id for e in renewed)

    backwards = await sender.command(
        AdvanceTestClock(merchant_id=sender.merchant_id, advance_to=start), clock_stream
    )
    rejected = await watcher.answer_to(backwards)
    assert rejected.event_type == "CommandRejected"
    assert (rejected.stream_id, rejected.data.code) == (clock_stream, "clock_backwards")


async def test_update_payment_method_over_kafka(service, watcher, producer) -> None:
    sender = Sender(producer, f"mer_{uuid.uuid4().hex[:8]}")
    names = ids()
    await create_subscription(sender, watcher, names)
    await activate(sender, watcher, names)
    customer_stream = f"customer-{names['cus']}"
    mastercard = CardSummary(
        payment_method_id=f"{names['pm']}_mc",
        brand="mastercard",
        last4="4444",
        exp_month=6,
        exp_year=2031,
    )
    attached = await sender.command(
        AttachPaymentMethod(customer_id=names["cus"], card=mastercard), customer_stream
    )
    assert (await watcher.answer_to(attached)).event_type == "PaymentMethodAttached"

    stream_id = f"subscription-{names['sub']}"
    update = await sender.command(
        UpdateSubscriptionPaymentMethod(
            subscription_id=names["sub"], payment_method_id=mastercard.payment_method_id
        ),
        stream_id,
    )
    updated = await watcher.answer_to(update)
    assert updated.event_type == "PaymentMethodUpdated"
    assert updated.data.payment_method == mastercard

    foreign = await sender.command(
        UpdateSubscriptionPaymentMethod(
            subscription_id=names["sub"], payment_method_id="pm_not_this_customers"
        ),
        stream_id,
    )
    rejected = await watcher.answer_to(foreign)
    assert (rejected.event_type, rejected.data.code) == (
        "CommandRejected",
        "payment_method_not_found",
    )
