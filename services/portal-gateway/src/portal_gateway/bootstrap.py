"""The gateway's composition: merchant API, admin API, command path, projections, portal.

``app.register`` calls :func:`register_gateway` with servicekit's :class:`Service`. What needs
the database is built when the service starts (:class:`GatewayRuntime`); routes are mounted
before that and reach the runtime through providers, so the app can be built first.

Start order (after servicekit's pool, topics and producer): the background pool, the
gateway's parts (read model, LISTEN connection, command gateway, API), the outbox relay, the
projection consumer, the housekeeping (idempotency keys past their lifetime, ended portal
sessions). Stop order is the reverse.

Requests and background work (projection consumer, relay, LISTEN) use separate connection
pools: when hundreds of requests wait for their commands' outcomes, the projection that
records those outcomes must not queue behind them for a connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import asyncpg
import structlog
from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from billing_events.outbox import OutboxRelay
from billing_events.postgres import create_pool
from payments import PaymentProcessor, simulated_processor
from portal_gateway.adapters.command_gateway import OutboxCommandGateway
from portal_gateway.adapters.housekeeping import Periodic
from portal_gateway.adapters.portal_sessions import PortalSessionLinks
from portal_gateway.adapters.postgres.idempotency import PostgresIdempotencyStore
from portal_gateway.adapters.postgres.merchants import PostgresMerchants
from portal_gateway.adapters.postgres.portal_visits import SessionWithOverview
from portal_gateway.adapters.postgres.read_model import PostgresReadModel
from portal_gateway.adapters.postgres.rebuild import consumer_group
from portal_gateway.adapters.postgres.schema import MIGRATIONS
from portal_gateway.adapters.postgres.signals import ProjectionSignals
from portal_gateway.adapters.projection_consumer import PROJECTION_TOPICS, ProjectionConsumer
from portal_gateway.api.admin_routes import Rebuild, admin_router
from portal_gateway.api.merchant_routes import merchant_router
from portal_gateway.application.api_key_cache import ApiKeyCache
from portal_gateway.application.merchant_api import MerchantApi, Timeouts
from portal_gateway.application.merchants import Merchants
from portal_gateway.application.test_clocks import TestClocks
from portal_gateway.domain.idempotency import KEY_LIFETIME
from portal_gateway.settings import Settings
from servicekit import Service

log = structlog.stdlib.get_logger(__name__)

T = TypeVar("T")

RELAY_NAME = "portal-gateway"
PRUNE_INTERVAL_SECONDS = 3600.0
# Ended portal sessions are kept a day (an expired link still shows the merchant's branding);
# purging a few times an hour keeps the tables small without mattering for correctness.
SESSION_PURGE_INTERVAL_SECONDS = 900.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class NotStarted(RuntimeError):
    """A part of the gateway was used before the service started (or after it stopped)."""


class GatewayRuntime:
    """The gateway's parts that need the database pool; built when the service starts."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        processor: PaymentProcessor | None = None,
        projection_topics: Sequence[str] = PROJECTION_TOPICS,
        background_pool: Callable[[], asyncpg.Pool] | None = None,
    ) -> None:
        self._pool = pool
        self._background_pool = background_pool or pool
        self._settings = settings
        self._clock = clock
        self._processor = processor
        self._projection_topics = tuple(projection_topics)
        self._parts: dict[str, Any] = {}
        self._relay: OutboxRelay | None = None
        self.idempotency_pruning = Periodic(
            "idempotency-keys", self._prune_idempotency_keys, interval=PRUNE_INTERVAL_SECONDS
        )

    def _part(self, name: str) -> Any:
        try:
            return self._parts[name]
        except KeyError:
            raise NotStarted(f"the gateway's {name} is not running") from None

    @property
    def read_model(self) -> PostgresReadModel:
        part: PostgresReadModel = self._part("read_model")
        return part

    @property
    def portal_visits(self) -> SessionWithOverview:
        part: SessionWithOverview = self._part("portal_visits")
        return part

    @property
    def signals(self) -> ProjectionSignals:
        part: ProjectionSignals = self._part("signals")
        return part

    @property
    def commands(self) -> OutboxCommandGateway:
        part: OutboxCommandGateway = self._part("commands")
        return part

    @property
    def merchants(self) -> Merchants:
        part: Merchants = self._part("merchants")
        return part

    @property
    def idempotency(self) -> PostgresIdempotencyStore:
        part: PostgresIdempotencyStore = self._part("idempotency")
        return part

    @property
    def processor(self) -> PaymentProcessor:
        part: PaymentProcessor = self._part("processor")
        return part

    @property
    def clocks(self) -> TestClocks:
        part: TestClocks = self._part("clocks")
        return part

    @property
    def api(self) -> MerchantApi:
        part: MerchantApi = self._part("api")
        return part

    async def run_relay(self) -> None:
        """The outbox relay: commands and MerchantRegistered to Kafka, until stopped."""
        # Built here, not at start: its producer belongs to the task that runs it.
        relay = OutboxRelay(
            self._background_pool(), self._settings.kafka_bootstrap_servers, name=RELAY_NAME
        )
        self._relay = relay
        await relay.run()

    @property
    def consumer(self) -> ProjectionConsumer:
        part: ProjectionConsumer = self._part("consumer")
        return part

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        settings = self._settings
        pool, background = self._pool(), self._background_pool()
        read_model = PostgresReadModel(pool)
        signals = ProjectionSignals(background)
        await signals.start()
        commands = OutboxCommandGateway(pool, signals, read_model)
        processor = self._processor or simulated_processor(
            settings.processor_sim_secret.get_secret_value(), self._clock, env=settings.env
        )
        consumer = ProjectionConsumer(
            background, settings.kafka_bootstrap_servers, topic_names=self._projection_topics
        )
        signals.on_control(consumer.on_control)
        self._parts = {
            "processor": processor,
            "read_model": read_model,
            "portal_visits": SessionWithOverview(pool, read_model),
            "signals": signals,
            "commands": commands,
            "merchants": Merchants(
                PostgresMerchants(pool), key_cache=api_key_cache(settings.api_key_cache_seconds)
            ),
            "idempotency": PostgresIdempotencyStore(pool),
            "api": MerchantApi(
                commands=commands,
                reads=read_model,
                waiter=signals,
                processor=processor,
                sessions=PortalSessionLinks(pool, settings.public_url),
                clock=self._clock,
                timeouts=Timeouts(
                    command=settings.command_timeout, activation=settings.activation_timeout
                ),
            ),
            "clocks": TestClocks(
                commands=commands, reads=read_model, timeout=settings.command_timeout
            ),
            "consumer": consumer,
        }

    async def stop(self) -> None:
        signals = self._parts.get("signals")
        self._parts = {}
        if signals is not None:
            await signals.stop()

    async def stop_relay(self) -> None:
        if self._relay is not None:
            self._relay.stop()

    async def start_consumer(self) -> None:
        await self.consumer.start()

    async def stop_consumer(self) -> None:
        consumer = self._parts.get("consumer")
        if consumer is not None:
            await consumer.stop()

    async def rebuild(self) -> tuple[int, str]:
        consumer = self.consumer
        generation = await consumer.rebuild()
        return generation, consumer.group_id or consumer_group(generation)

    async def _prune_idempotency_keys(self) -> int:
        """Forget idempotency keys past their lifetime."""
        return await self.idempotency.prune(self._clock() - KEY_LIFETIME)


