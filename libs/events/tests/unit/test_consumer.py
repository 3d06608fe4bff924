"""Decisions of the idempotent consumer, driven without a database or a broker.

A fake pool stands in for asyncpg: it keeps an inbox and a list of side effects, and applies a
transaction's writes only when the transaction commits, which is all the consumer relies on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

import asyncpg
import orjson
import pytest
import structlog

from billing_events import dead_letter as dl
from billing_events.consumer import (
    IdempotentConsumer,
    Outcome,
    RetryPolicy,
    claim,
    exponential_backoff,
    first_unsettled,
    without_connection,
)
from billing_events.dead_letter import DeadLetter, Delivery
from billing_events.envelope import Envelope, EventData, EventRegistry, new_envelope

# --- fakes ------------------------------------------------------------------------------


class Pinged(EventData):
    event_type: ClassVar[str] = "Pinged"
    n: int


class SendPing(EventData):
    """A command: same envelope, another registry."""

    event_type: ClassVar[str] = "SendPing"
    n: int


def events_registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(Pinged)
    return registry


def commands_registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(SendPing)
    return registry


def envelope(data: EventData | None = None) -> Envelope:
    return new_envelope(
        data or Pinged(n=1),
        stream_id="ping-1",
        merchant_id="m-1",
        correlation_id=uuid.uuid4(),
    )


def delivery_of(
    body: bytes, *, offset: int = 0, headers: tuple[tuple[str, bytes], ...] = ()
) -> Delivery:
    return Delivery(
        topic="pings", partition=0, offset=offset, value=body, key=b"ping-1", headers=headers
    )


@dataclass
class FakeDatabase:
    inbox: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    effects: list[Any] = field(default_factory=list)
    claim_error: Exception | None = None
    transactions: int = 0


@dataclass
class Pending:
    inbox: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    effects: list[Any] = field(default_factory=list)


class FakeTransaction:
    def __init__(self, conn: FakeConnection) -> None:
        self._conn = conn

    async def __aenter__(self) -> None:
        self._conn.pending = Pending()
        self._conn.db.transactions += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pending, self._conn.pending = self._conn.pending, None
        if exc_type is None and pending is not None:
            self._conn.db.inbox |= pending.inbox
            self._conn.db.effects.extend(pending.effects)


class FakeConnection:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.pending: Pending | None = None

    def transaction(self) -> FakeTransaction:
        return FakeTransaction(self)

    def is_in_transaction(self) -> bool:
        return self.pending is not None

    async def fetchval(self, sql: str, consumer: str, message_id: uuid.UUID) -> bool | None:
        assert "INSERT INTO inbox" in sql
        assert self.pending is not None
        if self.db.claim_error is not None:
            raise self.db.claim_error
        key = (consumer, message_id)
        if key in self.db.inbox or key in self.pending.inbox:
            return None
        self.pending.inbox.add(key)
        return True

    async def fetch(
        self, sql: str, consumer: str, message_ids: list[uuid.UUID]
    ) -> list[dict[str, uuid.UUID]]:
        assert "INSERT INTO inbox" in sql
        assert message_ids == sorted(set(message_ids)), "ids must be claimed in one order"
        claimed = []
        for message_id in message_ids:
            if await self.fetchval(sql, consumer, message_id):
                claimed.append({"message_id": message_id})
        return claimed

    def record(self, effect: Any) -> None:
        """What a handler's INSERT/UPDATE would do: visible only once committed."""
        assert self.pending is not None, "side effect outside the transaction"
        self.pending.effects.append(effect)


class FakePool:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield FakeConnection(self.db)


@dataclass
class FakeDeadLetters:
    letters: list[DeadLetter] = field(default_factory=list)
    error: Exception | None = None

    async def publish(self, letter: DeadLetter) -> None:
        if self.error is not None:
            raise self.error
        self.letters.append(letter)


@dataclass
class Harness:
    db: FakeDatabase
    dead_letters: FakeDeadLetters
    seen: list[Envelope]


