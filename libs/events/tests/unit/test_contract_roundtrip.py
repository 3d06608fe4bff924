"""Every event and command survives Envelope -> JSON -> registry.parse unchanged.

The examples are drawn by hypothesis from each type's *published* JSON Schema, so the test
also proves the schema and the model agree both ways: whatever the schema allows, the model
reads; whatever the model writes, the schema allows. A new event type is covered without
touching this file.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from billing_events.contract.commands import CancelSubscription, command_registry
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import SubscriptionCanceled, SubscriptionCreated
from billing_events.envelope import ContractError, EventRegistry, new_envelope, registry
from billing_events.schema_export import Kind, envelope_schema

JsonObject = dict[str, Any]

# Keywords the generator understands; a schema using another one fails the test loudly
# instead of producing examples that ignore it.
_SUPPORTED = {
    "$comment", "$defs", "$id", "$ref", "$schema", "additionalProperties", "anyOf", "const",
    "default", "description", "enum", "exclusiveMinimum", "format", "items", "maxLength",
    "maximum", "minLength", "minimum", "pattern", "properties", "required", "title", "type",
}  # fmt: skip

_OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3))]
# Dots only between characters: "a..b@x.com" is not an address (RFC 5322 dot-atom).
_EMAILS = st.from_regex(
    r"[a-z][a-z0-9]{0,5}(\.[a-z0-9]{1,5}){0,2}@[a-z]{2,12}\.(com|org|net)", fullmatch=True
)


def _resolve(schema: JsonObject, root: JsonObject) -> JsonObject:
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def from_schema(schema: JsonObject, root: JsonObject) -> st.SearchStrategy[Any]:
    """Values valid under ``schema``, for the subset of JSON Schema pydantic produces here."""
    schema = _resolve(schema, root)
    unknown = set(schema) - _SUPPORTED
    if unknown:
        raise NotImplementedError(f"example generator lacks support for {sorted(unknown)}")
    if "anyOf" in schema:
        return st.one_of([from_schema(member, root) for member in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -(10**12) - 1) + 1)
        return st.integers(min_value=low, max_value=schema.get("maximum", 10**12))
    if kind == "string":
        return _strings(schema)
    if kind == "array":
        return st.lists(from_schema(schema["items"], root), max_size=3)
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v, root) for k, v in properties.items() if k in required},
            optional={k: from_schema(v, root) for k, v in properties.items() if k not in required},
        )
    raise NotImplementedError(f"example generator lacks support for {schema}")


def _strings(schema: JsonObject) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength", 60)
    fmt = schema.get("format")
    if fmt == "uuid":
        return st.uuids().map(str)
    if fmt == "date-time":
        moments = st.datetimes(
            min_value=datetime(1970, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.sampled_from(_OFFSETS),
        )
        return moments.map(datetime.isoformat)
    if fmt == "email":
        return _EMAILS
    if fmt is not None:
        raise NotImplementedError(f"example generator lacks support for format {fmt!r}")
    if "pattern" in schema:
        matching = st.from_regex(str(schema["pattern"]), fullmatch=True)
        return matching.filter(lambda s: low <= len(s) <= high)
    return st.text(min_size=low, max_size=min(high, low + 60))


def published(kind: Kind, kind_registry: EventRegistry) -> list[Any]:
    return [
        pytest.param(kind_registry, envelope_schema(model, kind), id=model.event_type)
        for model in kind_registry.models()
    ]


CASES = published(Kind.EVENTS, registry) + published(Kind.COMMANDS, command_registry)


@pytest.mark.parametrize(("kind_registry", "schema"), CASES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_message_valid_under_its_schema_round_trips(
    kind_registry: EventRegistry, schema: JsonObject, data: st.DataObject
) -> None:
    message = data.draw(from_schema(schema, schema), label="message")

    envelope = kind_registry.envelope_from_dict(message)  # the schema allows nothing unreadable
    body = envelope.to_json()
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        orjson.loads(body)
    )  # what the model writes is what the schema publishes
    assert kind_registry.parse(body) == envelope
    assert kind_registry.parse(body.decode()) == envelope


def test_a_hand_made_event_round_trips_with_every_envelope_field() -> None:
    correlation, causation = uuid.uuid4(), uuid.uuid4()
    card = CardSummary(
        payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030
    )
    plan = PlanSnapshot(plan_id="plan_1", name="Pro", amount=2999, currency="USD", interval="month")
    created = new_envelope(
        SubscriptionCreated(
            subscription_id="sub_1", customer_id="cus_1", plan=plan, payment_method=card
        ),
        stream_id="subscription-sub_1",
        merchant_id="mer_1",
        correlation_id=correlation,
        causation_id=causation,
        stream_version=1,
        occurred_at=datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    )
    parsed = registry.parse(created.to_json())
    assert parsed == created
    assert parsed.data == created.data
    assert (parsed.causation_id, parsed.correlation_id) == (causation, correlation)


def test_optional_fields_and_nulls_round_trip() -> None:
    canceled = new_envelope(
        SubscriptionCanceled(
            subscription_id="sub_1",
            customer_id="cus_1",
            canceled_at=datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
            reason="too_expensive",
            comment='ñandú — 日本語 \u0000 "quoted"',
        ),
        stream_id="subscription-sub_1",
        merchant_id="mer_1",
        correlation_id=uuid.uuid4(),
    )
    assert registry.parse(canceled.to_json()) == canceled
    bare = canceled.model_copy(
        update={
            "data": SubscriptionCanceled.model_validate(
                {"subscription_id": "s", "customer_id": "c", "canceled_at": "2024-01-01T00:00:00Z"}
            )
        }
    )
    assert registry.parse(bare.to_json()) == bare


def test_a_command_round_trips_through_the_command_registry_only() -> None:
    cancel = new_envelope(
        CancelSubscription(subscription_id="sub_1", at_period_end=True, reason="unused"),
        stream_id="subscription-sub_1",
        merchant_id="mer_1",
        correlation_id=uuid.uuid4(),
    )
    assert command_registry.parse(cancel.to_json()) == cancel
    with pytest.raises(ContractError, match="unknown event type 'CancelSubscription'"):
        registry.parse(cancel.to_json())
