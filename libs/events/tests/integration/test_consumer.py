"""The idempotent consumer against the real PostgreSQL and the real Kafka-protocol broker.

Every test gets its own topic (and dead-letter topic), consumer group and database schema, so
tests neither see each other's messages nor share offsets. Waits poll until a condition holds
or a deadline passes; nothing sleeps for a fixed time and hopes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker

from billing_events import dead_letter as dl
from billing_events.consumer import (
    Handler,
    IdempotentConsumer,
    Outcome,
    migrate_inbox,
)
from billing_events.dead_letter import Delivery, KafkaDeadLetterPublisher, decode_headers
from billing_events.envelope import Envelope, EventData, EventRegistry, new_envelope
from billing_events.topics import Topic, dead_letter_topic
from devstack.kafka import ensure_topics

pytestmark = pytest.mark.integration

WAIT = 45.0  # generous: joining a consumer group takes a few seconds on a cold broker


class Counted(EventData):
    event_type: ClassVar[str] = "Counted"
    counter: str
    fail: bool = False


def registry() -> EventRegistry:
    events = EventRegistry()
    events.register(Counted)
    return events


def counted(counter: str, *, fail: bool = False, stream: str = "counter-1") -> Envelope:
    return new_envelope(
        Counted(counter=counter, fail=fail),
        stream_id=stream,
        merchant_id="merchant-1",
        correlation_id=uuid.uuid4(),
    )


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], *, timeout: float = WAIT, what: str
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _holds(condition()):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


async def _holds(result: bool | Awaitable[bool]) -> bool:
    return result if isinstance(result, bool) else await result


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


# --- database side effect: a counter ----------------------------------------------------


async def create_counters(pool: asyncpg.Pool) -> None:
    await pool.execute("CREATE TABLE counters (name text PRIMARY KEY, value integer NOT NULL)")


async def increment(env: Envelope, conn: asyncpg.Connection) -> None:
    assert isinstance(env.data, Counted)
    if env.data.fail:
        raise RuntimeError(f"cannot count {env.data.counter}")
    await conn.execute(
        "INSERT INTO counters (name, value) VALUES ($1, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1",
        env.data.counter,
    )


async def counter(pool: asyncpg.Pool, name: str) -> int:
    value = await pool.fetchval("SELECT value FROM counters WHERE name = $1", name)
    return int(value or 0)


# --- broker plumbing --------------------------------------------------------------------


@dataclass
class Stage:
    """One test's topic, dead-letter topic, consumer group and database."""

    bootstrap: str
    pool: asyncpg.Pool
    topic: str
    group_id: str
    dead_letters: KafkaDeadLetterPublisher
    producer: AIOKafkaProducer

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.topic).name

    async def publish(
        self,
        value: bytes,
        *,
        key: bytes = b"counter-1",
        headers: list[tuple[str, bytes]] | None = None,
    ) -> tuple[int, int]:
        """Publish and return (partition, offset) as the broker recorded them."""
        metadata = await self.producer.send_and_wait(
            self.topic, value, key=key, headers=headers or []
        )
        return metadata.partition, metadata.offset

    async def publish_envelope(self, env: Envelope) -> tuple[int, int]:
        return await self.publish(
            env.to_json(),
            key=env.stream_id.encode(),
            headers=[(k, v.encode()) for k, v in env.kafka_headers().items()],
        )


@pytest.fixture
async def stage(kafka_bootstrap: str, pg_pool: asyncpg.Pool) -> AsyncIterator[Stage]:
    suffix = uuid.uuid4().hex[:12]
    topic = f"test.consumer.{suffix}"
    await ensure_topics(kafka_bootstrap, [Topic(topic, 3), dead_letter_topic(topic)])
    await create_counters(pg_pool)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=False
    )
    await producer.start()
    try:
        async with KafkaDeadLetterPublisher(kafka_bootstrap) as dead_letters:
            yield Stage(kafka_bootstrap, pg_pool, topic, f"group-{suffix}", dead_letters, producer)
    finally:
        await producer.stop()


