from __future__ import annotations

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
