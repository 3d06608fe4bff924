"""Dead letters: messages a consumer gave up on, parked with the reason so nothing is lost.

A dead letter carries the original value and key byte for byte, the original headers, and
``dlq.*`` headers saying which consumer gave up, why, after how many attempts, and where the
message came from (topic, partition, offset). An operator can read the dead-letter topic, fix
the cause and republish the value with its original headers to the original topic.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self

from aiokafka import AIOKafkaProducer

from billing_events.topics import dead_letter_topic

HEADER_PREFIX = "dlq."
REASON = "dlq.reason"
ERROR_TYPE = "dlq.error.type"
ERROR_MESSAGE = "dlq.error.message"
ERROR_TRACEBACK = "dlq.error.traceback"
ORIGINAL_TOPIC = "dlq.original.topic"
ORIGINAL_PARTITION = "dlq.original.partition"
ORIGINAL_OFFSET = "dlq.original.offset"
ORIGINAL_KEY = "dlq.original.key"
ORIGINAL_TIMESTAMP = "dlq.original.timestamp"
ATTEMPTS = "dlq.attempts"
CONSUMER = "dlq.consumer"
FAILED_AT = "dlq.failed_at"

# Enough to read a pydantic validation error or a database error in full; bounded so that a
# huge message (a handler echoing its input) cannot push the dead letter past the broker's
# maximum message size.
MAX_ERROR_MESSAGE_BYTES = 2_000
MAX_TRACEBACK_BYTES = 4_000
_TRUNCATED = "…[truncated]"


class DeadLetterReason(StrEnum):
    MALFORMED = "malformed"
    """Not JSON, unknown type or failing validation: retrying cannot help."""

    HANDLER_FAILED = "handler_failed"
    """The handler raised on every attempt."""


def last_header(headers: Iterable[tuple[str, bytes]], name: str) -> str | None:
    """The last value of header ``name``, decoded leniently: headers are untrusted input."""
    found: bytes | None = None
    for key, value in headers:
        if key == name:
            found = value
    return None if found is None else found.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Delivery:
    """One message as the broker delivered it: where it came from and exactly what it carried."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None

    @classmethod
    def from_record(cls, record: Any) -> Self:
        """Build from an aiokafka ``ConsumerRecord``; a null value or header becomes empty."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            value=record.value or b"",
            key=record.key,
            headers=tuple((name, value or b"") for name, value in record.headers),
            timestamp_ms=record.timestamp,
        )

    def header(self, name: str) -> str | None:
        return last_header(self.headers, name)


@dataclass(frozen=True)
class DeadLetter:
    """A message ready to be published to a dead-letter topic."""

    topic: str
    value: bytes
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        return last_header(self.headers, name)


def truncate_utf8(text: str, limit: int, *, keep_end: bool = False) -> bytes:
    """``text`` as UTF-8 in at most ``limit`` bytes, marked when cut, never splitting a character.

    ``keep_end`` keeps the tail instead of the head: the end of a traceback names the frame
    that raised.
    """
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= limit:
        return encoded
    marker = _TRUNCATED.encode()
    room = max(limit - len(marker), 0)
    if keep_end:
        tail = encoded[len(encoded) - room :].decode("utf-8", errors="ignore").encode()
        return marker + tail
    head = encoded[:room].decode("utf-8", errors="ignore").encode()
    return head + marker


def error_type_name(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _traceback_text(error: BaseException) -> str | None:
    if error.__traceback__ is None:
        return None
    return "".join(traceback.format_exception(error))


def build_dead_letter(
    delivery: Delivery,
    *,
    error: BaseException,
    reason: DeadLetterReason,
    attempts: int,
    consumer: str,
    failed_at: datetime | None = None,
) -> DeadLetter:
    """The dead letter for ``delivery``: its original bytes plus headers explaining the failure.

    Original headers are kept verbatim so that the message can be republished as it was; any
    ``dlq.*`` header it carried (it was dead-lettered and replayed before) is replaced by the
    ones describing this failure.
    """
    dlq_headers: list[tuple[str, bytes]] = [
        (REASON, reason.value.encode()),
        (ERROR_TYPE, error_type_name(error).encode()),
        (ERROR_MESSAGE, truncate_utf8(str(error), MAX_ERROR_MESSAGE_BYTES)),
        (ORIGINAL_TOPIC, delivery.topic.encode()),
        (ORIGINAL_PARTITION, str(delivery.partition).encode()),
        (ORIGINAL_OFFSET, str(delivery.offset).encode()),
        (ATTEMPTS, str(attempts).encode()),
        (CONSUMER, consumer.encode()),
        (FAILED_AT, (failed_at or datetime.now(UTC)).isoformat().encode()),
    ]
    if delivery.key is not None:
        dlq_headers.append((ORIGINAL_KEY, delivery.key))
    if delivery.timestamp_ms is not None:
        dlq_headers.append((ORIGINAL_TIMESTAMP, str(delivery.timestamp_ms).encode()))
    # A malformed message's traceback only shows the parser; a handler's shows the bug.
    trace = _traceback_text(error) if reason is DeadLetterReason.HANDLER_FAILED else None
    if trace is not None:
        dlq_headers.append(
            (ERROR_TRACEBACK, truncate_utf8(trace, MAX_TRACEBACK_BYTES, keep_end=True))
        )
    original = [(k, v) for k, v in delivery.headers if not k.startswith(HEADER_PREFIX)]
    return DeadLetter(
        topic=dead_letter_topic(delivery.topic).name,
        value=delivery.value,
        key=delivery.key,
        headers=(*original, *dlq_headers),
    )


def decode_headers(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """Headers as text, last value winning: for logs, tests and operator tools."""
    return {k: (v or b"").decode("utf-8", errors="replace") for k, v in headers}


class DeadLetterPublisher(Protocol):
    """Where a consumer parks the messages it gives up on."""

    async def publish(self, letter: DeadLetter) -> None:
        """Return only once the letter is durably stored; raise if it could not be."""
        ...


class KafkaDeadLetterPublisher:
    """Publishes dead letters with a producer of its own, waiting for every in-sync replica.

    The producer is not idempotent on purpose: Tansu, the development broker, rejects
    ``enable_idempotence=True``. A duplicate dead letter after a producer retry is harmless;
    a lost one is not, hence ``acks="all"`` and waiting for the acknowledgement.
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        client_id: str = "billing-dead-letters",
        request_timeout_ms: int = 30_000,
        producer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "request_timeout_ms": request_timeout_ms,
            **(producer_options or {}),
            "acks": "all",
            "enable_idempotence": False,
        }
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(**self._options)
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, letter: DeadLetter) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaDeadLetterPublisher.publish called before start()")
        await self._producer.send_and_wait(
            letter.topic, letter.value, key=letter.key, headers=list(letter.headers)
        )
