"""The composition helper every service's ``create_app`` uses.

A :class:`Service` owns what all four services have in common (the PostgreSQL pool of the
service's schema and its migrations, the Kafka topics, the FastStream broker, health and
readiness, correlation ids, ordered start and stop) and lets a service register its own parts:
migrations, components, background tasks, readiness checks and routes. Start order::

    postgres (pool + migrations) -> kafka topics -> kafka producer
        -> the service's components and background tasks, in registration order
        -> kafka consumers (last: a handler may need any of the above)

Stop order is the reverse, so consumers stop (and commit) first, then the relay and other
tasks finish, then the producer flushes and disconnects, then the pool closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog
from faststream.kafka import KafkaBroker
from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler, Scope

from billing_events.postgres import Migration, create_pool, migrate
from billing_events.topics import Topic, all_topics
from servicekit.correlation import CorrelationIdMiddleware
from servicekit.health import Check, Phase, Readiness, health_routes
from servicekit.kafka import consumers_check, create_broker, ensure_topics, producer_check
from servicekit.lifecycle import (
    BackgroundTask,
    Lifecycle,
    StartFn,
    StopFn,
    StopRequest,
    TaskFactory,
)
from servicekit.runner import request_shutdown
from servicekit.settings import ServiceSettings

log = structlog.stdlib.get_logger("servicekit.service")

# How the shutdown budget (settings.shutdown_timeout) is shared: in-flight requests get
# runner.IN_FLIGHT_SHARE, the components this share; the runner's hard stop comes after the
# whole budget, so the two must add up to less than 1.
COMPONENTS_SHARE = 0.5
CONSUMER_GRACE_SHARE = 0.25  # part of the components' share: in-flight messages finish


class Service:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        migrations: Sequence[Migration] = (),
        topics: Iterable[Topic] | None = None,
        version: str = "0.1.0",
    ) -> None:
        self.settings = settings
        self.version = version
        self.startup_timeout = settings.startup_timeout
        self.readiness = Readiness()
        self.broker: KafkaBroker = create_broker(
            settings.bootstrap_servers,
            client_id=settings.service_name,
            graceful_timeout=settings.shutdown_timeout * CONSUMER_GRACE_SHARE,
        )
        self.topics: list[Topic] = list(topics) if topics is not None else all_topics()
        self.migrations: list[Migration] = list(migrations)
        self.route_handlers: list[ControllerRouterHandler] = []
        self._components = Lifecycle()
        self._tasks: list[BackgroundTask] = []
        self._lifecycle: Lifecycle | None = None
        self._pool: asyncpg.Pool | None = None

    # -- what a service registers -------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool of this service's schema; available once the service has started."""
        if self._pool is None:
            raise RuntimeError("the PostgreSQL pool exists only while the service runs")
        return self._pool

    def add_migrations(self, migrations: Iterable[Migration]) -> None:
        self.migrations.extend(migrations)

    def add_component(self, name: str, start: StartFn, stop: StopFn | None = None) -> None:
        """Something to start after the infrastructure and before the consumers."""
        self._components.add(name, start, stop)

    def add_task(self, name: str, run: TaskFactory, stop: StopRequest | None = None) -> None:
        """A long-running coroutine, e.g. the outbox relay: ``add_task("relay", relay.run,
        relay.stop)``. ``stop`` (plain or async) asks the loop to finish and return; without
        it the task is cancelled at shutdown.

        It also gets a readiness check, and its unexpected end stops the process.
        """
        task = BackgroundTask(name, run, stop)
        task.on_crash = self._task_crashed
        budget = self.settings.shutdown_timeout * COMPONENTS_SHARE * 0.8
        self._components.add(name, task.start, lambda: task.stop(budget))
        self.readiness.add(f"task:{name}", task.check)
        self._tasks.append(task)

    def add_check(self, name: str, check: Check) -> None:
        self.readiness.add(name, check)

    def add_routes(self, *handlers: ControllerRouterHandler) -> None:
        self.route_handlers.extend(handlers)

    # -- the app ------------------------------------------------------------------------

    def build_app(self, **litestar_options: Any) -> Litestar:
        """The Litestar app: health routes, correlation ids, the lifespan, then the service's.

        ``litestar_options`` go to :class:`litestar.Litestar` (templates, exception handlers,
        extra middleware...); route handlers and middleware are appended to ours.
        """
        self.readiness.add("postgres", self._postgres_check)
        self.readiness.add("kafka-producer", producer_check(self.broker))
        self.readiness.add("kafka-consumers", consumers_check(self.broker))
        route_handlers = [
            *health_routes(self.readiness, self.settings.service_name),
            *self.route_handlers,
            *litestar_options.pop("route_handlers", []),
        ]
        middleware = [CorrelationIdMiddleware(), *litestar_options.pop("middleware", [])]
        lifespan = [self._lifespan, *litestar_options.pop("lifespan", [])]
        after_exception = [_log_unhandled, *litestar_options.pop("after_exception", [])]
        state = litestar_options.pop("state", State())
        state.service = self
        litestar_options.setdefault(
            "openapi_config",
            OpenAPIConfig(title=self.settings.service_name, version=self.version),
        )
        return Litestar(
            route_handlers=route_handlers,
            middleware=middleware,
            lifespan=lifespan,
            after_exception=after_exception,
            state=state,
            # structlog is configured by servicekit.logging; Litestar's would replace it.
            logging_config=None,
            **litestar_options,
        )

    async def start(self) -> None:
        """Start every component in order; the runner calls it before serving HTTP.

        Idempotent, so that the app's lifespan (which calls it too, for test clients and
        other ASGI servers) does nothing when the runner has already started the service.
        """
        if self._lifecycle is not None:
            return
        settings = self.settings
        log.info(
            "starting",
            env=settings.env,
            database=settings.database_url_redacted,
            schema=settings.db_schema,
            kafka=settings.kafka_bootstrap_servers,
        )
        lifecycle = self._assemble()
        await lifecycle.start()
        self._lifecycle = lifecycle
        self.readiness.phase = Phase.RUNNING
        log.info("started", url=f"http://{settings.host}:{settings.port}")

    async def stop(self) -> None:
        """Stop the components in reverse order, within the shutdown budget."""
        lifecycle, self._lifecycle = self._lifecycle, None
        if lifecycle is None:
            return
        self.readiness.phase = Phase.STOPPING
        log.info("stopping")
        await lifecycle.stop(timeout=self.settings.shutdown_timeout * COMPONENTS_SHARE)
        log.info("stopped")

    @asynccontextmanager
    async def _lifespan(self, _: Litestar) -> AsyncIterator[None]:
        # uvicorn runs the lifespan's end after the last in-flight request has finished.
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def _assemble(self) -> Lifecycle:
        lifecycle = Lifecycle()
        lifecycle.add("postgres", self._start_postgres, self._stop_postgres)
        lifecycle.add("kafka-topics", self._ensure_topics)
        # connect() creates the producer (and admin client) without starting consumers.
        lifecycle.add("kafka-producer", self.broker.connect, self.broker.stop)
        for component in self._components.components():
            lifecycle.add(component.name, component.start, component.stop)
        lifecycle.add("kafka-consumers", self.broker.start, self._stop_consumers)
        return lifecycle

    async def _start_postgres(self) -> None:
        settings = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout
        while True:
            try:
                self._pool = await create_pool(
                    settings.database_url, settings.db_schema, max_size=settings.db_pool_size
                )
                break
            except (OSError, asyncpg.CannotConnectNowError) as exc:
                # The database may start at the same time as we do (compose, the launcher).
                if loop.time() > deadline:
                    raise
                log.info("waiting for PostgreSQL", error=str(exc))
                await asyncio.sleep(1.0)
        applied = await migrate(self._pool, self.migrations)
        if applied:
            log.info(
                "migrations applied", migrations=[f"{m.component}:{m.version}" for m in applied]
            )

    async def _stop_postgres(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _ensure_topics(self) -> None:
        created = await ensure_topics(
            self.settings.bootstrap_servers,
            self.topics,
            client_id=f"{self.settings.service_name}-admin",
            replication_factor=self.settings.kafka_replication_factor,
            timeout=self.startup_timeout,
        )
        if created:
            log.info("kafka topics created", topics=created)

    async def _stop_consumers(self) -> None:
        # Only the subscribers: the producer stays up for whatever stops after them (the
        # relay publishes until it is stopped); "kafka-producer" disconnects it later.
        await asyncio.gather(*(subscriber.stop() for subscriber in self.broker.subscribers))
        self.broker.running = False

    async def _postgres_check(self) -> str:
        if self._pool is None:
            raise RuntimeError("no pool")
        await self._pool.fetchval("SELECT 1")
        return "ok"

    def _task_crashed(self, name: str, error: BaseException | None) -> None:
        # A service without its relay or scheduler looks alive but does nothing: stop it
        # with a failure status so that the supervisor (k8s, compose, the launcher) notices.
        request_shutdown(f"background task {name!r} ended unexpectedly", exit_code=1)


async def _log_unhandled(exc: Exception, scope: Scope) -> None:
    # Litestar turns exceptions into responses; only the unexpected ones deserve a traceback.
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return
    log.error(
        "unhandled exception",
        method=scope.get("method"),
        path=scope.get("path"),
        exc_info=exc,
    )