def make_consumer(
    handler: Any = None,
    *,
    registry: EventRegistry | None = None,
    max_attempts: int = 3,
    acts_on: Any = None,
) -> tuple[IdempotentConsumer, Harness]:
    harness = Harness(FakeDatabase(), FakeDeadLetters(), [])

    async def record_effect(env: Envelope, conn: Any) -> None:
        harness.seen.append(env)
        conn.record(env.event_id)

    consumer = IdempotentConsumer(
        FakePool(harness.db),
        registry or events_registry(),
        "pinger",
        handler or record_effect,
        harness.dead_letters,
        max_attempts=max_attempts,
        retry_backoff=0,
        acts_on=acts_on,
    )
    return consumer, harness


# --- retry policy -----------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [exponential_backoff(n, base=0.05, cap=0.3) for n in range(1, 6)]

    assert delays == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.3])


def test_backoff_survives_a_very_long_outage() -> None:
    assert exponential_backoff(10_000, base=1.0, cap=30.0) == 30.0


def test_backoff_attempts_are_one_based() -> None:
    with pytest.raises(ValueError):
        exponential_backoff(0, base=1.0, cap=1.0)


def test_retry_policy_allows_max_attempts_in_total() -> None:
    policy = RetryPolicy(max_attempts=3)

    assert [policy.should_retry(n) for n in (1, 2, 3, 4)] == [True, True, False, False]


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"backoff": -1.0}, {"max_backoff": -0.5}])
def test_retry_policy_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_consumer_name_is_required() -> None:
    with pytest.raises(ValueError):
        make_consumer_named("")


def make_consumer_named(name: str) -> IdempotentConsumer:
    return IdempotentConsumer(
        FakePool(FakeDatabase()),
        events_registry(),
        name,
        without_connection(_noop),
        FakeDeadLetters(),
    )


async def _noop(_env: Envelope) -> None:
    return None


# --- processing and duplicates ----------------------------------------------------------


async def test_a_new_event_is_processed_and_recorded_in_the_inbox() -> None:
    consumer, h = make_consumer()
    env = envelope()

    outcome = await consumer.handle(delivery_of(env.to_json()))

    assert outcome is Outcome.PROCESSED
    assert h.seen == [env]
    assert h.db.effects == [env.event_id]
    assert h.db.inbox == {("pinger", env.event_id)}


async def test_the_same_event_twice_has_its_effect_once() -> None:
    consumer, h = make_consumer()
    env = envelope()

    first = await consumer.handle(delivery_of(env.to_json(), offset=0))
    second = await consumer.handle(delivery_of(env.to_json(), offset=1))

    assert (first, second) == (Outcome.PROCESSED, Outcome.DUPLICATE)
    assert h.db.effects == [env.event_id]
    assert len(h.seen) == 1  # the handler is not even called for the duplicate


async def test_consumers_with_different_names_each_process_the_event() -> None:
    first, h = make_consumer()
    second = IdempotentConsumer(
        FakePool(h.db),
        events_registry(),
        "mailer",
        without_connection(_noop),
        h.dead_letters,
    )
    env = envelope()

    assert await first.handle(delivery_of(env.to_json())) is Outcome.PROCESSED
    assert await second.handle(delivery_of(env.to_json())) is Outcome.PROCESSED
    assert h.db.inbox == {("pinger", env.event_id), ("mailer", env.event_id)}


async def test_without_connection_adapts_a_handler_with_an_external_effect() -> None:
    sent: list[uuid.UUID] = []

    async def send_email(env: Envelope) -> None:
        sent.append(env.event_id)

    consumer, _ = make_consumer(without_connection(send_email))
    env = envelope()

    await consumer.handle(delivery_of(env.to_json()))
    await consumer.handle(delivery_of(env.to_json()))

    assert sent == [env.event_id]


