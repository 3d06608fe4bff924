"""Figure 4: the outbox relay to the broker: throughput, and commit-to-broker-ack latency."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import datetime

from benchmarks.bench_event_store import batch, bench_registry, fresh_schema
from benchmarks.harness import Figure, Report, median, percentile, quick, runs
from billing_events.outbox import OutboxRelay, PendingMessage
from billing_events.store import PostgresEventStore
from billing_events.topics import Topic
from devstack.kafka import ensure_topics
from devstack.postgres import drop_schema


async def wait_until_published(relay: OutboxRelay, count: int, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while relay.published < count:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"relay published {relay.published} of {count}")
        await asyncio.sleep(0.002)


async def throughput(dsn: str, bootstrap: str, topic: str, events: int) -> float:
    pool, schema = await fresh_schema(dsn, "relay")
    store = PostgresEventStore(pool, bench_registry, topic_resolver=lambda _s: topic)
    try:
        for start in range(0, events, 100):
            await store.append(f"bench-r{start}", 0, batch(f"bench-r{start}", 100))
        relay = OutboxRelay(pool, bootstrap, batch_size=2000, name="bench")
        started = time.perf_counter()
        task = asyncio.create_task(relay.run())
        await wait_until_published(relay, events, timeout=300)
        elapsed = time.perf_counter() - started
        relay.stop()
        await task
        return events / elapsed
    finally:
        await pool.close()
        await drop_schema(dsn, schema)


async def latencies(dsn: str, bootstrap: str, topic: str, rate: int, seconds: float) -> list[float]:
    """Append one event at a time at ``rate``/s; latency = broker ack time - commit time."""
    pool, schema = await fresh_schema(dsn, "relaylat")
    store = PostgresEventStore(pool, bench_registry, topic_resolver=lambda _s: topic)
    samples: list[float] = []

    def record(messages: Sequence[PendingMessage], acked_at: datetime) -> None:
        samples.extend((acked_at - m.created_at).total_seconds() * 1000 for m in messages)

    relay = OutboxRelay(pool, bootstrap, name="bench", on_published=record)
    task = asyncio.create_task(relay.run())
    try:
        total = int(rate * seconds)
        interval = 1 / rate
        started = time.perf_counter()
        for i in range(total):
            stream = f"bench-l{uuid.uuid4().hex[:8]}"
            await store.append(stream, 0, batch(stream, 1))
            delay = started + (i + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await wait_until_published(relay, total, timeout=60)
        return samples
    finally:
        relay.stop()
        await task
        await pool.close()
        await drop_schema(dsn, schema)


async def run_all(dsn: str, bootstrap: str, report: Report) -> None:
    topic = f"bench.relay.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [Topic(topic, 6)])
    events = 5_000 if quick() else 20_000
    await throughput(dsn, bootstrap, topic, events // 4)
    rates = [await throughput(dsn, bootstrap, topic, events) for _ in range(runs())]
    report.add(
        Figure(
            "relay_throughput",
            median(rates),
            "events/s",
            samples=rates,
            note=f"{events} events queued, then drained to the broker",
        )
    )
    samples = await latencies(dsn, bootstrap, topic, rate=200, seconds=3 if quick() else 10)
    report.add(
        Figure(
            "relay_commit_to_ack_p50",
            percentile(samples, 50),
            "ms",
            note="200 single-event commits/s",
        )
    )
    report.add(Figure("relay_commit_to_ack_p99", percentile(samples, 99), "ms"))
