"""Idempotent consumption: each message's effects commit once, together with its inbox row.

Kafka delivers at least once: a relay republishes after a crash, a consumer that dies before
committing its offset gets the same messages again. A handler therefore runs inside one
PostgreSQL transaction that first claims ``(consumer, event_id)`` in the ``inbox`` table; a
redelivered message finds its row and is skipped, so its database side effects happen once.

For every message the runner reaches exactly one outcome before the offset is committed:

* processed, or skipped as a duplicate;
* ignored: the handler has nothing to do for the message (``acts_on``), so nothing is
  written for it, not even an inbox row, and no transaction is opened for it. A topic carries
  many types a given consumer has no use for (invoicing reads every subscription event and
  bills two of them); a batch of those costs no round trip at all;
* dead-lettered: malformed (not JSON, unknown type, invalid data) at once, or after the
  handler failed ``max_attempts`` times; the original bytes go to the topic's dead-letter
  topic with headers saying why (see :mod:`billing_events.dead_letter`);
* retried later: the database or the dead-letter topic is unreachable. Nothing is committed,
  the consumer rewinds to the message and backs off, so an outage stalls consumption instead
  of dead-lettering every message or skipping any.

Messages are consumed in batches: the well-formed messages of one fetch are claimed and handled
in one transaction, with one commit and one offset commit for all of them (one message per
transaction capped a consumer at a few dozen messages a second under load). If anything in the
batch fails, the transaction rolls back and the batch is handled again one message per
transaction, in order, with the retries and dead-lettering above; so a failing message costs
its batch a second pass but never takes another message's outcome. A handler must therefore
keep its effects inside the transaction it is given (effects elsewhere may repeat: see
:func:`without_connection`).

Commands travel in the same envelope as events, so the same runner consumes command topics
with the command registry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy

from billing_events.dead_letter import (
    DeadLetterPublisher,
    DeadLetterReason,
    Delivery,
    build_dead_letter,
    error_type_name,
)
from billing_events.envelope import ContractError, Envelope, EventRegistry
from billing_events.postgres import Migration, migrate

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope, asyncpg.Connection], Awaitable[None]]
"""Does the work for one envelope on the given connection, inside the inbox transaction."""

ActsOn = Callable[[Envelope], bool]
"""Whether a handler has anything to do for an envelope (from its type and data alone)."""


class SelectiveHandler(Protocol):
    """A handler that says which envelopes it acts on; the others are settled as ignored."""

    async def __call__(self, envelope: Envelope, conn: asyncpg.Connection) -> None: ...

    def acts_on(self, envelope: Envelope) -> bool: ...


INBOX_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "inbox",
        1,
        """
        CREATE TABLE inbox (
            consumer text NOT NULL,
            message_id uuid NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, message_id)
        )
        """,
    ),
)


async def migrate_inbox(pool: asyncpg.Pool) -> None:
    """Create the inbox in the pool's schema; safe to run at every start, from many processes."""
    await migrate(pool, INBOX_MIGRATIONS)


async def claim(conn: asyncpg.Connection, consumer: str, message_id: uuid.UUID) -> bool:
    """Record that ``consumer`` processed ``message_id``; False if it already had.

    Must run in the transaction holding the side effects: the row commits with them or not at
    all. A concurrent claim of the same id waits on the row lock until the first transaction
    ends, then sees the conflict (first committed) or takes over (first rolled back).
    """
    if not conn.is_in_transaction():
        raise RuntimeError("claim() outside a transaction would not protect the side effects")
    inserted = await conn.fetchval(
        "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        message_id,
    )
    return inserted is True


