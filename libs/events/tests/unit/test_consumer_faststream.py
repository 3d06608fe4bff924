"""The FastStream wiring: what is acknowledged (offset committed) and what is rewound.

FastStream's in-memory TestKafkaBroker drives the subscriber that ``attach`` registers; the
real broker and database are exercised by the integration tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar

import anyio
import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.message import KafkaAckableMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber

from billing_events import dead_letter as dl
from billing_events.consumer import IdempotentConsumer, OffsetCommits, without_connection
from billing_events.dead_letter import DeadLetter
from billing_events.envelope import Envelope, EventData, EventRegistry, new_envelope

TOPIC = "unit.pings"


class Pinged(EventData):
    event_type: ClassVar[str] = "Pinged"
    n: int


@dataclass
class Acks:
    acked: int = 0
    nacked: int = 0


@dataclass
class FakeDeadLetters:
    letters: list[DeadLetter] = field(default_factory=list)

    async def publish(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


@pytest.fixture
def acks(monkeypatch: pytest.MonkeyPatch) -> Acks:
    """Count commits and rewinds instead of performing them on a consumer."""
    counts = Acks()

    async def ack(self: KafkaAckableMessage) -> None:
        counts.acked += 1

    async def nack(self: KafkaAckableMessage) -> None:
        counts.nacked += 1

    monkeypatch.setattr(KafkaAckableMessage, "ack", ack)
    monkeypatch.setattr(KafkaAckableMessage, "nack", nack)
    return counts


@dataclass
class Wiring:
    broker: KafkaBroker
    handled: list[Envelope]
    dead_letters: FakeDeadLetters
    inbox_up: list[bool]


class _Pool:
    """Just enough of asyncpg.Pool for the runner; ``inbox_up[0]`` simulates an outage."""

    def __init__(self, inbox_up: list[bool]) -> None:
        self.inbox_up = inbox_up
        self.claimed: set[uuid.UUID] = set()

    def acquire(self) -> _Pool:
        return self

    def transaction(self) -> _Pool:
        return self

    async def __aenter__(self) -> _Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def is_in_transaction(self) -> bool:
        return True

    async def fetchval(self, sql: str, consumer: str, message_id: uuid.UUID) -> bool | None:
        if not self.inbox_up[0]:
            raise OSError("connection refused")
        if message_id in self.claimed:
            return None
        self.claimed.add(message_id)
        return True

    async def fetch(
        self, sql: str, consumer: str, message_ids: list[uuid.UUID]
    ) -> list[dict[str, uuid.UUID]]:
        return [
            {"message_id": message_id}
            for message_id in message_ids
            if await self.fetchval(sql, consumer, message_id)
        ]


@pytest.fixture
async def wiring(acks: Acks) -> AsyncIterator[Wiring]:
    registry = EventRegistry()
    registry.register(Pinged)
    handled: list[Envelope] = []
    dead_letters = FakeDeadLetters()
    inbox_up = [True]

    async def handle(env: Envelope) -> None:
        handled.append(env)

    broker = KafkaBroker("localhost:1")
    consumer = IdempotentConsumer(
        _Pool(inbox_up),
        registry,
        "unit",
        without_connection(handle),
        dead_letters,
        unavailable_backoff=0,
    )
    # Every settled batch commits: what is counted is which batches may be committed.
    consumer.attach(broker, TOPIC, group_id="unit-group", commit_interval_ms=0)
    async with TestKafkaBroker(broker) as test_broker:
        yield Wiring(test_broker, handled, dead_letters, inbox_up)


def ping() -> Envelope:
    return new_envelope(
        Pinged(n=1), stream_id="ping-1", merchant_id="m", correlation_id=uuid.uuid4()
    )


async def test_a_processed_message_is_acknowledged(wiring: Wiring, acks: Acks) -> None:
    env = ping()

    await wiring.broker.publish(env.to_json(), TOPIC, key=b"ping-1")

    assert [e.event_id for e in wiring.handled] == [env.event_id]
    assert (acks.acked, acks.nacked) == (1, 0)


async def test_a_batch_is_acknowledged_once_after_every_message(wiring: Wiring, acks: Acks) -> None:
    first, second = ping(), ping()

    await wiring.broker.publish_batch(first.to_json(), second.to_json(), topic=TOPIC)

    assert [e.event_id for e in wiring.handled] == [first.event_id, second.event_id]
    assert (acks.acked, acks.nacked) == (1, 0)


async def test_a_duplicate_is_acknowledged_without_running_the_handler(
    wiring: Wiring, acks: Acks
) -> None:
    env = ping()

    await wiring.broker.publish(env.to_json(), TOPIC)
    await wiring.broker.publish(env.to_json(), TOPIC)

    assert len(wiring.handled) == 1
    assert (acks.acked, acks.nacked) == (2, 0)


async def test_a_dead_lettered_message_is_acknowledged(wiring: Wiring, acks: Acks) -> None:
    await wiring.broker.publish(b"{oops", TOPIC)

    assert wiring.handled == []
    assert len(wiring.dead_letters.letters) == 1
    assert (acks.acked, acks.nacked) == (1, 0)


async def test_an_outage_rewinds_instead_of_committing(wiring: Wiring, acks: Acks) -> None:
    wiring.inbox_up[0] = False

    await wiring.broker.publish(ping().to_json(), TOPIC)

    assert wiring.handled == []
    assert wiring.dead_letters.letters == []
    assert (acks.acked, acks.nacked) == (0, 1)


async def test_binary_headers_do_not_lose_the_message(wiring: Wiring, acks: Acks) -> None:
    """FastStream alone would fail to decode the header before any handler runs."""
    (subscriber,) = wiring.broker.subscribers
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=TOPIC,
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"not json",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=8,
        headers=[("trace", b"\xff\xfe"), ("nothing", None)],
    )

    await subscriber.process_message((record,))  # a batch of one, as getmany gives it

    (letter,) = wiring.dead_letters.letters
    assert ("trace", b"\xff\xfe") in letter.headers  # exactly as received
    assert letter.header(dl.ORIGINAL_OFFSET) == "41"
    assert (acks.acked, acks.nacked) == (1, 0)


def test_attach_needs_a_topic() -> None:
    consumer = IdempotentConsumer(
        _Pool([True]),
        EventRegistry(),
        "unit",
        without_connection(_noop),
        FakeDeadLetters(),
    )

    with pytest.raises(ValueError):
        consumer.attach(KafkaBroker("localhost:1"), group_id="g")


async def _noop(_env: Envelope) -> None:
    return None


@dataclass
class _PolledConsumer:
    """Answers ``getmany`` with ``batches`` in turn, then with nothing; records the calls."""

    batches: list[dict[str, list[str]]]
    calls: list[dict[str, int]] = field(default_factory=list)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        self.calls.append({"timeout_ms": timeout_ms, "max_records": max_records})
        return self.batches.pop(0) if self.batches else {}


def _attached(
    *, max_batch: int = 100, idle_wait_ms: int = 1_000, commit_interval_ms: int = 100
) -> BatchSubscriber:
    consumer = IdempotentConsumer(
        _Pool([True]), EventRegistry(), "unit", without_connection(_noop), FakeDeadLetters()
    )
    return consumer.attach(
        KafkaBroker("localhost:1"),
        TOPIC,
        group_id="g",
        max_batch=max_batch,
        idle_wait_ms=idle_wait_ms,
        commit_interval_ms=commit_interval_ms,
    )


async def test_a_poll_hands_over_every_partitions_records_in_one_batch() -> None:
    subscriber = _attached(max_batch=7, idle_wait_ms=900)
    polled = _PolledConsumer([{"p0": ["a", "b"], "p1": ["c"]}])

    batch = await subscriber.get_msg(polled)

    assert batch == ("a", "b", "c")
    assert polled.calls == [{"timeout_ms": 900, "max_records": 7}]


async def test_an_empty_poll_returns_at_once_for_the_next_poll() -> None:
    # FastStream's own batch poll sleeps its timeout again after an empty poll; a message
    # arriving during that sleep waited for it. The next poll must start straight away.
    subscriber = _attached(idle_wait_ms=60_000)
    polled = _PolledConsumer([])

    with anyio.fail_after(5):
        assert await subscriber.get_msg(polled) == ()

    assert len(polled.calls) == 1


class _Message:
    """Stands in for a batch's message: ``ack`` commits whatever the consumer has consumed."""

    def __init__(self, commits: list[str], consumed: list[str]) -> None:
        self._commits = commits
        self._consumed = consumed

    async def ack(self) -> None:
        self._commits.append(self._consumed[-1])


