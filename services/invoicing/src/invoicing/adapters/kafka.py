"""The Kafka consumer of the invoicing service.

It goes through ``billing_events.consumer.IdempotentConsumer``: each message is handled with
its inbox row, retried, then dead-lettered if it keeps failing. The consumer name doubles as
the consumer group id; keep it stable across releases (the inbox remembers processed messages
by consumer name).
"""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker

from billing_events.consumer import IdempotentConsumer, SelectiveHandler
from billing_events.dead_letter import DeadLetterPublisher
from billing_events.envelope import registry
from billing_events.topics import SUBSCRIPTIONS

SUBSCRIPTION_EVENTS_CONSUMER = "invoicing.subscription-events"


def attach_consumer(
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    dead_letters: DeadLetterPublisher,
    handler: SelectiveHandler,
    *,
    max_attempts: int = 5,
    retry_backoff: float = 0.5,
    group_id: str = SUBSCRIPTION_EVENTS_CONSUMER,
) -> IdempotentConsumer:
    """Subscribe ``handler`` to the subscription events; call before the consumers start.

    The backoff is longer than the library's default: the usual transient failure here is the
    payment processor, which needs seconds rather than milliseconds to come back.
    ``group_id`` is for tests that run several services side by side; processes keep the
    default, which is also the consumer's inbox name.
    """
    consumer = IdempotentConsumer(
        pool,
        registry,
        SUBSCRIPTION_EVENTS_CONSUMER,
        handler,
        dead_letters,
        max_attempts=max_attempts,
        retry_backoff=retry_backoff,
        acts_on=handler.acts_on,
    )
    consumer.attach(broker, SUBSCRIPTIONS.name, group_id=group_id)
    return consumer