async def claim_batch(
    conn: asyncpg.Connection, consumer: str, message_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """:func:`claim` for several messages in one statement; returns the ids claimed now.

    The ids are inserted in sorted order, so two transactions claiming overlapping batches
    lock the rows in the same order instead of deadlocking.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("claim_batch() outside a transaction would not protect the effects")
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, message_id) "
        "SELECT $1, id FROM unnest($2::uuid[]) AS claimed(id) ORDER BY id "
        "ON CONFLICT DO NOTHING RETURNING message_id",
        consumer,
        sorted(set(message_ids)),
    )
    return {row["message_id"] for row in rows}


def without_connection(handler: Callable[[Envelope], Awaitable[None]]) -> Handler:
    """Adapt a handler whose only effect is outside the database (an email, an HTTP call).

    The inbox still stops a redelivered message from repeating the effect once the
    transaction committed. A crash between the effect and the commit repeats it, and so does a
    later message of the same batch failing (the batch is then handled again one by one): pass
    ``envelope.event_id`` as idempotency key to the external system when it accepts one, or
    attach the consumer with ``max_batch=1``.
    """

    async def run(envelope: Envelope, _conn: asyncpg.Connection) -> None:
        await handler(envelope)

    return run


def exponential_backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempt``-th failure (1-based): base, 2 base, 4 base… cap."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    # The exponent is bounded so that a long outage cannot overflow the float.
    return float(min(cap, base * 2 ** min(attempt - 1, 32)))


@dataclass(frozen=True)
class RetryPolicy:
    """How often one message's handler is tried before it is dead-lettered."""

    max_attempts: int = 5
    backoff: float = 0.05
    max_backoff: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff must not be negative")

    def should_retry(self, attempts_made: int) -> bool:
        return attempts_made < self.max_attempts

    def delay(self, attempts_made: int) -> float:
        return exponential_backoff(attempts_made, self.backoff, self.max_backoff)


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    """The handler does not act on it: settled with nothing written."""
    DEAD_LETTERED = "dead_lettered"
    RETRY_LATER = "retry_later"
    """Nothing was recorded: the message must be delivered again (do not commit its offset)."""

    @property
    def settled(self) -> bool:
        """Whether the offset may be committed past this message."""
        return self is not Outcome.RETRY_LATER


class InboxUnavailable(Exception):
    """The inbox could not be read or written: a database problem, not the message's fault."""


# Errors meaning the connection or the server went away. Raised inside a handler they are the
# database's fault, not the message's, so they must not count towards dead-lettering.
_CONNECTION_LOST: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)

_Phase = Literal["inbox", "handler", "commit"]

# A header of a malformed message goes into log lines: accept only a short, plain token.
_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _plain_token(value: str | None) -> str | None:
    return value if value is not None and _PLAIN_TOKEN.match(value) else None


class OffsetCommits:
    """When a subscriber commits its offsets: at most once per ``interval``, and before it
    waits idle for more.

    A commit is a broker round trip that the next batch would wait for: under load, one per
    batch made every hop of a message through the system a little longer. Deferring one costs
    at most ``interval`` of messages seen again after a rebalance or a restart, which the
    inbox turns into duplicates. A commit takes every position consumed so far, so it is only
    made where each of them has an outcome: right after a settled batch, or before a poll
    when nothing new was fetched (a rewound partition's position is its first unsettled
    message).
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._owed: StreamMessage[Any] | None = None
        self._last: float | None = None

    async def settled(self, message: StreamMessage[Any]) -> None:
        """Every message of ``message``'s batch has an outcome: commit, or owe the commit."""
        self._owed = message
        now = asyncio.get_running_loop().time()
        if self._last is None or now - self._last >= self.interval:
            await self.pay()

    async def pay(self) -> None:
        """Commit what is owed, if anything."""
        message, self._owed = self._owed, None
        if message is not None:
            self._last = asyncio.get_running_loop().time()
            await _commit(message)

    async def next_batch(
        self, consumer: AIOKafkaConsumer, *, max_records: int, timeout_ms: int
    ) -> tuple[ConsumerRecord[Any, Any], ...]:
        """The next batch of fetched records, or none after ``timeout_ms``; an owed commit is
        paid before waiting.

        Stands in for FastStream's batch poll, which sleeps its whole timeout again after
        every empty poll: a message arriving meanwhile waited for the sleep to end, and an
        idle consumer woke twice per timeout. ``getmany`` returns as soon as a fetch brings
        records, so a long timeout adds no latency and an idle consumer wakes about once per
        ``timeout_ms``.
        """
        records = {}
        if self._owed is not None:
            records = await consumer.getmany(timeout_ms=0, max_records=max_records)
            if not records:
                await self.pay()
        if not records:
            records = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return tuple(itertools.chain.from_iterable(records.values()))


