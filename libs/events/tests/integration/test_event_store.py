from __future__ import annotations

import asyncio

import asyncpg
import pytest

from billing_events.postgres import create_pool, migrate
from billing_events.store import (
    MIGRATIONS,
    ConcurrencyConflict,
    Position,
    PostgresEventStore,
    TransactionTooOld,
)
from devstack.postgres import drop_schema

from .conftest import noted, wait_until_blocked

pytestmark = pytest.mark.integration


class GlobalReader:
    """Polls the global order the way a projection does. A read can come back short while any
    transaction in the cluster is still open (the visibility horizon), so tests poll until
    they have what they expect, within a bound."""

    def __init__(self, store: PostgresEventStore, limit: int = 1000) -> None:
        self.store = store
        self.limit = limit
        self.seen: list[int] = []
        self.position = Position.START

    async def poll(self) -> None:
        for recorded in await self.store.read_all(self.position, self.limit):
            self.seen.append(recorded.envelope.data.n)  # type: ignore[attr-defined]
            self.position = recorded.position

    async def until(self, count: int, timeout: float = 15.0) -> list[int]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.seen) < count and asyncio.get_running_loop().time() < deadline:
            await self.poll()
            await asyncio.sleep(0.02)
        await self.poll()  # and nothing more than expected arrives
        return self.seen


async def test_append_then_read_back_in_order(store: PostgresEventStore) -> None:
    stored = await store.append("test-a", 0, [noted(1), noted(2)])
    assert [e.stream_version for e in stored] == [1, 2]
    more = await store.append("test-a", 2, [noted(3)])
    assert more[0].stream_version == 3
    events = await store.read_stream("test-a")
    assert [e.data.n for e in events] == [1, 2, 3]  # type: ignore[attr-defined]
    assert [e.stream_id for e in events] == ["test-a"] * 3
    assert [e.event_id for e in events] == [e.event_id for e in stored + more]
    assert await store.read_stream("test-a", from_version=3) == more


async def test_stale_expected_version_raises_and_writes_nothing(
    store: PostgresEventStore, pg_pool: asyncpg.Pool
) -> None:
    await store.append("test-b", 0, [noted(1)])
    with pytest.raises(ConcurrencyConflict):
        await store.append("test-b", 0, [noted(2), noted(3)])
    with pytest.raises(ConcurrencyConflict):
        await store.append("test-b", 5, [noted(4)])  # ahead of the stream: would leave a gap
    assert await store.stream_version("test-b") == 1
    assert await pg_pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_fifty_concurrent_appends_exactly_one_wins(store: PostgresEventStore) -> None:
    await store.append("test-c", 0, [noted(0)])

    async def attempt(i: int) -> bool:
        try:
            await store.append("test-c", 1, [noted(i), noted(i + 1000)])
        except ConcurrencyConflict:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert results.count(True) == 1
    assert results.count(False) == 49
    versions = [e.stream_version for e in await store.read_stream("test-c")]
    assert versions == [1, 2, 3]


async def test_conflict_inside_a_transaction_leaves_it_usable(
    store: PostgresEventStore, pg_pool: asyncpg.Pool
) -> None:
    await store.append("test-d", 0, [noted(1)])
    async with pg_pool.acquire() as conn, conn.transaction():
        with pytest.raises(ConcurrencyConflict):
            await store.append("test-d", 0, [noted(2)], conn=conn)
        await store.append("test-d", 1, [noted(3)], conn=conn)
    assert [e.stream_version for e in await store.read_stream("test-d")] == [1, 2]


