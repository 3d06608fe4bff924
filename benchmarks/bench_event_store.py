"""Figures 1 to 3: load-decide-append cycles (against the eventsourcing library and a bare
commit loop), batched append, and global-order catch-up of a tracking projection."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import asyncpg

from benchmarks.harness import Figure, Report, median, paired, quick, runs, wait_until_visible
from billing_events.decider import Decider, execute
from billing_events.envelope import EventData, EventRegistry, new_envelope
from billing_events.postgres import create_pool, migrate
from billing_events.projection import MIGRATIONS as PROJECTION_MIGRATIONS
from billing_events.projection import TrackingProjection
from billing_events.store import (
    _APPEND_ONE_SQL,  # the floor sends exactly what the store sends
    _READ_PAYLOADS_SQL,
    MIGRATIONS,
    PostgresEventStore,
    RecordedEvent,
)
from devstack.postgres import drop_schema

NOTE = "x" * 100  # the same payload size on every side of a comparison
_notes = itertools.count()


def note() -> str:
    """A payload of NOTE's size, different for every event: no cache anywhere can serve an
    event it has not seen before just because all the payloads are equal."""
    return f"{next(_notes):012d}".ljust(len(NOTE), "x")


class Incremented(EventData):
    event_type: ClassVar[str] = "Incremented"
    note: str


bench_registry = EventRegistry()
bench_registry.register(Incremented)


@dataclass(frozen=True)
class Count:
    value: int = 0


counter: Decider[Count, str] = Decider(
    Count(),
    lambda state, _event: Count(state.value + 1),
    lambda note, _state: [Incremented(note=note)],
)


async def fresh_schema(dsn: str, prefix: str) -> tuple[asyncpg.Pool, str]:
    schema = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(dsn, schema, max_size=8)
    await migrate(pool, [*MIGRATIONS, *PROJECTION_MIGRATIONS])
    return pool, schema


# --- figure 1 ----------------------------------------------------------------------------

# Every aggregate starts with this many events, on both sides, and each measured run adds one
# event to each aggregate: every cycle reads a stream of the same length whatever the mode or
# the number of runs (a subscription after a year of monthly renewals has about this many).
HISTORY = 10


async def our_cycles(store: PostgresEventStore, streams: list[str]) -> float:
    """One load-decide-append cycle per stream: read the stream, fold, decide, append.

    The client holds one connection, as the bare commit loop does (and as a service's
    consumer does for the message it handles); it is not in a transaction, so each append
    is its own durable commit."""
    async with store.acquire() as conn:
        started = time.perf_counter()
        for stream in streams:
            await execute(
                store,
                counter,
                stream,
                note(),
                merchant_id="bench",
                correlation_id=uuid.uuid4(),
                causation_id=None,
                conn=conn,
            )
        return len(streams) / (time.perf_counter() - started)


async def sql_floor_cycles(
    store: PostgresEventStore, streams: list[str], versions: dict[str, int]
) -> float:
    """The same two statements our cycle sends (read the stream, append one event), with
    every argument prepared beforehand and nothing decoded: what PostgreSQL and asyncpg
    alone cost for a cycle on this machine, so the distance to it is what our Python costs."""
    appends = []
    for stream in streams:
        envelope = batch(stream, 1, first_version=versions[stream] + 1)[0]
        appends.append(store._append_one_args(stream, versions[stream], envelope))
    async with store.acquire() as conn:
        started = time.perf_counter()
        for stream, args in zip(streams, appends, strict=True):
            await conn.fetch(_READ_PAYLOADS_SQL, stream)
            appended = await conn.fetchrow(_APPEND_ONE_SQL, *args)
            assert appended["appended"] == 1, f"{stream} is not at version {args[1]}"
        elapsed = time.perf_counter() - started
    for stream in streams:
        versions[stream] += 1
    return len(streams) / elapsed


async def seed_streams(store: PostgresEventStore, streams: list[str]) -> None:
    for stream in streams:
        await store.append(stream, 0, batch(stream, HISTORY, first_version=1))


async def raw_commits(pool: asyncpg.Pool, cycles: int) -> float:
    """The machine's ceiling: one single-row INSERT per transaction, committed durably."""
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_commit (id bigserial PRIMARY KEY, note text NOT NULL)"
        )
        insert = await conn.prepare("INSERT INTO raw_commit (note) VALUES ($1)")
        started = time.perf_counter()
        for _ in range(cycles):
            await insert.fetch(NOTE)
        return cycles / (time.perf_counter() - started)


