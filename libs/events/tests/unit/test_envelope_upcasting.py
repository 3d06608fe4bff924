"""Reading old and bad messages: upcasting from old schema versions, and clear ContractErrors.

Uses its own registry with a small model at version 3, whose v1 and v2 messages are still out
there (in event stores and on Kafka) and must stay readable.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import orjson
import pytest
from pydantic import ValidationError

from billing_events.contract.commands import command_registry
from billing_events.contract.events import CommandRejected, SubscriptionCanceled
from billing_events.envelope import (
    ContractError,
    Envelope,
    EventData,
    EventRegistry,
    new_envelope,
    registry,
)


class MemberJoined(EventData):
    """v1 {name}; v2 split it into {first_name, last_name}; v3 added a required locale."""

    event_type: ClassVar[str] = "MemberJoined"
    schema_version: ClassVar[int] = 3
    member_id: str
    first_name: str
    last_name: str
    locale: str


members = EventRegistry()
members.register(MemberJoined)


@members.upcaster("MemberJoined", 1)
def split_name(data: dict[str, Any]) -> dict[str, Any]:
    first, _, last = data.pop("name").partition(" ")
    return {**data, "first_name": first, "last_name": last}


@members.upcaster("MemberJoined", 2)
def default_locale(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "locale": "en"}


def raw_message(version: int, data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "event_id": "7d8c1c9e-63c4-4b8e-9d43-6a2f4f0b2a11",
        "event_type": "MemberJoined",
        "schema_version": version,
        "stream_id": "member-m_1",
        "stream_version": 1,
        "occurred_at": "2023-05-01T10:00:00+00:00",
        "merchant_id": "mer_1",
        "correlation_id": "5b2f3a40-1c7e-4a55-8f0e-2f6f3a9f9d10",
        "causation_id": None,
        "data": data,
        **envelope,
    }


def body(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


V1 = {"member_id": "m_1", "name": "Ada Lovelace"}
V2 = {"member_id": "m_1", "first_name": "Ada", "last_name": "Lovelace"}
V3 = {**V2, "locale": "fr"}


# --- upcasting ----------------------------------------------------------------------------


def test_a_v1_message_is_read_as_the_current_version() -> None:
    envelope = members.parse(body(raw_message(1, V1)))
    assert envelope.data == MemberJoined(
        member_id="m_1", first_name="Ada", last_name="Lovelace", locale="en"
    )
    assert envelope.schema_version == 3
    assert envelope.event_id == uuid.UUID("7d8c1c9e-63c4-4b8e-9d43-6a2f4f0b2a11")
    assert envelope.stream_version == 1


def test_a_v2_message_takes_only_the_remaining_step() -> None:
    assert members.parse(body(raw_message(2, V2))).data == MemberJoined(**V2, locale="en")


def test_a_current_message_is_not_upcast() -> None:
    assert members.parse(body(raw_message(3, V3))).data == MemberJoined(**V3)


def test_an_upcast_event_is_written_back_at_the_current_version() -> None:
    envelope = members.parse(body(raw_message(1, V1)))
    rewritten = orjson.loads(envelope.to_json())
    assert rewritten["schema_version"] == 3
    assert rewritten["data"] == {**V2, "locale": "en"}
    assert members.parse(envelope.to_json()) == envelope


def test_missing_upcasters_are_listed() -> None:
    partial = EventRegistry()
    partial.register(MemberJoined)
    partial.upcaster("MemberJoined", 2)(default_locale)
    assert partial.missing_upcasters("MemberJoined") == [1]
    assert members.missing_upcasters("MemberJoined") == []
    with pytest.raises(ContractError, match="no upcaster for MemberJoined from version 1"):
        partial.parse(body(raw_message(1, V1)))


def test_the_published_registries_can_read_every_older_version() -> None:
    for kind_registry in (registry, command_registry):
        for model in kind_registry.models():
            assert kind_registry.missing_upcasters(model.event_type) == [], model.event_type


# --- contract errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "an event must be a JSON object"),
        (b'"MemberJoined"', "an event must be a JSON object"),
    ],
)
def test_a_body_that_is_not_an_object_is_a_contract_error(payload: bytes, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        members.parse(payload)


def test_an_unknown_type_is_a_contract_error_naming_it() -> None:
    with pytest.raises(ContractError, match="unknown event type 'MemberLeft'"):
        members.parse(body(raw_message(1, V1, event_type="MemberLeft")))


def test_a_newer_version_than_the_reader_is_a_contract_error() -> None:
    with pytest.raises(
        ContractError, match="MemberJoined schema_version 4 is newer than this reader \\(3\\)"
    ):
        members.parse(body(raw_message(4, V3)))


@pytest.mark.parametrize(
    ("version", "data", "message"),
    [
        (3, {**V3, "locale": 7}, r"(?s)invalid MemberJoined data: .*locale"),
        (3, {"member_id": "m_1"}, r"(?s)invalid MemberJoined data: .*first_name"),
        (
            3,
            {**V3, "card_number": "4242424242424242"},
            r"(?s)invalid MemberJoined data: .*card_number",
        ),
        (2, {"member_id": "m_1"}, r"(?s)invalid MemberJoined data: .*first_name"),
        (1, {"member_id": "m_1"}, "cannot upcast MemberJoined data from version 1: KeyError"),
        (1, {"member_id": "m_1", "name": 42}, "cannot upcast MemberJoined data from version 1"),
    ],
    ids=["wrong-type", "missing", "extra-field", "v2-missing", "v1-missing", "v1-wrong-type"],
)
def test_invalid_data_is_a_contract_error(version: int, data: dict[str, Any], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        members.parse(body(raw_message(version, data)))


def test_an_upcaster_returning_garbage_is_a_contract_error() -> None:
    broken = EventRegistry()
    broken.register(MemberJoined)
    broken.upcaster("MemberJoined", 1)(lambda data: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(ContractError, match="returned NoneType, not a dict"):
        broken.parse(body(raw_message(1, V1)))


@pytest.mark.parametrize("field", ["event_id", "occurred_at", "correlation_id", "data"])
def test_a_missing_envelope_field_is_a_contract_error_not_a_made_up_value(field: str) -> None:
    message = raw_message(3, V3)
    del message[field]
    with pytest.raises(ContractError, match=f"envelope field\\(s\\) missing: {field}"):
        members.parse(body(message))


def test_causation_id_may_be_absent() -> None:
    message = raw_message(3, V3)
    del message["causation_id"]
    assert members.parse(body(message)).causation_id is None


@pytest.mark.parametrize("version", ["3", 3.0, True, 0, -1, None])
def test_schema_version_must_be_a_positive_integer(version: Any) -> None:
    with pytest.raises(ContractError, match="'schema_version' must be an integer >= 1"):
        members.parse(body(raw_message(3, V3, schema_version=version)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "not-a-uuid"),
        ("stream_id", ""),
        ("stream_version", -1),
        ("occurred_at", "2023-05-01T10:00:00"),  # naive: times are UTC-aware
        ("merchant_id", ""),
        ("correlation_id", None),
    ],
)
def test_an_invalid_envelope_field_is_a_contract_error(field: str, value: Any) -> None:
    with pytest.raises(ContractError, match=rf"(?s)invalid envelope: .*{field}"):
        members.parse(body(raw_message(3, V3, **{field: value})))


def test_an_unknown_envelope_field_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match=r"(?s)invalid envelope: .*card_number"):
        members.parse(body(raw_message(3, V3, card_number="4242424242424242")))


def test_event_type_must_be_a_string() -> None:
    with pytest.raises(ContractError, match="'event_type' must be a string"):
        members.parse(body(raw_message(3, V3, event_type=3)))


@pytest.mark.parametrize("data", [[V3], "V3", None])
def test_data_must_be_an_object(data: Any) -> None:
    with pytest.raises(ContractError, match="'data' must be an object"):
        members.parse(body(raw_message(3, data)))


# --- the envelope names its payload -------------------------------------------------------


def test_an_envelope_cannot_claim_another_type_than_its_data() -> None:
    data = MemberJoined(**V3)
    with pytest.raises(ValidationError, match="envelope says Other v3 but data is MemberJoined"):
        Envelope(
            event_type="Other",
            schema_version=3,
            stream_id="member-m_1",
            stream_version=0,
            merchant_id="mer_1",
            correlation_id=uuid.uuid4(),
            data=data,
        )
    with pytest.raises(ValidationError, match="envelope says MemberJoined v1"):
        Envelope(
            event_type="MemberJoined",
            schema_version=1,
            stream_id="member-m_1",
            stream_version=0,
            merchant_id="mer_1",
            correlation_id=uuid.uuid4(),
            data=data,
        )


def test_new_envelope_names_its_payload() -> None:
    rejected = new_envelope(
        CommandRejected(
            command_id="c1",
            command_type="CancelSubscription",
            code="already_canceled",
            message="already canceled",
        ),
        stream_id="subscription-sub_1",
        merchant_id="mer_1",
        correlation_id=uuid.uuid4(),
    )
    assert (rejected.event_type, rejected.schema_version) == ("CommandRejected", 1)
    assert rejected.kafka_headers()["event_type"] == "CommandRejected"
    assert SubscriptionCanceled.event_type == "SubscriptionCanceled"
