"""Composition of the subscriptions service: store, handlers, consumers and outbox relay.

``install(service, settings)`` registers everything on a ``servicekit.Service`` (which owns
the pool, the broker, migrations at start, health and the ordered start/stop)::

    postgres + migrations (event store, outbox, inbox, invoice links, test clocks, schedule)
      -> dead-letter producer -> handlers built, consumers attached
      -> subscriptions written before the renewal schedule existed put on it
      -> outbox relay -> renewal worker (a sweep at once, then every RENEWAL_SCAN_INTERVAL)
      -> kafka consumers start (servicekit, last)

``subscriptions.app.register`` calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import structlog

# Registers every event model in the public registry the store and consumers parse with.
import billing_events.contract  # noqa: F401
from billing_events.consumer import INBOX_MIGRATIONS, IdempotentConsumer
from billing_events.dead_letter import KafkaDeadLetterPublisher
from billing_events.outbox import OutboxRelay, relay_lag
from billing_events.store import MIGRATIONS as EVENT_STORE_MIGRATIONS
from billing_events.store import PostgresEventStore
from servicekit.service import Service
from subscriptions.adapters.clock import system_clock
from subscriptions.adapters.kafka import attach_consumers
from subscriptions.adapters.postgres import (
    MIGRATIONS,
    PoolTransactions,
    PostgresFrozenClocks,
    PostgresInvoiceLinks,
    PostgresRenewalSchedule,
    TransactionalOutbox,
    unscheduled_subscriptions,
)
from subscriptions.adapters.renewal_worker import RenewalWorker
from subscriptions.application.commands import CommandHandler
from subscriptions.application.invoice_events import InvoiceEventHandler
from subscriptions.application.merchant_time import MerchantTime
from subscriptions.application.ports import Clock
from subscriptions.application.renewals import ClockEventHandler, RenewalScan
from subscriptions.application.writer import Writer
from subscriptions.settings import Settings

log = structlog.stdlib.get_logger(__name__)

# Advisory locks are per database and several services may share one: the relay's lock name
# must be this service's own, or one service's relay would keep the others' waiting.
RELAY_NAME = "subscriptions"


@dataclass
class Wiring:
    """What ``install`` built; filled in as the service starts."""

    service: Service
    clock: Clock
    relay: OutboxRelay | None = None
    consumers: list[IdempotentConsumer] = field(default_factory=list)
    dead_letters: KafkaDeadLetterPublisher | None = None
    renewals: RenewalWorker | None = None


def install(service: Service, settings: Settings, *, clock: Clock = system_clock) -> Wiring:
    """``clock`` is the wall clock: merchants without a test clock live in its time."""
    wiring = Wiring(service, clock)
    service.add_migrations([*EVENT_STORE_MIGRATIONS, *INBOX_MIGRATIONS, *MIGRATIONS])

    dead_letters = KafkaDeadLetterPublisher(
        settings.bootstrap_servers, client_id=f"{settings.service_name}-dead-letters"
    )
    wiring.dead_letters = dead_letters
    service.add_component("dead-letter-producer", dead_letters.start, dead_letters.stop)

    async def attach() -> None:
        # The pool exists only once the service started, hence attaching here rather than
        # at install time; servicekit starts the broker's consumers after this component.
        pool = service.pool
        clocks = PostgresFrozenClocks(pool)
        schedule = PostgresRenewalSchedule(pool)
        writer = Writer(PostgresEventStore(pool), schedule, clocks)
        merchant_time = MerchantTime(clocks, clock)
        scan = RenewalScan(writer, merchant_time, clock, PoolTransactions(pool))
        worker = RenewalWorker(scan, interval=settings.renewal_scan_interval)
        wiring.renewals = worker
        wiring.consumers = attach_consumers(
            service.broker,
            pool,
            dead_letters,
            commands=CommandHandler(
                writer,
                TransactionalOutbox(),
                merchant_time,
                test_clocks_enabled=settings.test_clocks_allowed,
            ),
            invoice_events=InvoiceEventHandler(writer, PostgresInvoiceLinks(), merchant_time),
            clock_events=ClockEventHandler(worker),
        )
        if await schedule.is_empty():
            adopted = await scan.adopt(await unscheduled_subscriptions(pool))
            if adopted:
                log.info("subscriptions put on the renewal schedule", count=adopted)

    service.add_component("subscriptions-consumers", attach)

    async def run_relay() -> None:
        relay = OutboxRelay(service.pool, settings.kafka_bootstrap_servers, name=RELAY_NAME)
        wiring.relay = relay
        await relay.run()

    async def stop_relay() -> None:
        if wiring.relay is not None:
            wiring.relay.stop()

    service.add_task("outbox-relay", run_relay, stop_relay)

    async def run_renewals() -> None:
        assert wiring.renewals is not None  # built by the consumers' component, started first
        await wiring.renewals.run()

    def stop_renewals() -> None:
        if wiring.renewals is not None:
            wiring.renewals.stop()

    service.add_task("renewals", run_renewals, stop_renewals)
    service.add_check("outbox-lag", lambda: _lag(service.pool))
    return wiring


async def _lag(pool: asyncpg.Pool) -> dict[str, float]:
    lag = await relay_lag(pool, RELAY_NAME)
    return {
        "pending": lag.pending,
        "oldest_pending_age_seconds": round(lag.oldest_pending_age_seconds, 3),
        "published_total": lag.published_total,
    }
