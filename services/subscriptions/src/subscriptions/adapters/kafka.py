"""Kafka consumers of the service: its command topic, the invoice events it reacts to and the
test clock events that trigger renewal scans.

Both go through ``billing_events.consumer.IdempotentConsumer``: each message is handled in one
PostgreSQL transaction together with its inbox row, retried, then dead-lettered if it keeps
failing. The consumer names double as consumer group ids; keep them stable across releases
(the inbox remembers processed messages by consumer name).
"""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker

from billing_events.consumer import ActsOn, Handler, IdempotentConsumer, SelectiveHandler
from billing_events.contract.commands import command_registry
from billing_events.dead_letter import DeadLetterPublisher
from billing_events.envelope import EventRegistry, registry
from billing_events.topics import CLOCKS, INVOICES, SUBSCRIPTIONS_COMMANDS

COMMANDS_CONSUMER = "subscriptions.commands"
INVOICE_EVENTS_CONSUMER = "subscriptions.invoice-events"
CLOCK_EVENTS_CONSUMER = "subscriptions.clock-events"


def attach_consumers(
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    dead_letters: DeadLetterPublisher,
    *,
    commands: Handler,
    invoice_events: SelectiveHandler,
    clock_events: SelectiveHandler,
    max_attempts: int = 5,
) -> list[IdempotentConsumer]:
    """Subscribe the handlers to their topics; call before the broker's consumers start.

    Every command is acted on; of the event topics, only the types the handlers react to."""
    consumers = []
    handlers_by_topic: tuple[tuple[str, EventRegistry, Handler, ActsOn | None, str], ...] = (
        (COMMANDS_CONSUMER, command_registry, commands, None, SUBSCRIPTIONS_COMMANDS.name),
        (INVOICE_EVENTS_CONSUMER, registry, invoice_events, invoice_events.acts_on, INVOICES.name),
        (CLOCK_EVENTS_CONSUMER, registry, clock_events, clock_events.acts_on, CLOCKS.name),
    )
    for name, event_registry, handler, acts_on, topic in handlers_by_topic:
        consumer = IdempotentConsumer(
            pool,
            event_registry,
            name,
            handler,
            dead_letters,
            max_attempts=max_attempts,
            acts_on=acts_on,
        )
        consumer.attach(broker, topic, group_id=name)
        consumers.append(consumer)
    return consumers