async def test_commands_are_consumed_with_the_command_registry() -> None:
    consumer, h = make_consumer(registry=commands_registry())
    command = envelope(SendPing(n=3))

    assert await consumer.handle(delivery_of(command.to_json())) is Outcome.PROCESSED
    assert isinstance(h.seen[0].data, SendPing)
    # An event is not a command this consumer knows: it is parked, not guessed at.
    assert await consumer.handle(delivery_of(envelope().to_json())) is Outcome.DEAD_LETTERED


async def test_the_correlation_id_is_bound_while_the_handler_runs() -> None:
    bound: list[dict[str, Any]] = []

    async def handler(env: Envelope, conn: Any) -> None:
        bound.append(structlog.contextvars.get_contextvars())

    consumer, _ = make_consumer(handler)
    env = envelope()

    await consumer.handle(delivery_of(env.to_json()))

    assert bound[0]["correlation_id"] == str(env.correlation_id)
    assert bound[0]["event_id"] == str(env.event_id)
    assert bound[0]["consumer"] == "pinger"
    assert "correlation_id" not in structlog.contextvars.get_contextvars()


@pytest.mark.parametrize(
    ("header", "bound"),
    [(b"c-42", "c-42"), (b"two\nlines", None), (b"x" * 500, None), (b"\xff", None)],
)
async def test_a_malformed_message_s_correlation_header_is_bound_only_if_plain(
    header: bytes, bound: str | None
) -> None:
    seen: list[Any] = []

    class Spy(FakeDeadLetters):
        async def publish(self, letter: DeadLetter) -> None:
            seen.append(structlog.contextvars.get_contextvars().get("correlation_id"))

    consumer = IdempotentConsumer(
        FakePool(FakeDatabase()), events_registry(), "pinger", without_connection(_noop), Spy()
    )

    await consumer.handle(delivery_of(b"nope", headers=(("correlation_id", header),)))

    assert seen == [bound]


# --- malformed messages -----------------------------------------------------------------


def _valid_dict() -> dict[str, Any]:
    return dict(orjson.loads(envelope().to_json()))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00\x01 definitely not json", "not JSON"),
        (b"[1, 2, 3]", "must be a JSON object"),
        (orjson.dumps({**_valid_dict(), "event_type": "NoSuchEvent"}), "unknown event type"),
        (orjson.dumps({**_valid_dict(), "data": {"n": "many"}}), "invalid Pinged data"),
        (orjson.dumps({**_valid_dict(), "correlation_id": "nope"}), "invalid envelope"),
        (orjson.dumps({**_valid_dict(), "schema_version": 9}), "newer than this reader"),
        (b"", "not JSON"),
    ],
)
async def test_a_malformed_message_is_dead_lettered_at_once(body: bytes, reason: str) -> None:
    calls: list[Envelope] = []

    async def handler(env: Envelope, conn: Any) -> None:
        calls.append(env)

    consumer, h = make_consumer(handler)

    outcome = await consumer.handle(delivery_of(body, headers=(("correlation_id", b"c-9"),)))

    assert outcome is Outcome.DEAD_LETTERED
    assert calls == []
    assert h.db.transactions == 0  # no retry, not even a database round trip
    (letter,) = h.dead_letters.letters
    assert letter.value == body
    assert letter.topic == "pings.dlq"
    assert letter.header(dl.REASON) == "malformed"
    assert letter.header(dl.ERROR_TYPE) == "billing_events.envelope.ContractError"
    assert reason in (letter.header(dl.ERROR_MESSAGE) or "")
    assert letter.header(dl.ATTEMPTS) == "1"
    assert letter.header("correlation_id") == "c-9"


# --- failing handlers -------------------------------------------------------------------


