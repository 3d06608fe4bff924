"""The service's one Kafka consumer: the four event topics it projects and mails from.

One consumer group over all four topics. Events of one stream stay in order (one partition),
events of different topics do not: a receipt may be asked for before its customer arrives,
which the mail log handles by waiting. The consumer name is the inbox's key for processed
events: keep it stable across releases, or every redelivered event looks new.
"""

from __future__ import annotations

from typing import Final

import asyncpg
from faststream.kafka import KafkaBroker

from billing_events.consumer import IdempotentConsumer, SelectiveHandler
from billing_events.dead_letter import DeadLetterPublisher
from billing_events.envelope import registry
from billing_events.topics import CUSTOMERS, INVOICES, MERCHANTS, SUBSCRIPTIONS

CONSUMER_NAME: Final = "notifications"
GROUP_ID: Final = "notifications"
TOPICS: Final = (MERCHANTS.name, CUSTOMERS.name, SUBSCRIPTIONS.name, INVOICES.name)


def attach_consumer(
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    dead_letters: DeadLetterPublisher,
    handler: SelectiveHandler,
    *,
    group_id: str = GROUP_ID,
    max_attempts: int = 5,
) -> IdempotentConsumer:
    """Subscribe ``handler`` to the four topics; call before the broker's consumers start.
    The events it neither projects nor mails for are settled without a transaction."""
    consumer = IdempotentConsumer(
        pool,
        registry,
        CONSUMER_NAME,
        handler,
        dead_letters,
        max_attempts=max_attempts,
        acts_on=handler.acts_on,
    )
    consumer.attach(broker, *TOPICS, group_id=group_id)
    return consumer