class IdempotentConsumer:
    """Runs ``handler`` once per envelope, in one transaction with the envelope's inbox row.

    ``name`` identifies the handler in the inbox; keep it stable across deployments
    (renaming it makes every redelivered message look new). Two consumers with different
    names each process every message once. ``acts_on`` (every envelope when None) picks the
    envelopes the handler has work for; the others are settled as ignored without a
    transaction. It must not say no to an envelope the handler would change anything for.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: EventRegistry,
        name: str,
        handler: Handler,
        dead_letters: DeadLetterPublisher,
        *,
        max_attempts: int = 5,
        retry_backoff: float = 0.05,
        unavailable_backoff: float = 1.0,
        max_unavailable_backoff: float = 30.0,
        acts_on: ActsOn | None = None,
    ) -> None:
        if not name or len(name) > 200:
            raise ValueError("a consumer name is 1 to 200 characters")
        self.name = name
        self.retry = RetryPolicy(max_attempts=max_attempts, backoff=retry_backoff)
        self._pool = pool
        self._registry = registry
        self._handler = handler
        self._acts_on = acts_on
        self._dead_letters = dead_letters
        self._unavailable_backoff = unavailable_backoff
        self._max_unavailable_backoff = max_unavailable_backoff
        self._stalls = 0  # consecutive RETRY_LATER outcomes, for the outage backoff

    def attach(
        self,
        broker: KafkaBroker,
        *topics: str,
        group_id: str,
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        fetch_max_wait_ms: int = 50,
        max_batch: int = 100,
        idle_wait_ms: int = 1_000,
        commit_interval_ms: int = 100,
    ) -> BatchSubscriber:
        """Subscribe to ``topics`` in consumer group ``group_id``; call before the broker starts.

        Offsets are committed by hand, only once a message has an outcome: a message is never
        skipped, only possibly seen again. ``earliest`` lets a new group start from the
        beginning of the topic rather than miss what was published before it joined. A shorter
        session timeout moves a dead member's partitions sooner (Kafka accepts 6 s and up by
        default); the heartbeat interval should stay under a third of it. A short fetch wait
        bounds each hop's latency on brokers that hold a fetch for its whole wait even once
        data has arrived (Tansu does: 500 ms per hop at the default); Apache Kafka answers as
        soon as data is there either way, so it only costs a few idle polls a second.

        Up to ``max_batch`` messages already fetched are handled in one transaction. An idle
        subscriber waits up to ``idle_wait_ms`` for the next one and wakes as soon as a fetch
        brings it. A busy one commits at most every ``commit_interval_ms``, and an idle one
        has committed everything it settled (see :class:`OffsetCommits`).
        """
        if not topics:
            raise ValueError("attach() needs at least one topic")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if idle_wait_ms < 1:
            raise ValueError("idle_wait_ms must be at least 1")
        if commit_interval_ms < 0:
            raise ValueError("commit_interval_ms must not be negative")
        subscriber = broker.subscriber(
            *topics,
            batch=True,
            max_records=max_batch,
            batch_timeout_ms=idle_wait_ms,
            group_id=group_id,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset=auto_offset_reset,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
            parser=lenient_header_parser,
            decoder=the_message_itself,
            title=f"{self.name}:{','.join(topics)}",
        )
        commits = OffsetCommits(commit_interval_ms / 1000)

        async def on_batch(message: KafkaMessage) -> None:
            await self.on_batch(message, commits)

        subscriber(on_batch)
        subscriber.get_msg = functools.partial(  # type: ignore[method-assign]
            commits.next_batch, max_records=max_batch, timeout_ms=idle_wait_ms
        )
        return subscriber

    async def on_batch(self, message: KafkaMessage, commits: OffsetCommits) -> None:
        """FastStream handler: settle every message of the batch, then commit or rewind.

        Offsets are committed only when every message has an outcome. Otherwise each partition
        is rewound to its first unsettled message (nothing more is committed, so a member
        taking the partition over meanwhile sees the settled ones again, as duplicates).
        """
        records = message.raw_message
        batch = records if isinstance(records, tuple | list) else (records,)
        deliveries = [Delivery.from_record(record) for record in batch]
        outcomes = await self.handle_batch(deliveries)
        if all(outcome.settled for outcome in outcomes):
            self._stalls = 0
            await commits.settled(message)
            return
        # Rewinding keeps the unsettled messages first in line; the sleep keeps an outage
        # from turning into a busy loop.
        self._stalls += 1
        await asyncio.sleep(
            exponential_backoff(
                self._stalls, self._unavailable_backoff, self._max_unavailable_backoff
            )
        )
        if not any(outcome.settled for outcome in outcomes):
            await _rewind(message)
        else:
            _rewind_partitions(message, first_unsettled(deliveries, outcomes))

    async def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Reach an outcome for each delivery, in order; never raises, except on cancellation.

        After the first RETRY_LATER nothing more is attempted: the rest are RETRY_LATER too,
        so that no message is settled ahead of an earlier one that will be delivered again.
        """
        parsed = [self._parse(delivery) for delivery in deliveries]
        ignored = [envelope is not None and self._ignores(envelope) for envelope in parsed]
        wanted = [
            envelope
            for envelope, skip in zip(parsed, ignored, strict=True)
            if envelope is not None and not skip
        ]
        in_one_go = iter(await self._run_batch(wanted) if len(wanted) > 1 else ())
        outcomes: list[Outcome] = []
        for delivery, envelope, skip in zip(deliveries, parsed, ignored, strict=True):
            if outcomes and not outcomes[-1].settled:
                outcomes.append(Outcome.RETRY_LATER)
            elif skip:
                outcomes.append(Outcome.IGNORED)
            elif envelope is not None and (settled := next(in_one_go, None)) is not None:
                outcomes.append(settled)
            else:
                outcomes.append(await self.handle(delivery))
        return outcomes

    def _ignores(self, envelope: Envelope) -> bool:
        if self._acts_on is None:
            return False
        try:
            return not self._acts_on(envelope)
        except Exception:
            # A bug in the filter must not settle a message: the handler's path retries it
            # and dead-letters it if it keeps failing.
            log.exception("acts_on failed; handling the message", consumer=self.name)
            return False

    def _parse(self, delivery: Delivery) -> Envelope | None:
        try:
            return self._registry.parse(delivery.value)
        except ContractError:
            return None  # handle() dead-letters it, with the reason

    async def _run_batch(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """All envelopes in one transaction; their outcomes in order, or none if anything
        failed (then nothing was recorded)."""
        outcomes: list[Outcome] = []
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                fresh = await claim_batch(conn, self.name, [e.event_id for e in envelopes])
                for envelope in envelopes:
                    if envelope.event_id not in fresh:
                        outcomes.append(Outcome.DUPLICATE)
                        continue
                    fresh.discard(envelope.event_id)  # a second copy in this batch is a duplicate
                    with structlog.contextvars.bound_contextvars(
                        consumer=self.name,
                        correlation_id=str(envelope.correlation_id),
                        event_id=str(envelope.event_id),
                        event_type=envelope.event_type,
                    ):
                        await self._handler(envelope, conn)
                    outcomes.append(Outcome.PROCESSED)
        except Exception as exc:
            log.info(
                "batch rolled back; handling its messages one by one",
                consumer=self.name,
                size=len(envelopes),
                error=repr(exc),
            )
            return []
        log.info("batch processed", consumer=self.name, size=len(envelopes))
        return outcomes

    async def handle(self, delivery: Delivery) -> Outcome:
        """Reach an outcome for one delivery. Never raises, except on cancellation."""
        with structlog.contextvars.bound_contextvars(
            consumer=self.name,
            topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
        ):
            try:
                return await self._handle(delivery)
            except Exception:
                # A bug here must not let the offset move past the message: keep it for later.
                log.exception("consumer failed unexpectedly; message will be redelivered")
                return Outcome.RETRY_LATER

    async def _handle(self, delivery: Delivery) -> Outcome:
        try:
            envelope = self._registry.parse(delivery.value)
        except ContractError as exc:
            # The body cannot be trusted, but its producer may still have set the header.
            with structlog.contextvars.bound_contextvars(
                correlation_id=_plain_token(delivery.header("correlation_id"))
            ):
                return await self._dead_letter(
                    delivery, exc, DeadLetterReason.MALFORMED, attempts=1
                )
        if self._ignores(envelope):
            return Outcome.IGNORED
        with structlog.contextvars.bound_contextvars(
            correlation_id=str(envelope.correlation_id),
            event_id=str(envelope.event_id),
            event_type=envelope.event_type,
        ):
            return await self._process(envelope, delivery)

    async def _process(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        attempts = 0
        while True:
            attempts += 1
            try:
                fresh = await self._run_once(envelope)
            except InboxUnavailable as exc:
                log.warning(
                    "inbox unavailable; message will be redelivered",
                    error=repr(exc.__cause__ or exc),
                )
                return Outcome.RETRY_LATER
            except Exception as exc:
                if not self.retry.should_retry(attempts):
                    return await self._dead_letter(
                        delivery, exc, DeadLetterReason.HANDLER_FAILED, attempts=attempts
                    )
                delay = self.retry.delay(attempts)
                log.warning(
                    "handler failed; retrying",
                    attempt=attempts,
                    retry_in=delay,
                    error=repr(exc),
                )
                await asyncio.sleep(delay)
                continue
            if not fresh:
                log.info("duplicate message skipped")
                return Outcome.DUPLICATE
            log.info("message processed", attempts=attempts)
            return Outcome.PROCESSED

    async def _run_once(self, envelope: Envelope) -> bool:
        """One transaction: claim, run the handler, commit. False if already processed.

        Raises InboxUnavailable when the failure is the database's (before the handler runs,
        or a lost connection at any point); any other exception is the handler's.
        """
        phase: _Phase = "inbox"
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if not await claim(conn, self.name, envelope.event_id):
                    return False
                phase = "handler"
                await self._handler(envelope, conn)
                phase = "commit"
            return True
        except Exception as exc:
            if phase == "inbox" or isinstance(exc, _CONNECTION_LOST):
                raise InboxUnavailable(f"database unavailable during {phase}") from exc
            raise

    async def _dead_letter(
        self,
        delivery: Delivery,
        error: Exception,
        reason: DeadLetterReason,
        *,
        attempts: int,
    ) -> Outcome:
        letter = build_dead_letter(
            delivery, error=error, reason=reason, attempts=attempts, consumer=self.name
        )
        try:
            await self._dead_letters.publish(letter)
        except Exception as exc:
            log.error(
                "dead-letter publish failed; message will be redelivered",
                dead_letter_topic=letter.topic,
                error=repr(exc),
            )
            return Outcome.RETRY_LATER
        log.error(
            "message dead-lettered",
            reason=reason.value,
            attempts=attempts,
            dead_letter_topic=letter.topic,
            error_type=error_type_name(error),
            error=str(error)[:500],
        )
        return Outcome.DEAD_LETTERED


async def _commit(message: StreamMessage[Any]) -> None:
    """Commit the consumed offsets; a failure only means the message may be seen again."""
    try:
        await message.ack()
    except KafkaError as exc:
        # Typically a rebalance: the partition's next owner resumes from the last committed
        # offset and the inbox turns the redelivery into a duplicate.
        log.warning("offset commit failed; message may be redelivered", error=repr(exc))


async def _rewind(message: StreamMessage[Any]) -> None:
    """Seek back to the batch's first message in each partition, to deliver them again."""
    try:
        await message.nack()
    except KafkaError as exc:
        # The partition was revoked meanwhile; its next owner resumes from the last committed
        # offset, which is before this message.
        log.warning("rewind failed; the partition's next owner redelivers", error=repr(exc))


def first_unsettled(
    deliveries: Sequence[Delivery], outcomes: Sequence[Outcome]
) -> dict[TopicPartition, int]:
    """The offset of each partition's first message without an outcome."""
    offsets: dict[TopicPartition, int] = {}
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        if not outcome.settled:
            partition = TopicPartition(delivery.topic, delivery.partition)
            offsets[partition] = min(delivery.offset, offsets.get(partition, delivery.offset))
    return offsets


def _rewind_partitions(message: KafkaMessage, offsets: dict[TopicPartition, int]) -> None:
    for partition, offset in offsets.items():
        try:
            message.consumer.seek(partition=partition, offset=offset)
        except (KafkaError, AssertionError, ValueError) as exc:
            # Revoked meanwhile: the next owner resumes from the last committed offset.
            log.warning("rewind failed; the partition's next owner redelivers", error=repr(exc))


def _is_utf8(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def lenient_header_parser(
    records: Any, original: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """FastStream's Kafka parser, tolerating header values that are null or not UTF-8.

    FastStream decodes every header value as UTF-8 before our handler runs. A message with a
    binary header would fail there, never be acknowledged nor dead-lettered, and be committed
    past by the next message: lost. Parse a sanitised copy instead and keep the original
    records, so that the dead letter carries the headers exactly as received. ``records`` is
    one record, or a batch's sequence of them.
    """
    batch = tuple(records) if isinstance(records, tuple | list) else (records,)
    if all(_is_utf8(value) for record in batch for _, value in record.headers):
        return await original(records)
    sanitised = tuple(_sanitised(record) for record in batch)
    message = await original(sanitised if isinstance(records, tuple | list) else sanitised[0])
    message.raw_message = records
    return message


async def the_message_itself(
    message: StreamMessage[Any], _original: Callable[[Any], Awaitable[Any]]
) -> Any:
    """The message, undecoded: the handler parses envelopes itself (FastStream's decoder
    would re-read the original records' headers that :func:`lenient_header_parser` kept).

    A broker without FastDepends (``servicekit.kafka.create_broker``) passes the decoded
    value to the handler: this hands the handler that :meth:`IdempotentConsumer.attach`
    registers its message. With FastDepends the message is injected by its annotation and
    this value is unused."""
    return message


def _sanitised(record: Any) -> Any:
    return dataclasses.replace(
        record,
        headers=[
            (name, (value or b"").decode("utf-8", errors="replace").encode())
            for name, value in record.headers
        ],
    )