class EventsourcingSide:
    """The eventsourcing library's Application + Aggregate over its PostgreSQL recorder, with
    its defaults (no snapshots, no aggregate cache): each cycle reads the whole stream, as
    ours does."""

    def __init__(self, dsn_parts: dict[str, str], schema: str, aggregates: int) -> None:
        from eventsourcing.application import Application
        from eventsourcing.domain import Aggregate, event

        class Counter(Aggregate):
            def __init__(self) -> None:
                self.count = 0

            @event("Incremented")
            def increment(self, note: str) -> None:
                self.count += 1

        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dsn_parts["database"],
            "POSTGRES_HOST": dsn_parts["host"],
            "POSTGRES_PORT": dsn_parts["port"],
            "POSTGRES_USER": dsn_parts["user"],
            "POSTGRES_PASSWORD": dsn_parts.get("password", ""),
            "POSTGRES_SCHEMA": schema,
            "CREATE_TABLE": "true",
        }
        self.app: Any = Application(env=env)
        self.ids = []
        for _ in range(aggregates):
            aggregate = Counter()  # its creation event is the first of HISTORY
            for _ in range(HISTORY - 1):
                aggregate.increment(note=note())
            self.app.save(aggregate)
            self.ids.append(aggregate.id)

    def cycles(self) -> float:
        started = time.perf_counter()
        for aggregate_id in self.ids:
            aggregate = self.app.repository.get(aggregate_id)
            aggregate.increment(note=note())
            self.app.save(aggregate)
        return len(self.ids) / (time.perf_counter() - started)

    def close(self) -> None:
        self.app.close()


def dsn_parts(dsn: str) -> dict[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": parts.username or "postgres",
        "password": parts.password or "",
        "database": parts.path.lstrip("/") or "postgres",
    }


async def figure_cycles(dsn: str, report: Report) -> None:
    aggregates = 300 if quick() else 1000  # = cycles per run, one per aggregate
    pool, schema = await fresh_schema(dsn, "cycles")
    es_schema = f"bench_es_{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await conn.execute(f'CREATE SCHEMA "{es_schema}"')
    es = EventsourcingSide(dsn_parts(dsn), es_schema, aggregates)
    store = PostgresEventStore(pool, bench_registry, topic_resolver=lambda _s: "bench.none")
    streams = [f"bench-{i}" for i in range(aggregates)]
    floor_streams = [f"floor-{i}" for i in range(aggregates)]
    floor_versions = dict.fromkeys(floor_streams, HISTORY)
    try:
        await seed_streams(store, streams + floor_streams)
        # Warm-up, every side: one cycle per aggregate.
        await our_cycles(store, streams)
        es.cycles()
        await raw_commits(pool, aggregates)
        await sql_floor_cycles(store, floor_streams, floor_versions)
        ours, theirs, raw, floor = [], [], [], []
        for _ in range(runs()):
            ours.append(await our_cycles(store, streams))
            theirs.append(es.cycles())
            raw.append(await raw_commits(pool, aggregates))
            floor.append(await sql_floor_cycles(store, floor_streams, floor_versions))
        shape = f"one client, streams of {HISTORY + 1}-{HISTORY + runs() + 1} events"
        report.add(
            Figure(
                "load_decide_append_cycles",
                median(ours),
                "cycles/s",
                {
                    "eventsourcing": paired(ours, theirs),
                    "raw_commit": paired(ours, raw),
                    "sql_floor": paired(ours, floor),
                },
                ours,
                shape,
            )
        )
        report.add(
            Figure("eventsourcing_cycles", median(theirs), "cycles/s", samples=theirs, note=shape)
        )
        report.add(
            Figure(
                "raw_commit",
                median(raw),
                "commits/s",
                samples=raw,
                note="bare asyncpg, one single-row INSERT per transaction",
            )
        )
        report.add(
            Figure(
                "sql_floor_cycles",
                median(floor),
                "cycles/s",
                {"raw_commit": paired(floor, raw)},
                floor,
                "our cycle's two statements, arguments prebuilt, nothing decoded",
            )
        )
    finally:
        es.close()
        await pool.close()
        await drop_schema(dsn, schema)
        await drop_schema(dsn, es_schema)


# --- figure 2 ----------------------------------------------------------------------------


