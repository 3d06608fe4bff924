from __future__ import annotations

import asyncio
import uuid
from typing import ClassVar

import asyncpg
import pytest
import pytest_asyncio

from billing_events.envelope import Envelope, EventData, EventRegistry, new_envelope
from billing_events.postgres import migrate
from billing_events.store import MIGRATIONS, PostgresEventStore


class Noted(EventData):
    """A tiny event used only by the plumbing tests."""

    event_type: ClassVar[str] = "Noted"
    n: int
    text: str = ""


test_registry = EventRegistry()
test_registry.register(Noted)


def noted(n: int, *, stream_id: str = "test-x", text: str = "") -> Envelope:
    return new_envelope(
        Noted(n=n, text=text),
        stream_id=stream_id,
        merchant_id="m_test",
        correlation_id=uuid.uuid4(),
    )


@pytest.fixture
def topic_name() -> str:
    return f"test.events.{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture
async def store(pg_pool: asyncpg.Pool, topic_name: str) -> PostgresEventStore:
    await migrate(pg_pool, MIGRATIONS)
    return PostgresEventStore(pg_pool, test_registry, topic_resolver=lambda _s: topic_name)


async def wait_until_blocked(pg_pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    """Until ``conn``'s statement waits for another transaction's lock."""
    pid = conn.get_server_pid()
    for _ in range(500):
        if await pg_pool.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the racing append never waited for the first transaction")