async def test_a_failing_handler_is_retried_and_its_writes_rolled_back() -> None:
    attempts: list[int] = []

    async def flaky(env: Envelope, conn: Any) -> None:
        attempts.append(len(attempts) + 1)
        conn.record(f"attempt {len(attempts)}")
        if len(attempts) < 3:
            raise RuntimeError("transient")

    consumer, h = make_consumer(flaky, max_attempts=3)
    env = envelope()

    outcome = await consumer.handle(delivery_of(env.to_json()))

    assert outcome is Outcome.PROCESSED
    assert attempts == [1, 2, 3]
    assert h.db.effects == ["attempt 3"]  # the failed attempts left nothing behind
    assert h.db.inbox == {("pinger", env.event_id)}
    assert h.dead_letters.letters == []


async def test_a_handler_failing_every_attempt_is_dead_lettered() -> None:
    attempts = 0

    async def broken(env: Envelope, conn: Any) -> None:
        nonlocal attempts
        attempts += 1
        conn.record("half done")
        raise KeyError("plan-9")

    consumer, h = make_consumer(broken, max_attempts=4)
    env = envelope()

    outcome = await consumer.handle(delivery_of(env.to_json(), offset=17))

    assert outcome is Outcome.DEAD_LETTERED
    assert attempts == 4
    assert h.db.effects == []
    # Not claimed: a replay of the dead letter after a fix is processed, not skipped.
    assert h.db.inbox == set()
    (letter,) = h.dead_letters.letters
    assert letter.value == env.to_json()
    assert letter.key == b"ping-1"
    headers = dl.decode_headers(letter.headers)
    assert headers[dl.REASON] == "handler_failed"
    assert headers[dl.ERROR_TYPE] == "KeyError"
    assert headers[dl.ERROR_MESSAGE] == "'plan-9'"
    assert headers[dl.ATTEMPTS] == "4"
    assert headers[dl.ORIGINAL_OFFSET] == "17"
    assert headers[dl.CONSUMER] == "pinger"


async def test_a_unique_violation_in_the_handler_counts_as_a_handler_failure() -> None:
    async def handler(env: Envelope, conn: Any) -> None:
        raise asyncpg.UniqueViolationError("duplicate key value")

    consumer, h = make_consumer(handler, max_attempts=2)

    assert await consumer.handle(delivery_of(envelope().to_json())) is Outcome.DEAD_LETTERED
    assert h.dead_letters.letters[0].header(dl.ERROR_TYPE) == (
        "asyncpg.exceptions.UniqueViolationError"
    )


# --- the database or the dead-letter topic is down ---------------------------------------


async def test_an_unreachable_inbox_retries_later_without_dead_lettering() -> None:
    consumer, h = make_consumer()
    h.db.claim_error = asyncpg.UndefinedTableError('relation "inbox" does not exist')

    outcome = await consumer.handle(delivery_of(envelope().to_json()))

    assert outcome is Outcome.RETRY_LATER
    assert not outcome.settled
    assert h.seen == []
    assert h.db.transactions == 1  # not retried in place: the message is redelivered
    assert h.dead_letters.letters == []


async def test_a_connection_lost_inside_the_handler_is_not_the_message_s_fault() -> None:
    async def handler(env: Envelope, conn: Any) -> None:
        raise asyncpg.ConnectionDoesNotExistError("connection was closed mid-operation")

    consumer, h = make_consumer(handler, max_attempts=3)

    outcome = await consumer.handle(delivery_of(envelope().to_json()))

    assert outcome is Outcome.RETRY_LATER
    assert h.db.transactions == 1
    assert h.dead_letters.letters == []


async def test_when_the_dead_letter_topic_is_down_the_message_is_kept() -> None:
    async def broken(env: Envelope, conn: Any) -> None:
        raise RuntimeError("bug")

    consumer, h = make_consumer(broken, max_attempts=2)
    h.dead_letters.error = ConnectionError("broker down")

    handler_failure = await consumer.handle(delivery_of(envelope().to_json()))
    malformed = await consumer.handle(delivery_of(b"not json"))

    assert handler_failure is Outcome.RETRY_LATER
    assert malformed is Outcome.RETRY_LATER


