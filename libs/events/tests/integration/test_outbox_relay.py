from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from billing_events.outbox import (
    _FETCH_SQL,
    _SAVE_CHECKPOINT_AND_FETCH_SQL,
    _SAVE_CHECKPOINT_SQL,
    OutboxRelay,
    PendingMessage,
    enqueue,
    relay_lag,
)
from billing_events.store import PostgresEventStore
from billing_events.topics import Topic
from devstack.kafka import ensure_topics

from .conftest import noted

pytestmark = pytest.mark.integration

RELAY_SCRIPT = Path(__file__).with_name("relay_process.py")


@contextlib.asynccontextmanager
async def consumer_of(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def collect(consumer: AIOKafkaConsumer, until: int, timeout: float) -> list[dict]:
    """Read messages until ``until`` distinct event ids have arrived or the timeout ends."""
    received: list[dict] = []
    distinct: set[str] = set()
    deadline = asyncio.get_running_loop().time() + timeout
    while len(distinct) < until and asyncio.get_running_loop().time() < deadline:
        batches = await consumer.getmany(timeout_ms=500, max_records=5000)
        for messages in batches.values():
            for message in messages:
                body = orjson.loads(message.value)
                assert message.key.decode() == body["stream_id"]
                received.append(body)
                distinct.add(body["event_id"])
    return received


async def test_relay_publishes_appended_events_keyed_by_stream(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, kafka_bootstrap: str, topic_name: str
) -> None:
    await ensure_topics(kafka_bootstrap, [Topic(topic_name, 3)])
    await store.append("test-r1", 0, [noted(1), noted(2)])
    await store.append("test-r2", 0, [noted(3)])
    async with pg_pool.acquire() as conn, conn.transaction():
        await enqueue(conn, topic_name, "test-raw", b'{"event_id": "raw", "stream_id": "test-raw"}')
    assert (await relay_lag(pg_pool)).pending == 4

    relay = OutboxRelay(pg_pool, kafka_bootstrap)
    task = asyncio.create_task(relay.run())
    try:
        async with consumer_of(kafka_bootstrap, topic_name) as consumer:
            received = await collect(consumer, until=4, timeout=20)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
    assert sorted(b["event_id"] for b in received)[-1] == "raw"
    assert [b["data"]["n"] for b in received if b["stream_id"] == "test-r1"] == [1, 2]
    lag = await relay_lag(pg_pool)
    assert lag.pending == 0
    assert lag.published_total == 4


async def test_only_one_relay_publishes_at_a_time(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, kafka_bootstrap: str
) -> None:
    first, second = OutboxRelay(pg_pool, kafka_bootstrap), OutboxRelay(pg_pool, kafka_bootstrap)
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    try:
        for _ in range(100):
            if first.active or second.active:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert [first.active, second.active].count(True) == 1
    finally:
        first.stop()
        second.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def test_relay_killed_mid_flight_loses_nothing_and_keeps_stream_order(
    store: PostgresEventStore,
    pg_pool: asyncpg.Pool,
    kafka_bootstrap: str,
    topic_name: str,
    postgres_url: str,
    schema_name: str,
) -> None:
    await ensure_topics(kafka_bootstrap, [Topic(topic_name, 6)])
    streams, per_stream = 100, 100
    for s in range(streams):
        await store.append(
            f"test-k{s}", 0, [noted(v, stream_id=f"test-k{s}") for v in range(1, per_stream + 1)]
        )
    total = streams * per_stream

    def start_relay() -> asyncio.subprocess.Process:
        return asyncio.create_subprocess_exec(  # type: ignore[return-value]
            sys.executable,
            str(RELAY_SCRIPT),
            postgres_url,
            schema_name,
            kafka_bootstrap,
            "200",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    relay = await start_relay()
    try:
        # Kill it once some, but not all, events have been acknowledged by the broker.
        for _ in range(600):
            published = await pg_pool.fetchval(
                "SELECT coalesce(sum(published), 0) FROM outbox_checkpoints"
            )
            if published >= 1000:
                break
            await asyncio.sleep(0.01)
        assert 0 < published < total, f"relay published {published} before the kill"
        relay.send_signal(signal.SIGKILL)
        await relay.wait()
        assert (await relay_lag(pg_pool)).pending > 0

        relay = await start_relay()
        async with consumer_of(kafka_bootstrap, topic_name) as consumer:
            received = await collect(consumer, until=total, timeout=120)
    finally:
        if relay.returncode is None:
            relay.send_signal(signal.SIGTERM)
            await asyncio.wait_for(relay.wait(), 15)

    distinct = {b["event_id"] for b in received}
    assert len(distinct) == total, f"{total - len(distinct)} events never reached the broker"
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen_ids: set[str] = set()
    for body in received:
        if body["event_id"] not in seen_ids:
            seen_ids.add(body["event_id"])
            first_seen[body["stream_id"]].append(body["stream_version"])
    for stream, versions in first_seen.items():
        assert versions == list(range(1, per_stream + 1)), f"{stream} out of order"


@contextlib.asynccontextmanager
async def behind_an_idle_relay(
    pool: asyncpg.Pool, bootstrap: str, topic: str
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of ``topic`` and a running relay past its first, empty poll, whose fallback
    poll is a minute away: what reaches the consumer soon was woken for."""
    await ensure_topics(bootstrap, [Topic(topic, 1)])
    relay = OutboxRelay(pool, bootstrap, idle_poll_interval=60)
    async with consumer_of(bootstrap, topic) as consumer:
        task = asyncio.create_task(relay.run())
        try:
            for _ in range(200):
                if relay.active:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            yield consumer
        finally:
            relay.stop()
            await asyncio.wait_for(task, 10)


async def test_a_commit_wakes_an_idle_relay(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, kafka_bootstrap: str, topic_name: str
) -> None:
    async with behind_an_idle_relay(pg_pool, kafka_bootstrap, topic_name) as consumer:
        await store.append("test-w1", 0, [noted(1)])
        received = await collect(consumer, until=1, timeout=20)

    assert [b["stream_id"] for b in received] == ["test-w1"]


async def test_a_woken_relay_waits_for_rows_an_older_transaction_hides(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, kafka_bootstrap: str, topic_name: str
) -> None:
    # An older transaction still open keeps the newer commit out of the relay's fetch (it
    # reads below the snapshot's xmin), and its own end notifies nobody: the relay must look
    # again after its wake-up found nothing.
    async with (
        behind_an_idle_relay(pg_pool, kafka_bootstrap, topic_name) as consumer,
        pg_pool.acquire() as older,
    ):
        async with older.transaction():
            await older.fetchval("SELECT pg_current_xact_id()")
            await store.append("test-w2", 0, [noted(2)])
            await asyncio.sleep(0.3)
        received = await collect(consumer, until=1, timeout=20)

    assert [b["stream_id"] for b in received] == ["test-w2"]


async def test_the_relays_checkpoint_commits_without_waiting_for_the_disk_and_only_itself(
    store: PostgresEventStore, pg_pool: asyncpg.Pool
) -> None:
    # Losing the last checkpoints in a crash of the server only republishes messages, so
    # their commit need not wait for the WAL flush; every other commit on the same pooled
    # connection still must.
    async with pg_pool.acquire() as conn:
        session_setting = await conn.fetchval("SHOW synchronous_commit")
        async with conn.transaction():
            await conn.execute(_SAVE_CHECKPOINT_SQL, "probe", "7", 3, 2)
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
        assert await conn.fetchval("SHOW synchronous_commit") == session_setting
        await conn.execute(_SAVE_CHECKPOINT_SQL, "probe", "8", 5, 1)
        assert await conn.fetchval("SHOW synchronous_commit") == session_setting
        saved = await conn.fetchrow(
            "SELECT transaction_id::text AS txid, position, published FROM outbox_checkpoints "
            "WHERE relay = 'probe'"
        )
    assert (saved["txid"], saved["position"], saved["published"]) == ("8", 5, 3)


class StatementLog:
    """A pool that records the statements sent through it (the relay's, here)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.sent: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self.sent.append(query)
        return await self._pool.fetch(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        self.sent.append(query)
        return await self._pool.execute(query, *args)


async def test_a_published_batchs_checkpoint_is_saved_by_the_next_fetch(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, kafka_bootstrap: str, topic_name: str
) -> None:
    # One round trip fewer per batch: the checkpoint goes with the fetch that follows it.
    statements = StatementLog(pg_pool)
    relay_pool = cast(asyncpg.Pool, statements)
    async with behind_an_idle_relay(relay_pool, kafka_bootstrap, topic_name) as consumer:
        before = len(statements.sent)
        await store.append("test-c1", 0, [noted(1)])
        assert len(await collect(consumer, until=1, timeout=20)) == 1
        for _ in range(100):
            if (await relay_lag(pg_pool)).pending == 0:
                break
            await asyncio.sleep(0.02)
        lag = await relay_lag(pg_pool)  # while the relay still runs: not its exit's doing
        after_publish = statements.sent[before:]

    assert (lag.pending, lag.published_total) == (0, 1)
    assert _SAVE_CHECKPOINT_AND_FETCH_SQL in after_publish
    assert _SAVE_CHECKPOINT_SQL not in after_publish
    assert _FETCH_SQL in after_publish  # the fetch that found the message


async def test_a_relay_stopped_after_a_publish_saves_that_batchs_checkpoint(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, kafka_bootstrap: str, topic_name: str
) -> None:
    await ensure_topics(kafka_bootstrap, [Topic(topic_name, 1)])
    await store.append("test-c2", 0, [noted(1), noted(2), noted(3)])
    relay: OutboxRelay

    def stop_after_the_first_batch(_batch: Sequence[PendingMessage], _at: object) -> None:
        relay.stop()

    relay = OutboxRelay(pg_pool, kafka_bootstrap, on_published=stop_after_the_first_batch)
    await asyncio.wait_for(relay.run(), 20)

    lag = await relay_lag(pg_pool)
    assert (lag.pending, lag.published_total) == (0, 3)