@pytest.mark.parametrize("racing_events", [1, 3])
async def test_losing_a_race_to_a_running_transaction_is_a_conflict_and_leaves_the_loser_usable(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, racing_events: int
) -> None:
    """Both transactions read version 1; the first takes version 2 and commits while the
    second's append waits for it. One event is appended without a savepoint, several under
    one: either way the loser gets a conflict, writes nothing, and can go on."""
    stream = f"test-race-{racing_events}"
    await store.append(stream, 0, [noted(0)])
    async with pg_pool.acquire() as first, pg_pool.acquire() as second:
        winner = first.transaction()
        await winner.start()
        await store.append(stream, 1, [noted(1)], conn=first)
        loser = second.transaction()
        await loser.start()
        racing = asyncio.create_task(
            store.append(stream, 1, [noted(10 + i) for i in range(racing_events)], conn=second)
        )
        await wait_until_blocked(pg_pool, second)
        await winner.commit()
        with pytest.raises(ConcurrencyConflict):
            await racing
        await store.append(stream, 2, [noted(20)], conn=second)
        await loser.commit()
    assert [e.data.n for e in await store.read_stream(stream)] == [0, 1, 20]  # type: ignore[attr-defined]
    assert await pg_pool.fetchval("SELECT count(*) FROM outbox WHERE key = $1", stream) == 3


async def test_global_reader_never_skips_a_late_commit(
    store: PostgresEventStore, pg_pool: asyncpg.Pool
) -> None:
    """T1 takes the lower position but commits after T2; a reader polling in between must
    still end with both events, in order."""
    reader = GlobalReader(store)
    async with pg_pool.acquire() as first, pg_pool.acquire() as second:
        t1 = first.transaction()
        await t1.start()
        await store.append("test-late-1", 0, [noted(1)], conn=first)
        t2 = second.transaction()
        await t2.start()
        await store.append("test-late-2", 0, [noted(2)], conn=second)
        await t2.commit()
        await reader.poll()  # T2 is committed, but T1 is still running: nothing may be handed out
        assert reader.seen == []
        await t1.commit()
    assert await reader.until(2) == [1, 2]
    positions = await pg_pool.fetch("SELECT global_position FROM events ORDER BY stream_id")
    assert positions[0]["global_position"] < positions[1]["global_position"]


async def test_read_all_pages_through_everything_once(store: PostgresEventStore) -> None:
    for stream in range(10):
        await store.append(f"test-page{stream}", 0, [noted(stream * 10 + i) for i in range(7)])
    seen = await GlobalReader(store, limit=9).until(70)
    assert sorted(seen) == sorted(s * 10 + i for s in range(10) for i in range(7))
    assert len(seen) == len(set(seen))


async def test_migrations_are_idempotent_and_safe_concurrently(
    postgres_url: str, schema_name: str
) -> None:
    pools = [await create_pool(postgres_url, schema_name, max_size=2) for _ in range(5)]
    try:
        applied = await asyncio.gather(*(migrate(p, MIGRATIONS) for p in pools))
        assert sorted(len(a) for a in applied) == [0, 0, 0, 0, len(MIGRATIONS)]
        assert await migrate(pools[0], MIGRATIONS) == []
    finally:
        for p in pools:
            await p.close()
        await drop_schema(postgres_url, schema_name)


async def test_a_transaction_older_than_the_streams_last_writer_must_retry(
    store: PostgresEventStore, pg_pool: asyncpg.Pool
) -> None:
    """Global order follows transaction ids: an older transaction appending after a younger
    one would be published before it, out of stream order. It is refused, writes nothing,
    and a fresh transaction succeeds."""
    await store.append("test-order", 0, [noted(1)])
    async with pg_pool.acquire() as older:
        transaction = older.transaction()
        await transaction.start()
        await older.fetchval("SELECT pg_current_xact_id()")  # it writes first elsewhere
        await store.append("test-order", 1, [noted(2)])  # a younger transaction commits
        with pytest.raises(TransactionTooOld):
            await store.append("test-order", 2, [noted(3)], conn=older)
        await transaction.rollback()
    await store.append("test-order", 2, [noted(3)])
    assert await GlobalReader(store).until(3) == [1, 2, 3]
