"""Envelope.to_json writes the fields with orjson around the payload's JSON: it must write the
same bytes as pydantic's own serializer, which is what the envelope's JSON was before, and
what every reader of the outbox and of Kafka parses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from asyncpg.pgproto.pgproto import UUID as AsyncpgUUID
from hypothesis import given
from hypothesis import strategies as st

from billing_events.contract.commands import CancelSubscription
from billing_events.contract.events import SubscriptionCanceled
from billing_events.envelope import EventData, new_envelope

_TEXT = st.text(min_size=1, max_size=60)
# Whatever zone the time was read in: UTC (written "Z"), fixed offsets, zones with summer time.
_TIMES = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()
)
# Ids read from a row are asyncpg's own UUID, a subclass orjson does not write by itself.
_UUIDS = st.uuids() | st.uuids().map(lambda value: AsyncpgUUID(value.bytes))
_PAYLOADS = st.one_of(
    st.builds(
        SubscriptionCanceled,
        subscription_id=st.just("sub_1"),
        customer_id=st.just("cus_1"),
        canceled_at=_TIMES,
        comment=st.none() | st.text(max_size=200),
    ),
    st.builds(
        CancelSubscription,
        subscription_id=st.just("sub_1"),
        at_period_end=st.booleans(),
        comment=st.none() | st.text(max_size=200),
    ),
)


@given(
    data=_PAYLOADS,
    stream_id=_TEXT,
    merchant_id=_TEXT,
    occurred_at=_TIMES,
    stream_version=st.integers(min_value=0, max_value=2**31),
    correlation_id=_UUIDS,
    causation_id=st.none() | _UUIDS,
)
def test_to_json_writes_what_pydantic_writes(
    data: EventData,
    stream_id: str,
    merchant_id: str,
    occurred_at: datetime,
    stream_version: int,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None,
) -> None:
    envelope = new_envelope(
        data,
        stream_id=stream_id,
        merchant_id=merchant_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        stream_version=stream_version,
        occurred_at=occurred_at,
    )
    expected = envelope.model_dump_json().encode()
    assert envelope.to_json() == expected
    assert envelope.to_json(data.model_dump_json()) == expected


@pytest.mark.parametrize("read_from_a_row", [False, True])
def test_kafka_headers_name_the_event_as_text(read_from_a_row: bool) -> None:
    correlation_id = uuid.uuid4()
    envelope = new_envelope(
        SubscriptionCanceled(
            subscription_id="sub_1", customer_id="cus_1", canceled_at=datetime.now(UTC)
        ),
        stream_id="sub_1",
        merchant_id="mer_é",
        correlation_id=AsyncpgUUID(correlation_id.bytes) if read_from_a_row else correlation_id,
    )
    expected = {
        "event_type": "SubscriptionCanceled",
        "event_id": str(envelope.event_id),
        "schema_version": "1",
        "correlation_id": str(correlation_id),
        "merchant_id": "mer_é",
        "content-type": "application/json",
    }
    assert envelope.kafka_headers() == expected
    assert orjson.loads(envelope.kafka_headers_json()) == expected