class RecordingConsumer(IdempotentConsumer):
    """Notes every delivery and its outcome, to tell "skipped" from "never delivered"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: list[tuple[Delivery, Outcome]] = []
        self.batch_sizes: list[int] = []

    async def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        outcomes = await super().handle_batch(deliveries)
        self.outcomes.extend(zip(deliveries, outcomes, strict=True))
        self.batch_sizes.append(len(deliveries))
        return outcomes

    def count(self, outcome: Outcome) -> int:
        return sum(1 for _, o in self.outcomes if o is outcome)


def make_consumer(
    stage: Stage,
    handler: Handler = increment,
    *,
    name: str = "counter",
    **options: Any,
) -> RecordingConsumer:
    options.setdefault("retry_backoff", 0.01)
    return RecordingConsumer(stage.pool, registry(), name, handler, stage.dead_letters, **options)


@asynccontextmanager
async def running(
    stage: Stage, consumer: IdempotentConsumer, *, group_id: str | None = None, **options: Any
) -> AsyncIterator[KafkaBroker]:
    broker = KafkaBroker(stage.bootstrap, graceful_timeout=2.0)
    consumer.attach(
        broker,
        stage.topic,
        group_id=group_id or stage.group_id,
        # The shortest session Kafka accepts by default: groups form and re-form faster.
        session_timeout_ms=6_000,
        heartbeat_interval_ms=2_000,
        **options,
    )
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@dataclass
class TopicReader:
    """Reads a one-partition topic from the beginning, without a consumer group."""

    bootstrap: str
    topic: str
    records: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)

    async def read(self, expected: int, *, timeout: float = WAIT) -> list[ConsumerRecord[Any, Any]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        try:
            partition = TopicPartition(self.topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            deadline = asyncio.get_running_loop().time() + timeout
            records: list[ConsumerRecord[Any, Any]] = []
            while len(records) < expected and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(partition, timeout_ms=500)
                records.extend(batch.get(partition, []))
            return records
        finally:
            await consumer.stop()


# --- idempotence ------------------------------------------------------------------------


async def test_the_same_event_twice_has_its_side_effect_once(stage: Stage) -> None:
    await migrate_inbox(stage.pool)
    consumer = make_consumer(stage)
    twice = counted("twice")
    after = counted("after")  # same stream, same partition: processed after both copies

    async with running(stage, consumer):
        await stage.publish_envelope(twice)
        await stage.publish_envelope(twice)
        await stage.publish_envelope(after)
        await eventually(lambda: _is(counter(stage.pool, "after"), 1), what="'after' counted")

    assert await counter(stage.pool, "twice") == 1
    assert consumer.count(Outcome.PROCESSED) == 2
    assert consumer.count(Outcome.DUPLICATE) == 1
    rows = await stage.pool.fetch("SELECT consumer, message_id FROM inbox ORDER BY processed_at")
    assert {(r["consumer"], r["message_id"]) for r in rows} == {
        ("counter", twice.event_id),
        ("counter", after.event_id),
    }


async def test_a_group_replaying_the_topic_changes_nothing(stage: Stage) -> None:
    """A consumer that lost its offsets (crash before commit, reset group) re-reads safely."""
    await migrate_inbox(stage.pool)
    events = [counted(f"c{i}", stream=f"counter-{i}") for i in range(6)]
    for env in events:
        await stage.publish_envelope(env)

    first = make_consumer(stage)
    async with running(stage, first):
        await eventually(lambda: first.count(Outcome.PROCESSED) == 6, what="first pass")

    replay = make_consumer(stage)
    async with running(stage, replay, group_id=f"{stage.group_id}-replay"):
        await eventually(lambda: replay.count(Outcome.DUPLICATE) == 6, what="replay")

    assert [await counter(stage.pool, f"c{i}") for i in range(6)] == [1] * 6
    assert replay.count(Outcome.PROCESSED) == 0


async def test_a_backlog_is_handled_in_batches_each_message_once(stage: Stage) -> None:
    """What piled up while the consumer was away comes in fetches of many messages, each
    fetch one transaction; every message still has its effect exactly once."""
    await migrate_inbox(stage.pool)
    events = [counted("backlog", stream=f"counter-{i % 5}") for i in range(60)]
    for env in events:
        await stage.publish_envelope(env)
    await stage.publish_envelope(events[7])  # a relay's redelivery, in the same backlog

    consumer = make_consumer(stage)
    async with running(stage, consumer):
        await eventually(lambda: len(consumer.outcomes) == 61, what="the whole backlog")

    assert await counter(stage.pool, "backlog") == 60
    assert consumer.count(Outcome.PROCESSED) == 60
    assert consumer.count(Outcome.DUPLICATE) == 1
    assert max(consumer.batch_sizes) > 1


def not_skipped(env: Envelope) -> bool:
    return isinstance(env.data, Counted) and not env.data.counter.startswith("skip")


async def test_messages_the_handler_does_not_act_on_are_settled_without_an_inbox_row(
    stage: Stage,
) -> None:
    """Ignored messages are committed past like the others (a restarted member does not see
    them again), with no inbox row and no effect; the rest are handled once each."""
    await migrate_inbox(stage.pool)
    acted_on = [counted("kept", stream=f"counter-{n}") for n in range(3)]
    ignored = [counted(f"skip-{n}", stream=f"counter-{n}") for n in range(3)]
    first = make_consumer(stage, acts_on=not_skipped)
    async with running(stage, first):
        for kept, skipped in zip(acted_on, ignored, strict=True):
            await stage.publish_envelope(skipped)
            await stage.publish_envelope(kept)
        await eventually(lambda: len(first.outcomes) == 6, what="all six settled")

    assert first.count(Outcome.IGNORED) == 3
    assert first.count(Outcome.PROCESSED) == 3
    assert await counter(stage.pool, "kept") == 3
    assert [await counter(stage.pool, f"skip-{n}") for n in range(3)] == [0, 0, 0]
    inbox = await stage.pool.fetch("SELECT message_id FROM inbox")
    assert {row["message_id"] for row in inbox} == {env.event_id for env in acted_on}

    await stage.publish_envelope(counted("after"))
    second = make_consumer(stage, acts_on=not_skipped)
    async with running(stage, second):
        await eventually(lambda: _is(counter(stage.pool, "after"), 1), what="'after' counted")
    assert [o for _, o in second.outcomes] == [Outcome.PROCESSED]


async def test_a_restarted_member_resumes_after_its_committed_offsets(stage: Stage) -> None:
    await migrate_inbox(stage.pool)
    first = make_consumer(stage)
    async with running(stage, first):
        await stage.publish_envelope(counted("before"))
        await eventually(lambda: len(first.outcomes) == 1, what="first message")

    await stage.publish_envelope(counted("after"))
    second = make_consumer(stage)
    async with running(stage, second):
        await eventually(lambda: _is(counter(stage.pool, "after"), 1), what="'after' counted")

    # Committed: the first message is not delivered to the restarted member at all.
    assert [o for _, o in second.outcomes] == [Outcome.PROCESSED]


async def test_an_idle_member_has_committed_what_it_settled_within_the_interval(
    stage: Stage,
) -> None:
    """Batches settled less than ``commit_interval_ms`` after a commit are committed once the
    member finds nothing more to do, not only when the interval has passed."""
    await migrate_inbox(stage.pool)
    consumer = make_consumer(stage)
    offsets: list[tuple[int, int]] = []
    async with running(stage, consumer, commit_interval_ms=3_600_000):
        for n in range(3):  # one at a time: three batches, the last two within the interval
            offsets.append(await stage.publish_envelope(counted(f"c{n}")))
            await eventually(
                lambda n=n: len(consumer.outcomes) == n + 1,
                what=f"message {n}",
            )
        (partition,) = {p for p, _ in offsets}
        await eventually(
            lambda: _committed(stage, partition, offsets[-1][1] + 1), what="last offset committed"
        )


async def _committed(stage: Stage, partition: int, offset: int) -> bool:
    reader = AIOKafkaConsumer(
        bootstrap_servers=stage.bootstrap, group_id=stage.group_id, enable_auto_commit=False
    )
    await reader.start()
    try:
        return await reader.committed(TopicPartition(stage.topic, partition)) == offset
    finally:
        await reader.stop()


async def test_a_message_in_flight_at_shutdown_is_delivered_again(stage: Stage) -> None:
    """The offset moves only after the outcome: stopping mid-handler loses nothing."""
    await migrate_inbox(stage.pool)
    started = asyncio.Event()

    async def hangs(env: Envelope, conn: asyncpg.Connection) -> None:
        started.set()
        await asyncio.Event().wait()  # until the broker's graceful timeout cancels it

    stuck = make_consumer(stage, hangs)
    async with running(stage, stuck):
        await stage.publish_envelope(counted("in-flight"))
        await asyncio.wait_for(started.wait(), WAIT)

    assert await counter(stage.pool, "in-flight") == 0
    healthy = make_consumer(stage)
    async with running(stage, healthy):
        await eventually(
            lambda: _is(counter(stage.pool, "in-flight"), 1), what="redelivered message"
        )


# --- dead letters -----------------------------------------------------------------------


async def test_poison_and_failing_messages_are_dead_lettered_and_the_rest_processed(
    stage: Stage,
) -> None:
    await migrate_inbox(stage.pool)
    consumer = make_consumer(stage, max_attempts=3)
    failing = counted("never", fail=True)

    async with running(stage, consumer):
        poison_at = await stage.publish(
            b"\x00this is not JSON", key=b"counter-1", headers=[("x-trace", b"t-1")]
        )
        failing_at = await stage.publish_envelope(failing)
        await stage.publish_envelope(counted("after-poison"))
        await eventually(
            lambda: _is(counter(stage.pool, "after-poison"), 1), what="message after poison"
        )

    letters = await TopicReader(stage.bootstrap, stage.dead_letter_topic).read(2)
    assert len(letters) == 2
    poison, handler_failure = letters

    assert poison.value == b"\x00this is not JSON"
    assert poison.key == b"counter-1"
    headers = decode_headers(poison.headers)
    assert headers[dl.REASON] == "malformed"
    assert headers[dl.ERROR_TYPE] == "billing_events.envelope.ContractError"
    assert headers[dl.ERROR_MESSAGE].startswith("not JSON")
    assert headers[dl.ORIGINAL_TOPIC] == stage.topic
    assert (int(headers[dl.ORIGINAL_PARTITION]), int(headers[dl.ORIGINAL_OFFSET])) == poison_at
    assert headers[dl.ORIGINAL_KEY] == "counter-1"
    assert headers[dl.ATTEMPTS] == "1"
    assert headers[dl.CONSUMER] == "counter"
    assert headers["x-trace"] == "t-1"  # the original headers travel along

    assert handler_failure.value == failing.to_json()
    headers = decode_headers(handler_failure.headers)
    assert headers[dl.REASON] == "handler_failed"
    assert headers[dl.ERROR_TYPE] == "RuntimeError"
    assert headers[dl.ERROR_MESSAGE] == "cannot count never"
    assert "RuntimeError: cannot count never" in headers[dl.ERROR_TRACEBACK]
    assert (
        int(headers[dl.ORIGINAL_PARTITION]),
        int(headers[dl.ORIGINAL_OFFSET]),
    ) == failing_at
    assert headers[dl.ATTEMPTS] == "3"
    assert headers["event_id"] == str(failing.event_id)
    assert headers["correlation_id"] == str(failing.correlation_id)

    # Neither left a trace in the database: a fixed handler can process a replay.
    assert (
        await stage.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE message_id = $1", failing.event_id
        )
        == 0
    )
    assert await counter(stage.pool, "never") == 0


async def test_an_unknown_event_type_is_dead_lettered(stage: Stage) -> None:
    await migrate_inbox(stage.pool)
    consumer = make_consumer(stage)
    body = counted("x").to_json().replace(b'"Counted"', b'"CountedTwice"')

    async with running(stage, consumer):
        unknown_at = await stage.publish(body)
        await stage.publish_envelope(counted("after-unknown"))
        await eventually(
            lambda: _is(counter(stage.pool, "after-unknown"), 1), what="message after it"
        )

    (letter,) = await TopicReader(stage.bootstrap, stage.dead_letter_topic).read(1)
    assert letter.value == body
    headers = decode_headers(letter.headers)
    assert headers[dl.REASON] == "malformed"
    assert "unknown event type 'CountedTwice'" in headers[dl.ERROR_MESSAGE]
    assert (int(headers[dl.ORIGINAL_PARTITION]), int(headers[dl.ORIGINAL_OFFSET])) == unknown_at


async def test_while_the_inbox_is_unavailable_nothing_is_dead_lettered_or_skipped(
    stage: Stage,
) -> None:
    """Without the inbox table every claim fails: the consumer waits instead of giving up."""
    consumer = make_consumer(stage, unavailable_backoff=0.1, max_unavailable_backoff=0.5)

    async with running(stage, consumer):
        await stage.publish_envelope(counted("patient"))
        await eventually(lambda: consumer.count(Outcome.RETRY_LATER) >= 3, what="redeliveries")
        await migrate_inbox(stage.pool)
        await eventually(lambda: _is(counter(stage.pool, "patient"), 1), what="processing")

    assert consumer.count(Outcome.DEAD_LETTERED) == 0
    assert await TopicReader(stage.bootstrap, stage.dead_letter_topic).read(1, timeout=2) == []
