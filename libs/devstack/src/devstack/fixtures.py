"""pytest fixtures for integration tests: the real PostgreSQL and the real Kafka-protocol broker.

Registered for the whole workspace by the root ``conftest.py``. One broker and one server for
the test session; every test that asks for ``pg_pool`` gets a schema of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from billing_events.postgres import create_pool
from devstack.kafka import KafkaHandle, ensure_topics, resolve_kafka
from devstack.postgres import resolve_postgres

WORKDIR = Path(__file__).resolve().parents[4] / ".devstack" / "test"


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaHandle]:
    handle = resolve_kafka(WORKDIR)
    yield handle
    handle.stop()


@pytest_asyncio.fixture(scope="session")
async def kafka_bootstrap(kafka: KafkaHandle) -> str:
    await ensure_topics(kafka.bootstrap_servers)
    return kafka.bootstrap_servers


@pytest_asyncio.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    handle = await resolve_postgres(WORKDIR)
    yield handle.url
    handle.stop()


@pytest.fixture
def schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest_asyncio.fixture
async def pg_pool(postgres_url: str, schema_name: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(postgres_url, schema_name, max_size=20)
    yield pool
    await pool.close()
    await drop_schema(postgres_url, schema_name)


async def drop_schema(postgres_url: str, schema: str) -> None:
    """Drop a test's schema without waiting on connections the test left behind.

    A DROP blocked on a lock holds a transaction id, and readers of the global order wait for
    the oldest open transaction in the cluster: one forgotten connection would stall every
    other test's relays. So: short lock timeout, and end whoever holds the schema's locks."""
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("SET lock_timeout = '2s'")
        for _ in range(5):
            await conn.execute(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND (application_name = $1 OR pid IN (
                    SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $2))
                """,
                f"billing:{schema}",
                schema,
            )
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                return
            except asyncpg.LockNotAvailableError:
                continue
    finally:
        await conn.close()
