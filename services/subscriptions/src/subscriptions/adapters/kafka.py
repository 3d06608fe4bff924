"""Kafka consumers of the service: its command topic and the invoice events it reacts to.

Both go through ``billing_events.consumer.IdempotentConsumer``: each message is handled in one
PostgreSQL transaction together with its inbox row, retried, then dead-lettered if it keeps
failing. The consumer names double as consumer group ids; keep them stable across releases
(the inbox remembers processed messages by consumer name).
"""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker

from billing_events.consumer import Handler, IdempotentConsumer
from billing_events.contract.commands import command_registry
from billing_events.dead_letter import DeadLetterPublisher
from billing_events.envelope import registry
from billing_events.topics import INVOICES, SUBSCRIPTIONS_COMMANDS

COMMANDS_CONSUMER = "subscriptions.commands"
INVOICE_EVENTS_CONSUMER = "subscriptions.invoice-events"


def attach_consumers(
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    dead_letters: DeadLetterPublisher,
    *,
    commands: Handler,
    invoice_events: Handler,
    max_attempts: int = 5,
) -> list[IdempotentConsumer]:
    """Subscribe the handlers to their topics; call before the broker's consumers start."""
    command_consumer = IdempotentConsumer(
        pool,
        command_registry,
        COMMANDS_CONSUMER,
        commands,
        dead_letters,
        max_attempts=max_attempts,
    )
    command_consumer.attach(broker, SUBSCRIPTIONS_COMMANDS.name, group_id=COMMANDS_CONSUMER)
    invoice_consumer = IdempotentConsumer(
        pool,
        registry,
        INVOICE_EVENTS_CONSUMER,
        invoice_events,
        dead_letters,
        max_attempts=max_attempts,
    )
    invoice_consumer.attach(broker, INVOICES.name, group_id=INVOICE_EVENTS_CONSUMER)
    return [command_consumer, invoice_consumer]