def api_key_cache(ttl_seconds: float) -> ApiKeyCache | None:
    """The in-process cache of valid API keys; None (every request looks up) when 0."""
    return ApiKeyCache(ttl_seconds) if ttl_seconds > 0 else None


class BackgroundPool:
    """The connection pool of the gateway's background work, open while the service runs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None

    def get(self) -> asyncpg.Pool:
        if self._pool is None:
            raise NotStarted("the gateway's background pool is not open")
        return self._pool

    async def open(self) -> None:
        settings = self._settings
        self._pool = await create_pool(
            settings.database_url, settings.db_schema, max_size=settings.background_pool_size
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


class Deferred(Generic[T]):
    """Stands for an object that exists only once the service runs, forwarding attribute
    access to it. For parts (the portal's router) that take their collaborators when the
    app is built, before the pool exists."""

    def __init__(self, resolve: Callable[[], T]) -> None:
        self._resolve = resolve

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)


def gateway_routers(runtime: GatewayRuntime, settings: Settings) -> list[Router]:
    """The merchant API (``/v1``) and the operator API (``/admin``) over ``runtime``."""
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    rebuild: Rebuild = runtime.rebuild
    return [
        merchant_router(
            api=lambda: runtime.api,
            authenticate=lambda: runtime.merchants.authenticate,
            idempotency=lambda: runtime.idempotency,
        ),
        admin_router(
            admin_token=admin_token,
            merchants=lambda: runtime.merchants,
            reads=lambda: runtime.read_model,
            rebuild=lambda: rebuild,
            clocks=lambda: runtime.clocks,
        ),
    ]


def register_gateway(
    service: Service, settings: Settings, *, include_portal: bool = True
) -> GatewayRuntime:
    """Wire the merchant API, the admin API, the command path, the projections and (unless
    ``include_portal`` is False) the customer portal into ``service``."""
    background = BackgroundPool(settings)
    runtime = GatewayRuntime(lambda: service.pool, settings, background_pool=background.get)
    service.add_migrations(MIGRATIONS)
    service.add_component("background-pool", background.open, background.close)
    service.add_component("gateway", runtime.start, runtime.stop)
    service.add_task("outbox-relay", runtime.run_relay, runtime.stop_relay)
    service.add_component("projection-consumer", runtime.start_consumer, runtime.stop_consumer)
    pruning = runtime.idempotency_pruning
    service.add_task("idempotency-pruning", pruning.run, pruning.stop)
    service.add_check("projection-consumer", lambda: runtime.consumer.check())
    service.add_check("projection-signals", lambda: runtime.signals.check())

    service.add_routes(*gateway_routers(runtime, settings))
    if include_portal:
        _register_portal(service, settings, runtime)
    return runtime


API_DESCRIPTION = """\
The merchant API of the self-hosted billing system, and its operator API.

**Authentication.** `/v1` takes a merchant's secret key (`Authorization: Bearer sk_test_...`,
created with `billingctl merchants create`); `/admin` takes the operator token (ADMIN_TOKEN).

