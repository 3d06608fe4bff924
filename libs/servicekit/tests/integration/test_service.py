"""Service composition against the real PostgreSQL and broker: order, readiness, consumers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import asyncpg
import httpx
import pytest
from litestar import Litestar

from billing_events.postgres import Migration
from billing_events.topics import Topic
from servicekit import Service, ServiceSettings

pytestmark = pytest.mark.integration


class Settings(ServiceSettings):
    service_name: str = "sample"


def asgi_client(app: Litestar) -> httpx.AsyncClient:
    # httpx types the ASGI callable loosely; Litestar's signature is stricter.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://t")


async def test_components_start_in_order_and_stop_in_reverse(
    postgres_url: str, kafka_bootstrap: str, schema_name: str
) -> None:
    topic = Topic(f"test.servicekit.{uuid.uuid4().hex[:8]}", 2)
    settings = Settings(
        database_url=postgres_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        db_schema=schema_name,
        shutdown_timeout=10,
    )
    service = Service(
        settings,
        migrations=[Migration("sample", 1, "CREATE TABLE seen (body text NOT NULL)")],
        topics=[topic],
    )
    received: list[dict[str, Any]] = []
    observed: dict[str, Any] = {}

    @service.broker.subscriber(
        topic.name, group_id=f"g-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest"
    )
    async def handle(body: dict[str, Any]) -> None:
        await service.pool.execute("INSERT INTO seen VALUES ($1)", body["text"])
        received.append(body)

    async def start_recorder() -> None:
        # Components start after the pool, the topics and the producer.
        observed["pool at start"] = await service.pool.fetchval("SELECT 1")
        observed["producer at start"] = bool(service.broker.config.producer)
        observed["consumers at start"] = [
            getattr(s, "consumer", "?") for s in service.broker.subscribers
        ]

    async def stop_recorder() -> None:
        # ...and stop after the consumers, before the producer and the pool.
        observed["consumers at stop"] = [
            getattr(s, "consumer", "?") for s in service.broker.subscribers
        ]
        observed["producer at stop"] = bool(service.broker.config.producer)
        observed["pool at stop"] = await service.pool.fetchval("SELECT 1")

    service.add_component("recorder", start_recorder, stop_recorder)
    app = service.build_app()

    await service.start()
    try:
        async with asgi_client(app) as http:
            for _ in range(300):  # the consumer joins its group
                ready = await http.get("/readyz")
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert set(checks) >= {"postgres", "kafka-producer", "kafka-consumers"}
            assert all(c["ok"] for c in checks.values())

            await service.broker.publish({"text": "hello"}, topic.name, key=b"k")
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.1)
            assert received == [{"text": "hello"}]
            assert await service.pool.fetchval("SELECT body FROM seen") == "hello"
    finally:
        await service.stop()

    assert observed == {
        "pool at start": 1,
        "producer at start": True,
        "consumers at start": [None],
        "consumers at stop": [None],
        "producer at stop": True,
        "pool at stop": 1,
    }
    with pytest.raises(RuntimeError):
        _ = service.pool
    assert not service.broker.config.producer


async def test_readyz_reports_a_lost_database(
    postgres_url: str, kafka_bootstrap: str, schema_name: str
) -> None:
    settings = Settings(
        database_url=postgres_url, kafka_bootstrap_servers=kafka_bootstrap, db_schema=schema_name
    )
    service = Service(settings, topics=[])
    app = service.build_app()
    await service.start()
    try:
        async with asgi_client(app) as http:
            assert (await http.get("/readyz")).status_code == 200
            pool: asyncpg.Pool = service.pool
            await pool.close()  # as if the database went away
            answer = await http.get("/readyz")
            assert answer.status_code == 503
            assert answer.json()["checks"]["postgres"]["ok"] is False
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await service.stop()


async def test_a_group_member_left_without_partitions_is_still_ready(
    postgres_url: str, kafka_bootstrap: str, schema_name: str
) -> None:
    # One partition, two replicas: one gets it, the other idles, and both serve HTTP.
    topic = Topic(f"test.servicekit.{uuid.uuid4().hex[:8]}", 1)
    group = f"g-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        database_url=postgres_url, kafka_bootstrap_servers=kafka_bootstrap, db_schema=schema_name
    )
    replicas = [Service(settings, topics=[topic]) for _ in range(2)]
    for service in replicas:

        @service.broker.subscriber(topic.name, group_id=group)
        async def handle(body: dict[str, Any]) -> None:
            return None

    apps = [service.build_app() for service in replicas]
    for service in replicas:
        await service.start()
    try:
        answers: list[httpx.Response] = []
        for _ in range(300):
            answers = []
            for app in apps:
                async with asgi_client(app) as http:
                    answers.append(await http.get("/readyz"))
            if all(a.status_code == 200 for a in answers):
                break
            await asyncio.sleep(0.1)
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        assigned = sorted(
            len(partitions)
            for a in answers
            for partitions in a.json()["checks"]["kafka-consumers"]["detail"].values()
        )
        assert assigned == [0, 1]
    finally:
        for service in replicas:
            await service.stop()