def batch(stream: str, size: int, first_version: int = 0) -> list[Any]:
    """``size`` envelopes for ``stream``; numbered from ``first_version`` when it is given, as
    the decider numbers what it appends, else left at 0 for the store to number."""
    correlation = uuid.uuid4()
    return [
        new_envelope(
            Incremented(note=note()),
            stream_id=stream,
            merchant_id="bench",
            correlation_id=correlation,
            stream_version=first_version + offset if first_version else 0,
        )
        for offset in range(size)
    ]


async def batched_append_rate(store: PostgresEventStore, batches: int, writers: int) -> float:
    # Numbered as the decider numbers what it appends, so the store has nothing to copy.
    prepared = [batch(f"bench-b{uuid.uuid4().hex}", 100, first_version=1) for _ in range(batches)]
    queue = iter(prepared)

    async def writer() -> None:
        for events in queue:
            await store.append(events[0].stream_id, 0, events)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return batches * 100 / (time.perf_counter() - started)


async def figure_batched_append(dsn: str, report: Report) -> None:
    batches = 100 if quick() else 400
    pool, schema = await fresh_schema(dsn, "batch")
    store = PostgresEventStore(pool, bench_registry, topic_resolver=lambda _s: "bench.none")
    try:
        await batched_append_rate(store, batches // 4, 4)
        rates = [await batched_append_rate(store, batches, 4) for _ in range(runs())]
        report.add(
            Figure(
                "batched_append_100",
                median(rates),
                "events/s",
                samples=rates,
                note="100-event batches, 4 concurrent writers, envelopes prebuilt",
            )
        )
    finally:
        await pool.close()
        await drop_schema(dsn, schema)


# --- figure 3 ----------------------------------------------------------------------------


async def seed_events(pool: asyncpg.Pool, total: int) -> None:
    """Write ``total`` events straight in SQL: seeding is not what is measured."""
    per_tx = 50_000
    for start in range(0, total, per_tx):
        await pool.execute(
            """
            INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                                occurred_at, merchant_id, correlation_id, data)
            SELECT 'bench-' || (g / 10), (g % 10) + 1, gen_random_uuid(), 'Incremented', 1,
                   now(), 'bench', gen_random_uuid(),
                   jsonb_build_object('note', rpad(lpad(g::text, 12, '0'), $3::int, 'x'))
            FROM generate_series($1::bigint, $2::bigint - 1) AS g
            """,
            start,
            min(total, start + per_tx),
            len(NOTE),
        )


async def count_by_type(conn: asyncpg.Connection, page: Sequence[RecordedEvent]) -> None:
    counts: dict[str, int] = {}
    for recorded in page:
        counts[recorded.envelope.event_type] = counts.get(recorded.envelope.event_type, 0) + 1
    await conn.executemany(
        "INSERT INTO bench_counts (event_type, n) VALUES ($1, $2) ON CONFLICT (event_type) "
        "DO UPDATE SET n = bench_counts.n + excluded.n",
        list(counts.items()),
    )


async def figure_catch_up(dsn: str, report: Report) -> None:
    total = 100_000 if quick() else 1_000_000
    pool, schema = await fresh_schema(dsn, "catchup")
    store = PostgresEventStore(pool, bench_registry, topic_resolver=lambda _s: "bench.none")
    try:
        await seed_events(pool, total)
        await pool.execute("CREATE TABLE bench_counts (event_type text PRIMARY KEY, n bigint)")
        await pool.execute("VACUUM ANALYZE events")
        await wait_until_visible(pool, "events")
        rates = []
        for run in range(runs() + 1):
            projection = TrackingProjection(pool, store, f"counts-{run}", count_by_type, 5000)
            await pool.execute("TRUNCATE bench_counts")
            started = time.perf_counter()
            applied = await projection.catch_up()
            elapsed = time.perf_counter() - started
            assert applied == total, f"caught up {applied} of {total}"
            assert await pool.fetchval("SELECT n FROM bench_counts") == total
            if run:  # the first run is the warm-up
                rates.append(applied / elapsed)
        report.add(
            Figure(
                "global_catch_up",
                median(rates),
                "events/s",
                samples=rates,
                note=f"{total} events, 5000 per page, tracking in the same commit",
            )
        )
    finally:
        await pool.close()
        await drop_schema(dsn, schema)


async def run_all(dsn: str, report: Report) -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")
    await figure_cycles(dsn, report)
    await figure_batched_append(dsn, report)
    await figure_catch_up(dsn, report)
