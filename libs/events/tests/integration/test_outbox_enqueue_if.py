"""Conditional queueing: the condition is decided by the INSERT itself, on real PostgreSQL."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from billing_events.outbox import OnlyIf, enqueue_envelope_if, enqueue_if
from billing_events.store import PostgresEventStore

from .conftest import noted

pytestmark = pytest.mark.integration

KNOWN_KEY = OnlyIf(
    "EXISTS (SELECT FROM known_keys WHERE owner = $5 AND key = $6)", ("owner-a", "key-1")
)


@pytest.fixture
async def known_keys(store: PostgresEventStore, pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await pg_pool.execute("CREATE TABLE known_keys (owner text, key text)")
    return pg_pool


async def outbox_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT topic, key, value, headers FROM outbox ORDER BY position"
    )
    return rows


async def test_a_message_is_queued_when_its_condition_holds(known_keys: asyncpg.Pool) -> None:
    await known_keys.execute("INSERT INTO known_keys VALUES ('owner-a', 'key-1')")
    async with known_keys.acquire() as conn:
        queued = await enqueue_if(conn, KNOWN_KEY, "t.commands", "key-1", b"{}", {"h": "v"})
    assert queued is True
    rows = await outbox_rows(known_keys)
    assert [(r["topic"], r["key"], r["value"], r["headers"]) for r in rows] == [
        ("t.commands", "key-1", b"{}", {"h": "v"})
    ]


async def test_nothing_is_queued_when_its_condition_does_not_hold(
    known_keys: asyncpg.Pool,
) -> None:
    # The key exists, but for another owner: the whole condition decides, not a part of it.
    await known_keys.execute("INSERT INTO known_keys VALUES ('owner-b', 'key-1')")
    async with known_keys.acquire() as conn:
        queued = await enqueue_if(conn, KNOWN_KEY, "t.commands", "key-1", b"{}")
    assert queued is False
    assert await outbox_rows(known_keys) == []


async def test_an_envelope_is_queued_keyed_by_its_stream_if_the_condition_holds(
    known_keys: asyncpg.Pool,
) -> None:
    envelope = noted(7, stream_id="test-key-1")
    async with known_keys.acquire() as conn:
        assert not await enqueue_envelope_if(conn, KNOWN_KEY, envelope, topic="t.commands")
        await known_keys.execute("INSERT INTO known_keys VALUES ('owner-a', 'key-1')")
        assert await enqueue_envelope_if(conn, KNOWN_KEY, envelope, topic="t.commands")
    rows = await outbox_rows(known_keys)
    assert [(r["topic"], r["key"]) for r in rows] == [("t.commands", "test-key-1")]
    assert orjson.loads(rows[0]["value"])["event_id"] == str(envelope.event_id)
    assert rows[0]["headers"] == envelope.kafka_headers()


async def test_a_conditional_message_rolls_back_with_its_transaction(
    known_keys: asyncpg.Pool,
) -> None:
    await known_keys.execute("INSERT INTO known_keys VALUES ('owner-a', 'key-1')")
    async with known_keys.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        assert await enqueue_if(conn, KNOWN_KEY, "t.commands", "key-1", b"{}")
        await transaction.rollback()
    assert await outbox_rows(known_keys) == []
