"""The committed AsyncAPI document describes the topics, keys and headers as the code uses them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError

from billing_events import asyncapi, dead_letter, topics
from billing_events.contract.commands import CancelSubscription, command_registry
from billing_events.contract.events import CommandRejected, SubscriptionCanceled
from billing_events.envelope import EventData, new_envelope, registry
from billing_events.schema_export import ASYNCAPI_FILE, DEFAULT_SCHEMA_DIR

DOCUMENT: dict[str, Any] = yaml.safe_load((DEFAULT_SCHEMA_DIR / ASYNCAPI_FILE).read_text())


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(pointer: str) -> Any:
    node: Any = DOCUMENT
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part]
    return node


def messages_on(topic: str) -> set[str]:
    return {
        resolve(ref["$ref"])["name"] for ref in DOCUMENT["channels"][topic]["messages"].values()
    }


def headers_validator(message_id: str) -> Draft202012Validator:
    return Draft202012Validator(DOCUMENT["components"]["messages"][message_id]["headers"])


def test_it_is_an_asyncapi_3_document() -> None:
    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert DOCUMENT["info"]["title"]
    assert DOCUMENT["defaultContentType"] == "application/json"


def test_every_reference_resolves() -> None:
    for ref in refs(DOCUMENT):
        if ref.startswith("#/"):
            assert resolve(ref), ref
        else:
            assert ref.startswith("./"), ref
            assert (DEFAULT_SCHEMA_DIR / ref).is_file(), f"{ref} is not committed"


def test_channels_are_the_topics() -> None:
    channels = DOCUMENT["channels"]
    assert set(channels) == {t.name for t in topics.all_topics()}
    for topic in topics.all_topics():
        channel = channels[topic.name]
        assert channel["address"] == topic.name
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions


def test_every_event_is_on_the_topic_of_its_streams() -> None:
    for model in registry.models():
        for category in asyncapi.EVENT_CATEGORIES[model.event_type]:
            topic = topics.EVENT_TOPICS[category].name
            assert model.event_type in messages_on(topic), f"{model.event_type} not on {topic}"
    assert "SubscriptionCanceled" in messages_on(topics.SUBSCRIPTIONS.name)
    assert "ChargeFailed" in messages_on(topics.INVOICES.name)
    assert "SubscriptionCanceled" not in messages_on(topics.INVOICES.name)
    assert "CommandRejected" in messages_on(topics.CUSTOMERS.name)


def test_every_command_is_on_its_owners_command_topic() -> None:
    carried = messages_on(topics.SUBSCRIPTIONS_COMMANDS.name) | messages_on(
        topics.INVOICING_COMMANDS.name
    )
    assert {m.event_type for m in command_registry.models()} <= carried
    assert "CancelSubscription" in messages_on(topics.SUBSCRIPTIONS_COMMANDS.name)


def test_dead_letter_topics_carry_dead_letters() -> None:
    for topic in topics.all_topics():
        if topic.name.endswith(topics.DEAD_LETTER_SUFFIX):
            assert messages_on(topic.name) == {"DeadLetter"}


def test_a_message_payload_is_its_published_schema_file() -> None:
    message = DOCUMENT["components"]["messages"]["SubscriptionCanceled.v1"]
    assert message["payload"] == {"$ref": "./events/SubscriptionCanceled.v1.json"}
    assert message["title"] == "SubscriptionCanceled v1"
    command = DOCUMENT["components"]["messages"]["CancelSubscription.v1"]
    assert command["payload"] == {"$ref": "./commands/CancelSubscription.v1.json"}


def sample(data: EventData, stream_id: str = "subscription-sub_1") -> Any:
    return new_envelope(data, stream_id=stream_id, merchant_id="mer_1", correlation_id=uuid.uuid4())


CANCELED = SubscriptionCanceled(
    subscription_id="sub_1", customer_id="cus_1", canceled_at=datetime(2024, 1, 1, tzinfo=UTC)
)
REJECTED = CommandRejected(
    command_id="c_1", command_type="CancelSubscription", code="x", message="y"
)


@pytest.mark.parametrize("data", [CANCELED, REJECTED, CancelSubscription(subscription_id="s")])
def test_the_headers_schema_accepts_what_the_envelope_sends(data: EventData) -> None:
    headers = sample(data).kafka_headers()
    headers_validator(f"{data.event_type}.v{data.schema_version}").validate(headers)


def test_the_headers_schema_pins_the_message_type() -> None:
    with pytest.raises(ValidationError, match="SubscriptionCanceled"):
        headers_validator("SubscriptionCanceled.v1").validate(sample(REJECTED).kafka_headers())
    incomplete = sample(CANCELED).kafka_headers()
    del incomplete["event_id"]
    with pytest.raises(ValidationError, match="event_id"):
        headers_validator("SubscriptionCanceled.v1").validate(incomplete)


def test_messages_are_keyed_by_stream_id() -> None:
    key = DOCUMENT["components"]["messages"]["SubscriptionCanceled.v1"]["bindings"]["kafka"]["key"]
    validator = Draft202012Validator(key)
    for category in topics.EVENT_TOPICS:
        validator.validate(topics.stream_id(category, "x_1"))
    with pytest.raises(ValidationError):
        validator.validate("sub_1")


def test_the_dead_letter_headers_schema_accepts_what_consumers_send() -> None:
    delivery = dead_letter.Delivery(
        topic=topics.SUBSCRIPTIONS.name,
        partition=2,
        offset=41,
        value=b"{not json",
        key=b"subscription-sub_1",
        headers=(("event_type", b"SubscriptionCanceled"),),
        timestamp_ms=1_700_000_000_000,
    )
    letter = dead_letter.build_dead_letter(
        delivery,
        error=ValueError("not JSON"),
        reason=dead_letter.DeadLetterReason.MALFORMED,
        attempts=1,
        consumer="notifications",
    )
    headers = dead_letter.decode_headers(letter.headers)
    validator = headers_validator("DeadLetter")
    validator.validate(headers)
    del headers[dead_letter.ORIGINAL_OFFSET]
    with pytest.raises(ValidationError, match=re.escape(dead_letter.ORIGINAL_OFFSET)):
        validator.validate(headers)


def test_building_fails_for_a_message_without_a_declared_topic() -> None:
    orphan = asyncapi.MessageSpec("events", "SomethingNew", 1, "./events/SomethingNew.v1.json", "")
    with pytest.raises(ValueError, match=r"SomethingNew: add them to .*EVENT_CATEGORIES"):
        asyncapi.build([orphan], [], "0")


def test_every_declared_route_names_a_real_type() -> None:
    assert set(asyncapi.EVENT_CATEGORIES) == {m.event_type for m in registry.models()}
    assert set(asyncapi.COMMAND_TOPICS) == {m.event_type for m in command_registry.models()}
    for categories in asyncapi.EVENT_CATEGORIES.values():
        assert set(categories) <= set(topics.EVENT_TOPICS)
