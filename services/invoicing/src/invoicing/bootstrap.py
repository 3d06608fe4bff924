"""Composition of the invoicing service: store, processor, consumer and outbox relay.

``install(service, settings)`` registers everything on a ``servicekit.Service`` (which owns
the pool, the broker, migrations at start, health and the ordered start/stop)::

    postgres + migrations (event store, outbox, inbox, invoice numbers, pending charges,
                           subscription terms)
      -> dead-letter producer -> subscription-events consumer attached -> outbox relay
      -> stalled-charge recovery -> kafka consumers start (servicekit, last)

``app.register`` calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import asyncpg
import structlog

# Registers every event model in the public registry the store and consumer parse with.
import billing_events.contract  # noqa: F401
from billing_events.consumer import INBOX_MIGRATIONS, IdempotentConsumer
from billing_events.dead_letter import KafkaDeadLetterPublisher
from billing_events.outbox import OutboxRelay, relay_lag
from billing_events.store import MIGRATIONS as EVENT_STORE_MIGRATIONS
from billing_events.store import PostgresEventStore
from invoicing.adapters.clock import system_clock
from invoicing.adapters.kafka import SUBSCRIPTION_EVENTS_CONSUMER, attach_consumer
from invoicing.adapters.postgres import (
    MIGRATIONS,
    PoolTransactions,
    PostgresInvoiceNumbers,
    PostgresPendingCharges,
    PostgresSubscriptionTerms,
)
from invoicing.adapters.processor import configured_processor
from invoicing.application.charging import InvoiceCharger
from invoicing.application.invoices import InvoiceStore
from invoicing.application.issuing import InvoiceIssuer
from invoicing.application.ports import Clock
from invoicing.application.recovery import StalledChargeRecovery
from invoicing.application.subscription_events import SubscriptionEventHandler
from invoicing.settings import Settings
from payments import PaymentProcessor
from servicekit.service import Service
from servicekit.settings import SettingsError

# Advisory locks are per database and several services may share one: the relay's lock name
# must be this service's own, or one service's relay would keep the others' waiting.
RELAY_NAME = "invoicing"
# How often invoices whose charge nobody finished are looked for (application.recovery).
RECOVERY_INTERVAL_SECONDS = 30.0

log = structlog.stdlib.get_logger(__name__)


@dataclass
class Wiring:
    """What ``install`` built; the consumer and relay appear as the service starts."""

    service: Service
    processor: PaymentProcessor
    clock: Clock
    dead_letters: KafkaDeadLetterPublisher
    consumer: IdempotentConsumer | None = None
    relay: OutboxRelay | None = None
    recovery: StalledChargeRecovery | None = None


@dataclass(frozen=True)
class _Parts:
    """The application objects over one pool."""

    handler: SubscriptionEventHandler
    recovery: StalledChargeRecovery

    @classmethod
    def over(cls, pool: asyncpg.Pool, processor: PaymentProcessor, clock: Clock) -> _Parts:
        invoices = InvoiceStore(PostgresEventStore(pool))
        transactions = PoolTransactions(pool)
        pending = PostgresPendingCharges(pool)
        charger = InvoiceCharger(invoices, transactions, pending, processor, clock)
        issuer = InvoiceIssuer(invoices, transactions, PostgresInvoiceNumbers(), pending, clock)
        return cls(
            handler=SubscriptionEventHandler(
                transactions=transactions,
                terms=PostgresSubscriptionTerms(),
                issuer=issuer,
                charger=charger,
                clock=clock,
            ),
            recovery=StalledChargeRecovery(invoices, transactions, pending, charger, clock),
        )


def install(
    service: Service,
    settings: Settings,
    *,
    clock: Clock = system_clock,
    processor: PaymentProcessor | None = None,
    consumer_group: str = SUBSCRIPTION_EVENTS_CONSUMER,
    recovery_interval: float = RECOVERY_INTERVAL_SECONDS,
) -> Wiring:
    """Register invoicing's parts on ``service``. Raises ``SettingsError`` for an unusable
    processor secret, before anything starts. ``processor`` and ``consumer_group`` are for
    tests; a process takes the configured processor and the service's own group."""
    if processor is None:
        processor = _processor_from(settings, clock)
    dead_letters = KafkaDeadLetterPublisher(
        settings.bootstrap_servers, client_id=f"{settings.service_name}-dead-letters"
    )
    wiring = Wiring(service, processor, clock, dead_letters)
    service.add_migrations([*EVENT_STORE_MIGRATIONS, *INBOX_MIGRATIONS, *MIGRATIONS])
    service.add_component("dead-letter-producer", dead_letters.start, dead_letters.stop)

    async def attach() -> None:
        # The pool exists only once the service started, hence attaching here rather than
        # at install time; servicekit starts the broker's consumers after this component.
        parts = _Parts.over(service.pool, wiring.processor, clock)
        wiring.recovery = parts.recovery
        wiring.consumer = attach_consumer(
            service.broker, service.pool, dead_letters, parts.handler, group_id=consumer_group
        )

    service.add_component("invoicing-consumer", attach)

    async def run_relay() -> None:
        relay = OutboxRelay(service.pool, settings.kafka_bootstrap_servers, name=RELAY_NAME)
        wiring.relay = relay
        await relay.run()

    async def stop_relay() -> None:
        if wiring.relay is not None:
            wiring.relay.stop()

    recovery_stopping = asyncio.Event()

    async def run_recovery() -> None:
        recovery_stopping.clear()
        while not recovery_stopping.is_set():
            if wiring.recovery is not None:
                try:
                    await wiring.recovery.run_once()
                except Exception:
                    # The database is away: the next round tries again.
                    log.exception("stalled-charge recovery round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recovery_stopping.wait(), recovery_interval)

    async def stop_recovery() -> None:
        recovery_stopping.set()

    service.add_task("outbox-relay", run_relay, stop_relay)
    service.add_task("charge-recovery", run_recovery, stop_recovery)
    service.add_check("outbox-lag", lambda: _lag(service.pool))
    return wiring


def _processor_from(settings: Settings, clock: Clock) -> PaymentProcessor:
    try:
        return configured_processor(
            settings.processor_sim_secret.get_secret_value(), clock, env=settings.env
        )
    except ValueError as exc:
        # The same shape as servicekit's message for a bad environment; the secret is not shown.
        raise SettingsError(
            f"{settings.service_name}: invalid configuration (set these environment variables):"
            f"\n  PROCESSOR_SIM_SECRET: {exc}"
        ) from None


async def _lag(pool: asyncpg.Pool) -> dict[str, float]:
    lag = await relay_lag(pool, RELAY_NAME)
    return {
        "pending": lag.pending,
        "oldest_pending_age_seconds": round(lag.oldest_pending_age_seconds, 3),
        "published_total": lag.published_total,
    }
