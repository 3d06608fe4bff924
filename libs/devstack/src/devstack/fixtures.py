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
from devstack.postgres import drop_schema, resolve_postgres

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