**Idempotency.** Every `POST` accepts an `Idempotency-Key` header: the same key with the same
request replays the first response (with `Idempotent-Replayed: true`); the same key with a
different request answers 422 `idempotency_key_reused`; while the first is still running, 409
`idempotency_key_in_use`. Keys are kept for 24 hours.

**Errors** are JSON `{"error": {"code", "message", "param"?}}` with stable codes.

**Consistency.** A write answers once the gateway's read model shows its outcome. If that takes
longer than a bounded wait, it answers 202 with the resource id: the request is queued and
will be processed; poll the resource or retry with the same Idempotency-Key.

Money is an integer amount in the currency's minor unit plus an ISO-4217 code; times are UTC.
"""


def openapi_config(settings: Settings, version: str = "0.1.0") -> OpenAPIConfig:
    """The OpenAPI document at /schema, with the two bearer schemes the API uses."""
    return OpenAPIConfig(
        title=settings.service_name,
        version=version,
        description=API_DESCRIPTION,
        components=Components(
            security_schemes={
                "bearerAuth": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="A merchant's secret API key, sk_test_...",
                ),
                "adminToken": SecurityScheme(
                    type="http", scheme="bearer", description="The operator token, ADMIN_TOKEN"
                ),
            }
        ),
    )


def _register_portal(service: Service, settings: Settings, runtime: GatewayRuntime) -> None:
    from portal_gateway.portal import (
        PORTAL_MIGRATIONS,
        PortalSettings,
        portal_router,
        purge_expired,
    )

    async def purge_sessions() -> int:
        return await purge_expired(service.pool, now=utc_now())

    purging = Periodic(
        "portal-sessions",
        purge_sessions,
        interval=SESSION_PURGE_INTERVAL_SECONDS,
        run_at_start=True,
    )
    service.add_migrations(PORTAL_MIGRATIONS)
    service.add_task("portal-session-purge", purging.run, purging.stop)
    service.add_routes(
        portal_router(
            Deferred(lambda: runtime.read_model),
            Deferred(lambda: runtime.commands),
            Deferred(lambda: service.pool),
            PortalSettings.for_env(settings.env, command_timeout=settings.command_timeout),
            processor=Deferred(lambda: runtime.processor),
            visits=Deferred(lambda: runtime.portal_visits),
        )
    )