@dataclass
class _FetchingConsumer:
    """``getmany`` hands over the next of ``batches`` (consumed from then on), or nothing."""

    batches: list[str]
    consumed: list[str] = field(default_factory=lambda: ["start"])
    timeouts: list[int] = field(default_factory=list)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        self.timeouts.append(timeout_ms)
        if not self.batches:
            return {}
        self.consumed.append(self.batches.pop(0))
        return {"p0": [self.consumed[-1]]}


async def test_a_settled_batch_commits_at_once_when_the_last_commit_is_old() -> None:
    commits: list[str] = []
    polled = _FetchingConsumer(["b1"])
    schedule = OffsetCommits(interval=60.0)

    await schedule.next_batch(polled, max_records=10, timeout_ms=500)
    await schedule.settled(_Message(commits, polled.consumed))

    assert commits == ["b1"]


async def test_within_the_interval_the_commit_waits_for_a_poll_that_fetches_nothing() -> None:
    commits: list[str] = []
    polled = _FetchingConsumer(["b1", "b2", "b3"])
    schedule = OffsetCommits(interval=60.0)
    await schedule.next_batch(polled, max_records=10, timeout_ms=500)
    await schedule.settled(_Message(commits, polled.consumed))  # commits b1

    assert await schedule.next_batch(polled, max_records=10, timeout_ms=500) == ("b2",)
    await schedule.settled(_Message(commits, polled.consumed))
    assert commits == ["b1"]  # owed: b2 was committed less than the interval after b1

    # More was fetched: the positions now include b3, which has no outcome yet.
    assert await schedule.next_batch(polled, max_records=10, timeout_ms=500) == ("b3",)
    assert commits == ["b1"]
    await schedule.settled(_Message(commits, polled.consumed))

    # Nothing more: everything consumed has an outcome, so it is committed before waiting.
    assert await schedule.next_batch(polled, max_records=10, timeout_ms=500) == ()
    assert commits == ["b1", "b3"]
    assert polled.timeouts[-2:] == [0, 500]


async def test_an_idle_poll_owing_nothing_commits_nothing() -> None:
    commits: list[str] = []
    polled = _FetchingConsumer([])
    schedule = OffsetCommits(interval=0.0)

    assert await schedule.next_batch(polled, max_records=10, timeout_ms=500) == ()

    assert commits == []
    assert polled.timeouts == [500]


@pytest.mark.parametrize(
    "options", [{"max_batch": 0}, {"idle_wait_ms": 0}, {"commit_interval_ms": -1}]
)
def test_attach_rejects_options_out_of_range(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        _attached(**options)