async def test_settled_outcomes_allow_the_offset_to_move_on() -> None:
    assert {o: o.settled for o in Outcome} == {
        Outcome.PROCESSED: True,
        Outcome.DUPLICATE: True,
        Outcome.IGNORED: True,
        Outcome.DEAD_LETTERED: True,
        Outcome.RETRY_LATER: False,
    }


# --- envelopes the handler does not act on ---------------------------------------------


def even_pings(env: Envelope) -> bool:
    return isinstance(env.data, Pinged) and env.data.n % 2 == 0


async def test_an_envelope_the_handler_does_not_act_on_is_ignored_without_a_transaction() -> None:
    consumer, h = make_consumer(acts_on=even_pings)

    outcome = await consumer.handle(delivery_of(envelope(Pinged(n=1)).to_json()))

    assert outcome is Outcome.IGNORED
    assert h.seen == []
    assert h.db.transactions == 0
    assert h.db.inbox == set()


async def test_a_batch_handles_what_the_handler_acts_on_in_one_transaction_in_order() -> None:
    consumer, h = make_consumer(acts_on=even_pings)
    envs = [envelope(Pinged(n=n)) for n in range(6)]

    outcomes = await consumer.handle_batch(deliveries_of(*(e.to_json() for e in envs)))

    assert outcomes == [Outcome.PROCESSED, Outcome.IGNORED] * 3
    assert h.db.transactions == 1
    assert h.db.effects == [envs[0].event_id, envs[2].event_id, envs[4].event_id]
    assert h.db.inbox == {("pinger", envs[n].event_id) for n in (0, 2, 4)}


async def test_a_batch_of_ignored_envelopes_opens_no_transaction() -> None:
    consumer, h = make_consumer(acts_on=even_pings)

    outcomes = await consumer.handle_batch(
        deliveries_of(*(envelope(Pinged(n=n)).to_json() for n in (1, 3, 5)))
    )

    assert outcomes == [Outcome.IGNORED] * 3
    assert h.db.transactions == 0


async def test_an_ignored_envelope_after_one_kept_for_later_is_kept_for_later_too() -> None:
    consumer, h = make_consumer(acts_on=even_pings)
    h.dead_letters.error = ConnectionError("broker down")

    outcomes = await consumer.handle_batch(
        deliveries_of(b"not json", envelope(Pinged(n=1)).to_json())
    )

    assert outcomes == [Outcome.RETRY_LATER, Outcome.RETRY_LATER]


async def test_a_failing_acts_on_lets_the_handler_have_the_envelope() -> None:
    def broken(_env: Envelope) -> bool:
        raise KeyError("bug in the filter")

    consumer, h = make_consumer(acts_on=broken)
    envs = [envelope(Pinged(n=n)) for n in range(2)]

    outcomes = await consumer.handle_batch(deliveries_of(*(e.to_json() for e in envs)))

    assert outcomes == [Outcome.PROCESSED, Outcome.PROCESSED]
    assert h.db.effects == [e.event_id for e in envs]


# --- claim ------------------------------------------------------------------------------


async def test_claim_refuses_to_run_outside_a_transaction() -> None:
    conn = FakeConnection(FakeDatabase())

    with pytest.raises(RuntimeError, match="outside a transaction"):
        await claim(conn, "pinger", uuid.uuid4())


# --- batches ----------------------------------------------------------------------------


def deliveries_of(*bodies: bytes) -> list[Delivery]:
    return [delivery_of(body, offset=offset) for offset, body in enumerate(bodies)]


async def test_a_batch_is_handled_in_one_transaction_in_order() -> None:
    consumer, h = make_consumer()
    envs = [envelope(Pinged(n=n)) for n in range(5)]

    outcomes = await consumer.handle_batch(deliveries_of(*(e.to_json() for e in envs)))

    assert outcomes == [Outcome.PROCESSED] * 5
    assert h.db.transactions == 1
    assert h.db.effects == [e.event_id for e in envs]
    assert h.db.inbox == {("pinger", e.event_id) for e in envs}


