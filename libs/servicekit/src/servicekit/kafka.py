"""Kafka wiring shared by the services: the broker, explicit topic creation, readiness checks.

Topics are created here, at service start, with their partition counts from
``billing_events.topics``: auto-created topics would get the broker's default partition count,
and the partition count bounds how far a consumer group scales.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from billing_events.topics import Topic, all_topics
from servicekit.health import Check

log = structlog.stdlib.get_logger("servicekit.kafka")


def create_broker(
    bootstrap_servers: str | list[str],
    *,
    client_id: str,
    graceful_timeout: float = 10.0,
    **options: Any,
) -> KafkaBroker:
    """A FastStream Kafka broker configured the same way in every service.

    ``acks="all"``: an event the relay marks as published is on every in-sync replica.
    ``enable_idempotence=False``: the development broker (Tansu) rejects the idempotent
    producer; duplicates are tolerated anyway since every consumer is idempotent.
    """
    servers = (
        bootstrap_servers.split(",") if isinstance(bootstrap_servers, str) else bootstrap_servers
    )
    return KafkaBroker(
        servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        graceful_timeout=graceful_timeout,
        # Through the root handler, so FastStream's lines are structlog lines with our context.
        logger=logging.getLogger("faststream"),
        # Its per-message "Received"/"Processed" lines are noise at INFO; failures are
        # still logged at ERROR.
        log_level=logging.DEBUG,
        # A handler gets what its decoder returns. FastDepends would resolve the handler's
        # arguments for every batch, through a worker thread for the message itself.
        apply_types=False,
        **options,
    )


async def ensure_topics(
    bootstrap_servers: str | list[str],
    topics: Iterable[Topic] | None = None,
    *,
    client_id: str = "billing-admin",
    replication_factor: int = 1,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    Retries until ``timeout`` while the broker is unreachable, so that services started at the
    same time as the broker (docker compose, the dev launcher) wait for it instead of crashing.
    Several processes creating the same topic at once is fine: "already exists" is success.
    """
    wanted = list(topics if topics is not None else all_topics())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t.name not in existing]
            if missing:
                await _create(admin, missing, replication_factor)
            return [t.name for t in missing]
        except KafkaError as exc:
            if loop.time() > deadline:
                raise
            log.info("waiting for the Kafka broker", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()


async def _create(admin: AIOKafkaAdminClient, topics: list[Topic], replication: int) -> None:
    try:
        response = await admin.create_topics(
            [
                NewTopic(t.name, num_partitions=t.partitions, replication_factor=replication)
                for t in topics
            ]
        )
    except TopicAlreadyExistsError:
        return
    # aiokafka reports per-topic errors in the response instead of raising.
    for topic, code, *rest in response.topic_errors:
        if code not in (0, TopicAlreadyExistsError.errno):
            message = rest[0] if rest else ""
            raise KafkaError(f"cannot create topic {topic}: error {code} {message}")


def producer_check(broker: KafkaBroker, timeout: float = 1.5) -> Check:
    """Readiness: the broker's producer is connected and the cluster answers."""

    async def check() -> str:
        # The producer placeholder before connect() and after stop() is falsy.
        if not broker.config.producer:
            raise KafkaConnectionError("producer not connected")
        if not await broker.ping(timeout):
            raise KafkaConnectionError("cluster does not answer")
        return "connected"

    return check


def consumers_check(broker: KafkaBroker) -> Check:
    """Readiness: every subscriber's consumer runs and has joined its group.

    Joined means partitions are assigned, or the group has more members than partitions
    and this one was given none (a replica scaled out for HTTP capacity is still ready).
    """

    async def check() -> dict[str, Any]:
        detail: dict[str, Any] = {}
        problems: list[str] = []
        for subscriber in broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            topics = ",".join(getattr(subscriber, "topic_names_for_subscribe", []) or ["?"])
            group = getattr(subscriber, "group_id", None) or "-"
            key = f"{group}:{topics}"
            if consumer is None:
                problems.append(f"{key} not started")
                continue
            assigned = consumer.assignment()
            detail[key] = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)
            if not assigned and not _joined_group(consumer):
                problems.append(f"{key} has not joined its group yet")
        if problems:
            raise RuntimeError("; ".join(problems))
        return detail

    return check


def _joined_group(consumer: Any) -> bool:
    # aiokafka keeps the group generation on its coordinator (-1 until a join completes);
    # there is no public accessor for it.
    coordinator = getattr(consumer, "_coordinator", None)
    generation = getattr(coordinator, "generation", -1)
    return isinstance(generation, int) and generation > 0
