"""What a dead letter carries: the original message untouched, and why it was given up on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from billing_events import dead_letter as dl
from billing_events.dead_letter import (
    DeadLetterReason,
    Delivery,
    build_dead_letter,
    decode_headers,
    truncate_utf8,
)

FAILED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def delivery(**overrides: object) -> Delivery:
    values: dict[str, object] = {
        "topic": "billing.invoices.events",
        "partition": 4,
        "offset": 1234,
        "value": b'{"not": "valid"}',
        "key": b"invoice-42",
        "headers": (("event_type", b"InvoicePaid"), ("correlation_id", b"c-1")),
        "timestamp_ms": 1_700_000_000_000,
    }
    values.update(overrides)
    return Delivery(**values)  # type: ignore[arg-type]


def raise_and_catch(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def test_dead_letter_keeps_the_original_bytes_key_and_headers() -> None:
    original = delivery()
    letter = build_dead_letter(
        original,
        error=ValueError("boom"),
        reason=DeadLetterReason.HANDLER_FAILED,
        attempts=5,
        consumer="projector",
        failed_at=FAILED_AT,
    )

    assert letter.topic == "billing.invoices.events.dlq"
    assert letter.value == original.value
    assert letter.key == original.key
    assert letter.headers[:2] == original.headers


def test_dead_letter_headers_say_what_failed_where_and_how_often() -> None:
    letter = build_dead_letter(
        delivery(),
        error=ValueError("boom"),
        reason=DeadLetterReason.HANDLER_FAILED,
        attempts=5,
        consumer="projector",
        failed_at=FAILED_AT,
    )

    headers = decode_headers(letter.headers)
    assert headers[dl.REASON] == "handler_failed"
    assert headers[dl.ERROR_TYPE] == "ValueError"
    assert headers[dl.ERROR_MESSAGE] == "boom"
    assert headers[dl.ORIGINAL_TOPIC] == "billing.invoices.events"
    assert headers[dl.ORIGINAL_PARTITION] == "4"
    assert headers[dl.ORIGINAL_OFFSET] == "1234"
    assert headers[dl.ORIGINAL_KEY] == "invoice-42"
    assert headers[dl.ORIGINAL_TIMESTAMP] == "1700000000000"
    assert headers[dl.ATTEMPTS] == "5"
    assert headers[dl.CONSUMER] == "projector"
    assert headers[dl.FAILED_AT] == "2026-01-02T03:04:05+00:00"
    assert headers["event_type"] == "InvoicePaid"


def test_error_type_is_qualified_outside_builtins() -> None:
    class HandlerBug(Exception):
        pass

    letter = build_dead_letter(
        delivery(),
        error=HandlerBug("x"),
        reason=DeadLetterReason.HANDLER_FAILED,
        attempts=1,
        consumer="c",
    )

    assert letter.header(dl.ERROR_TYPE) == (
        f"{__name__}.test_error_type_is_qualified_outside_builtins.<locals>.HandlerBug"
    )


def test_a_keyless_message_gets_no_key_header() -> None:
    letter = build_dead_letter(
        delivery(key=None, timestamp_ms=None),
        error=ValueError("x"),
        reason=DeadLetterReason.MALFORMED,
        attempts=1,
        consumer="c",
    )

    assert letter.key is None
    names = [name for name, _ in letter.headers]
    assert dl.ORIGINAL_KEY not in names
    assert dl.ORIGINAL_TIMESTAMP not in names


def test_a_binary_key_is_carried_byte_for_byte() -> None:
    letter = build_dead_letter(
        delivery(key=b"\xff\x00\xfe"),
        error=ValueError("x"),
        reason=DeadLetterReason.MALFORMED,
        attempts=1,
        consumer="c",
    )

    assert dict(letter.headers)[dl.ORIGINAL_KEY] == b"\xff\x00\xfe"


def test_dlq_headers_of_an_earlier_failure_are_replaced_not_duplicated() -> None:
    replayed = delivery(
        headers=(("event_type", b"InvoicePaid"), (dl.ATTEMPTS, b"5"), (dl.CONSUMER, b"old"))
    )

    letter = build_dead_letter(
        replayed,
        error=ValueError("again"),
        reason=DeadLetterReason.HANDLER_FAILED,
        attempts=2,
        consumer="new",
    )

    names = [name for name, _ in letter.headers]
    assert names.count(dl.ATTEMPTS) == 1
    assert names.count(dl.CONSUMER) == 1
    assert letter.header(dl.ATTEMPTS) == "2"
    assert letter.header(dl.CONSUMER) == "new"


def test_a_long_error_message_is_truncated_and_marked() -> None:
    letter = build_dead_letter(
        delivery(),
        error=ValueError("é" * 10_000),
        reason=DeadLetterReason.MALFORMED,
        attempts=1,
        consumer="c",
    )

    raw = dict(letter.headers)[dl.ERROR_MESSAGE]
    assert len(raw) <= dl.MAX_ERROR_MESSAGE_BYTES
    text = raw.decode("utf-8")  # never cut inside a character
    assert text.startswith("éé")
    assert text.endswith("[truncated]")


def test_a_handler_failure_carries_the_tail_of_its_traceback() -> None:
    error = raise_and_catch(RuntimeError("database said no"))

    letter = build_dead_letter(
        delivery(),
        error=error,
        reason=DeadLetterReason.HANDLER_FAILED,
        attempts=5,
        consumer="c",
    )

    trace = letter.header(dl.ERROR_TRACEBACK)
    assert trace is not None
    assert "raise_and_catch" in trace
    assert trace.rstrip().endswith("RuntimeError: database said no")


def test_a_malformed_message_carries_no_traceback() -> None:
    letter = build_dead_letter(
        delivery(),
        error=raise_and_catch(ValueError("not JSON")),
        reason=DeadLetterReason.MALFORMED,
        attempts=1,
        consumer="c",
    )

    assert letter.header(dl.ERROR_TRACEBACK) is None


MARKER_BYTES = len("…[truncated]".encode())  # 14: the ellipsis is 3 bytes


@pytest.mark.parametrize(
    ("text", "limit", "keep_end", "expected"),
    [
        ("short", 100, False, "short"),
        ("a" * 50, 20, False, "a" * (20 - MARKER_BYTES) + "…[truncated]"),
        ("a" * 30 + "END", 20, True, "…[truncated]" + "a" * (20 - MARKER_BYTES - 3) + "END"),
    ],
)
def test_truncate_utf8(text: str, limit: int, keep_end: bool, expected: str) -> None:
    result = truncate_utf8(text, limit, keep_end=keep_end)

    assert result.decode() == expected
    assert len(result) <= limit


def test_truncate_utf8_never_splits_a_character() -> None:
    for limit in range(14, 30):
        result = truncate_utf8("€" * 100, limit)
        assert len(result) <= limit
        result.decode("utf-8")  # raises if a character was split
        truncate_utf8("€" * 100, limit, keep_end=True).decode("utf-8")


@dataclass
class Record:
    """The shape of aiokafka's ConsumerRecord that Delivery reads."""

    topic: str = "t"
    partition: int = 1
    offset: int = 7
    timestamp: int = 99
    key: bytes | None = None
    value: bytes | None = b"v"
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


def test_delivery_from_record_turns_nulls_into_empty_bytes() -> None:
    record = Record(value=None, headers=[("a", None), ("b", b"\xff")])

    result = Delivery.from_record(record)

    assert result == Delivery(
        topic="t",
        partition=1,
        offset=7,
        value=b"",
        key=None,
        headers=(("a", b""), ("b", b"\xff")),
        timestamp_ms=99,
    )


def test_delivery_header_is_the_last_value_decoded_leniently() -> None:
    result = delivery(headers=(("x", b"first"), ("x", b"second\xff")))

    assert result.header("x") == "second\ufffd"
    assert result.header("missing") is None
