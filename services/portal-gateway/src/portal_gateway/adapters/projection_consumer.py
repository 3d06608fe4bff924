"""The projection consumer: every event topic -> the gateway's read model, idempotently.

It runs its own FastStream broker (not the service's shared one) because its consumer group
is not known until the database says which projection generation is current, and because a
rebuild restarts it in a new group while the process keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import structlog
from faststream.kafka import KafkaBroker

from billing_events import topics
from billing_events.consumer import Handler, IdempotentConsumer
from billing_events.dead_letter import KafkaDeadLetterPublisher
from billing_events.envelope import registry
from portal_gateway.adapters.postgres.projector import project
from portal_gateway.adapters.postgres.rebuild import (
    BASE_GROUP,
    consumer_group,
    current_generation,
    generation_of_signal,
    rebuild_projections,
)
from servicekit.kafka import create_broker

log = structlog.stdlib.get_logger(__name__)

PROJECTION_TOPICS: tuple[str, ...] = tuple(t.name for t in topics.EVENT_TOPICS.values())


class ProjectionConsumer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        *,
        topic_names: Sequence[str] = PROJECTION_TOPICS,
        handler: Handler = project,
        client_id: str = "portal-gateway-projections",
        base_group: str = BASE_GROUP,
        max_attempts: int = 5,
        graceful_timeout: float = 5.0,
    ) -> None:
        self._pool = pool
        self._bootstrap = bootstrap_servers
        self._topics = tuple(topic_names)
        self._handler = handler
        self._client_id = client_id
        self._base_group = base_group
        self._max_attempts = max_attempts
        self._graceful_timeout = graceful_timeout
        self._lock = asyncio.Lock()
        self._broker: KafkaBroker | None = None
        self._dead_letters: KafkaDeadLetterPublisher | None = None
        self._generation: int | None = None

    @property
    def generation(self) -> int | None:
        return self._generation

    @property
    def group_id(self) -> str | None:
        if self._generation is None:
            return None
        return consumer_group(self._generation, self._base_group)

    async def start(self) -> None:
        async with self._lock:
            await self._start()

    async def stop(self) -> None:
        async with self._lock:
            await self._stop()

    async def rebuild(self) -> int:
        """Truncate the projections and replay from the beginning in a new consumer group."""
        async with self._lock:
            await self._stop()  # nothing of ours writes while the tables are emptied
            generation = await rebuild_projections(self._pool, self._base_group)
            log.info("projections rebuilding", generation=generation)
            await self._start()
            return generation

    async def on_control(self, message: str) -> None:
        """A rebuild started by another gateway process: follow it into the new group."""
        generation = generation_of_signal(message)
        if generation is None:
            return
        async with self._lock:
            if self._broker is None or generation == self._generation:
                return
            log.info("projection rebuild signalled; restarting consumer", generation=generation)
            await self._stop()
            await self._start()

    async def check(self) -> dict[str, object]:
        """Readiness: the consumer runs and holds partitions."""
        broker = self._broker
        if broker is None:
            raise RuntimeError("projection consumer not running")
        assigned: list[str] = []
        for subscriber in broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:
                raise RuntimeError("projection consumer not started")
            assigned.extend(f"{tp.topic}[{tp.partition}]" for tp in consumer.assignment())
        if not assigned:
            raise RuntimeError(f"{self.group_id} has no partitions assigned yet")
        return {"group": self.group_id, "partitions": len(assigned)}

    async def _start(self) -> None:
        if self._broker is not None:
            return
        generation = await current_generation(self._pool)
        group = consumer_group(generation, self._base_group)
        dead_letters = KafkaDeadLetterPublisher(self._bootstrap, client_id=f"{self._client_id}-dlq")
        await dead_letters.start()
        broker = create_broker(
            self._bootstrap, client_id=self._client_id, graceful_timeout=self._graceful_timeout
        )
        consumer = IdempotentConsumer(
            self._pool,
            registry,
            group,
            self._handler,
            dead_letters,
            max_attempts=self._max_attempts,
        )
        consumer.attach(broker, *self._topics, group_id=group)
        try:
            await broker.start()
        except BaseException:
            await broker.stop()
            await dead_letters.stop()
            raise
        self._broker, self._dead_letters, self._generation = broker, dead_letters, generation
        log.info("projection consumer started", group=group, topics=list(self._topics))

    async def _stop(self) -> None:
        broker, self._broker = self._broker, None
        dead_letters, self._dead_letters = self._dead_letters, None
        if broker is not None:
            await broker.stop()
        if dead_letters is not None:
            await dead_letters.stop()
