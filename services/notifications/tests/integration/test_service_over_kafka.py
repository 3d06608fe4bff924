"""The notifications service as deployed: events on the real broker, mail on a real SMTP server.

The service is composed exactly as in production (``servicekit.Service`` + ``install``) on
the test's own schema and consumer group; events are published the way the other services'
outbox relays publish them: to their category's topic, keyed by stream id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata

from billing_events.envelope import Envelope
from billing_events.topics import topic_for_stream
from notifications.adapters.smtp import SmtpSettings
from notifications.bootstrap import Wiring, install
from notifications.settings import Settings
from servicekit.service import Service

pytestmark = pytest.mark.integration

WAIT = 60.0  # joining a consumer group on a cold broker takes a few seconds


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {WAIT:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def notifications_service(
    postgres_url: str, schema: str, bootstrap: str, sink: Any, *, group_id: str | None = None
) -> AsyncIterator[Wiring]:
    settings = Settings(
        database_url=postgres_url,
        db_schema=schema,
        kafka_bootstrap_servers=bootstrap,
        smtp_host=sink.host,
        smtp_port=sink.port,
        shutdown_timeout=10.0,
    )
    service = Service(settings)
    wiring = install(
        service,
        smtp=SmtpSettings(host=sink.host, port=sink.port, sender="Billing <billing@example.com>"),
        group_id=group_id or new_group_id(),
        poll_interval=1.0,
    )
    await service.start()
    try:
        yield wiring
    finally:
        await service.stop()


def new_group_id() -> str:
    return f"notifications-test-{uuid.uuid4().hex[:8]}"


Publish = Callable[[Envelope], Awaitable[RecordMetadata]]


@asynccontextmanager
async def publisher(bootstrap: str) -> AsyncIterator[Publish]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()

    async def publish(envelope: Envelope) -> RecordMetadata:
        return await producer.send_and_wait(
            topic_for_stream(envelope.stream_id).name,
            envelope.to_json(),
            key=envelope.stream_id.encode(),
            headers=[(k, v.encode()) for k, v in envelope.kafka_headers().items()],
        )

    try:
        yield publish
    finally:
        await producer.stop()


async def committed_past(bootstrap: str, group_id: str, published: RecordMetadata) -> bool:
    """Whether the group has committed its offset past ``published``: it has an outcome,
    whether or not the service had anything to do for it."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id)
    await reader.start()
    try:
        partition = TopicPartition(published.topic, published.partition)
        committed = await reader.committed(partition)
        return committed is not None and committed > published.offset
    finally:
        await reader.stop()


async def test_one_receipt_in_spanish_even_when_the_payment_is_redelivered(
    pg_pool: asyncpg.Pool,
    postgres_url: str,
    schema_name: str,
    kafka_bootstrap: str,
    smtp_sink: Any,
    events: Any,
) -> None:
    paid = events.invoice_paid()
    group_id = new_group_id()
    async with (
        notifications_service(
            postgres_url, schema_name, kafka_bootstrap, smtp_sink, group_id=group_id
        ) as wiring,
        publisher(kafka_bootstrap) as publish,
    ):
        for envelope in (
            events.merchant_registered(),
            events.customer_registered(locale="es"),
            events.invoice_issued(),
            paid,
        ):
            await publish(envelope)

        async def receipt_arrived() -> bool:
            return len(smtp_sink.to(events.email())) >= 1

        await eventually(receipt_arrived, "the receipt")
        [receipt] = smtp_sink.to(events.email())
        assert receipt["Subject"].startswith("Tu recibo de TechSolutions Inc. n.º TS-1-")
        text = receipt.get_body(("plain",)).get_content()
        assert "Hola, Ana:" in text
        assert "Importe pagado: 29,99\xa0€" in text
        assert "Fecha de pago: 5 de enero de 2025" in text
        html = receipt.get_body(("html",)).get_content()
        assert '<html lang="es">' in html

        # The relay republishes the payment (a crash before it recorded its progress). A
        # later event of the same stream, on the same partition, tells when it was consumed.
        await publish(paid)
        # An event notifications has no use for: settled without an inbox row.
        marker = await publish(events.invoice_marked_uncollectible())
        await eventually(
            lambda: committed_past(kafka_bootstrap, group_id, marker),
            "the redelivery to be consumed",
        )
        assert wiring.delivery is not None
        await wiring.delivery.deliver_due()

        assert len(smtp_sink.to(events.email())) == 1
        # Only this test's mail: the topics are shared with other tests in the session.
        rows = await pg_pool.fetch(
            "SELECT kind, status FROM mail_log WHERE event_id = $1", paid.event_id
        )
        assert [(r["kind"], r["status"]) for r in rows] == [("receipt", "sent")]
        assert wiring.sender is not None
        assert wiring.sender.connected  # kept open between mails
    # Stopping the service ends its SMTP connection (QUIT) instead of leaving it to time out.
    assert not wiring.sender.connected


async def test_mail_for_events_that_arrive_before_their_customer_and_merchant(
    pg_pool: asyncpg.Pool,
    postgres_url: str,
    schema_name: str,
    kafka_bootstrap: str,
    smtp_sink: Any,
    events: Any,
) -> None:
    async with (
        notifications_service(postgres_url, schema_name, kafka_bootstrap, smtp_sink),
        publisher(kafka_bootstrap) as publish,
    ):
        # The invoice and subscription streams first; who the mail goes to comes last.
        for envelope in (
            events.invoice_issued(customer="bea"),
            events.invoice_paid(customer="bea"),
            events.subscription_created(customer="carl"),
            events.cancellation_scheduled(),
            events.merchant_registered(),
            events.customer_registered(customer="bea", locale="pt"),
            events.customer_registered(customer="carl", locale="fr"),
        ):
            await publish(envelope)

        async def both_arrived() -> bool:
            return bool(smtp_sink.to(events.email("bea")) and smtp_sink.to(events.email("carl")))

        await eventually(both_arrived, "the receipt and the cancellation confirmation")
        [receipt] = smtp_sink.to(events.email("bea"))
        assert receipt["Subject"].startswith("Seu recibo de TechSolutions Inc. nº TS-1-")
        [confirmation] = smtp_sink.to(events.email("carl"))
        assert confirmation["Subject"] == (
            "Votre abonnement Premium Monthly prendra fin le 5 février 2025"
        )
        assert confirmation["Reply-To"] == "help@techsolutions.example"
        assert confirmation["From"].addresses[0].display_name == "TechSolutions Inc."