async def test_duplicates_in_a_batch_have_no_effect() -> None:
    consumer, h = make_consumer()
    old, new = envelope(), envelope()
    await consumer.handle(delivery_of(old.to_json()))

    outcomes = await consumer.handle_batch(
        deliveries_of(old.to_json(), new.to_json(), new.to_json())
    )

    assert outcomes == [Outcome.DUPLICATE, Outcome.PROCESSED, Outcome.DUPLICATE]
    assert h.db.effects == [old.event_id, new.event_id]


async def test_a_failure_in_a_batch_rolls_it_back_and_each_message_gets_its_own_outcome() -> None:
    failures_left = {2: 1, 3: 99}  # n=2 fails once, n=3 always

    async def handler(env: Envelope, conn: Any) -> None:
        assert isinstance(env.data, Pinged)
        conn.record(env.data.n)
        if failures_left.get(env.data.n, 0) > 0:
            failures_left[env.data.n] -= 1
            raise RuntimeError(f"cannot ping {env.data.n}")

    consumer, h = make_consumer(handler, max_attempts=2)
    envs = [envelope(Pinged(n=n)) for n in range(1, 6)]

    outcomes = await consumer.handle_batch(deliveries_of(*(e.to_json() for e in envs)))

    assert outcomes == [
        Outcome.PROCESSED,
        Outcome.PROCESSED,
        Outcome.DEAD_LETTERED,
        Outcome.PROCESSED,
        Outcome.PROCESSED,
    ]
    # The rolled-back batch left nothing: every effect is there once, in order.
    assert h.db.effects == [1, 2, 4, 5]
    (letter,) = h.dead_letters.letters
    assert letter.value == envs[2].to_json()


async def test_a_malformed_message_in_a_batch_does_not_stop_the_others() -> None:
    consumer, h = make_consumer()
    first, last = envelope(), envelope()

    outcomes = await consumer.handle_batch(
        deliveries_of(first.to_json(), b"not json", last.to_json())
    )

    assert outcomes == [Outcome.PROCESSED, Outcome.DEAD_LETTERED, Outcome.PROCESSED]
    assert h.db.transactions == 1
    assert h.db.effects == [first.event_id, last.event_id]
    assert h.dead_letters.letters[0].value == b"not json"


async def test_nothing_after_a_message_kept_for_later_is_settled() -> None:
    consumer, h = make_consumer()
    h.dead_letters.error = ConnectionError("broker down")
    first, last = envelope(), envelope()

    outcomes = await consumer.handle_batch(
        deliveries_of(first.to_json(), b"not json", last.to_json(), b"also not json")
    )

    assert outcomes == [
        Outcome.PROCESSED,
        Outcome.RETRY_LATER,
        Outcome.RETRY_LATER,
        Outcome.RETRY_LATER,
    ]
    # `last` was recorded with the batch: delivered again, it is a duplicate.
    assert await consumer.handle(delivery_of(last.to_json())) is Outcome.DUPLICATE


async def test_an_unreachable_inbox_keeps_the_whole_batch_for_later() -> None:
    consumer, h = make_consumer()
    h.db.claim_error = asyncpg.UndefinedTableError('relation "inbox" does not exist')

    outcomes = await consumer.handle_batch(deliveries_of(envelope().to_json(), b"not json"))

    assert outcomes == [Outcome.RETRY_LATER, Outcome.RETRY_LATER]
    assert h.seen == []
    assert h.dead_letters.letters == []


def test_each_partition_rewinds_to_its_first_unsettled_message() -> None:
    deliveries = [
        Delivery(topic="t", partition=p, offset=o, value=b"")
        for p, o in [(0, 10), (1, 4), (0, 11), (1, 5), (0, 12), (2, 7)]
    ]
    settled, kept = Outcome.PROCESSED, Outcome.RETRY_LATER

    offsets = first_unsettled(deliveries, [settled, settled, kept, kept, kept, settled])

    assert {(tp.partition, offset) for tp, offset in offsets.items()} == {(0, 11), (1, 5)}
