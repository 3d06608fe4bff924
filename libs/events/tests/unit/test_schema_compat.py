"""The compatibility checker: what may change in a published schema, and what may not.

First on small synthetic schemas, one rule at a time; then by mutating every real published
schema (remove each field, add a required one, drop an enum value...) to show the checker
catches each kind of break wherever it happens, and accepts the compatible edits.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from billing_events.schema_export import (
    Incompatibility,
    Kind,
    envelope_schema,
    incompatible_changes,
    registries,
)

JsonObject = dict[str, Any]

REASONS = ["too_expensive", "unused", "other"]


def message(**data_properties: Any) -> JsonObject:
    """A small envelope-like schema whose ``data`` lives in $defs, as pydantic writes it."""
    required = [name for name, prop in data_properties.items() if not prop.pop("_optional", False)]
    return {
        "$defs": {
            "Data": {
                "additionalProperties": False,
                "properties": data_properties,
                "required": required,
                "type": "object",
            }
        },
        "additionalProperties": False,
        "properties": {
            "event_type": {"const": "Thing", "type": "string"},
            "data": {"$ref": "#/$defs/Data"},
        },
        "required": ["event_type", "data"],
        "type": "object",
    }


def optional(schema: JsonObject) -> JsonObject:
    return {**schema, "_optional": True}


def nullable(schema: JsonObject) -> JsonObject:
    return {"anyOf": [schema, {"type": "null"}], "default": None}


def problems(old: JsonObject, new: JsonObject) -> list[str]:
    return [str(p) for p in incompatible_changes(old, new)]


STRING = {"type": "string"}
INTEGER = {"type": "integer"}


# --- incompatible changes, one rule at a time ---------------------------------------------


def test_removing_a_required_field_is_incompatible() -> None:
    old = message(id=dict(STRING), amount=dict(INTEGER))
    new = message(id=dict(STRING))
    assert problems(old, new) == ["data.amount: field removed"]


def test_removing_an_optional_field_is_incompatible() -> None:
    old = message(id=dict(STRING), note=optional(nullable(dict(STRING))))
    new = message(id=dict(STRING))
    assert problems(old, new) == ["data.note: field removed"]


def test_adding_a_required_field_is_incompatible() -> None:
    old = message(id=dict(STRING))
    new = message(id=dict(STRING), currency=dict(STRING))
    assert problems(old, new) == ["data.currency: required field added"]


def test_making_an_optional_field_required_is_incompatible() -> None:
    old = message(id=dict(STRING), note=optional(dict(STRING)))
    new = message(id=dict(STRING), note=dict(STRING))
    assert problems(old, new) == ["data.note: field became required"]


@pytest.mark.parametrize(
    ("old_type", "new_type", "expected"),
    [
        ({"type": "number"}, {"type": "integer"}, "number no longer accepted"),
        ({"type": "string"}, {"type": "integer"}, "string no longer accepted"),
        (nullable(dict(STRING)), dict(STRING), "null no longer accepted"),
        ({"type": ["string", "integer"]}, dict(STRING), "integer no longer accepted"),
        ({}, dict(STRING), "any value no longer accepted"),
    ],
    ids=["number-to-integer", "string-to-integer", "drop-null", "drop-type-from-list", "any"],
)
def test_narrowing_a_type_is_incompatible(
    old_type: JsonObject, new_type: JsonObject, expected: str
) -> None:
    found = problems(message(value=old_type), message(value=new_type))
    assert len(found) == 1
    assert found[0].startswith("data.value: type narrowed:")
    assert expected in found[0]


def test_removing_an_enum_value_is_incompatible() -> None:
    old = message(reason={"enum": REASONS, "type": "string"})
    new = message(reason={"enum": ["too_expensive", "other"], "type": "string"})
    assert problems(old, new) == ['data.reason: value(s) no longer accepted: "unused"']


def test_renaming_an_enum_value_is_incompatible_even_inside_a_nullable() -> None:
    old = message(reason=nullable({"enum": REASONS, "type": "string"}))
    renamed = ["too_expensive", "not_used", "other"]
    new = message(reason=nullable({"enum": renamed, "type": "string"}))
    assert problems(old, new) == ['data.reason: value(s) no longer accepted: "unused"']


def test_restricting_a_free_value_to_an_enum_or_const_is_incompatible() -> None:
    old = message(kind=dict(STRING))
    assert problems(old, message(kind={"enum": ["a"], "type": "string"})) == [
        'data.kind: now restricted to "a"'
    ]
    assert problems(old, message(kind={"const": "a", "type": "string"})) == [
        'data.kind: now restricted to "a"'
    ]


def test_changing_a_const_is_incompatible() -> None:
    old = message(version={"const": 1, "type": "integer"})
    new = message(version={"const": 2, "type": "integer"})
    assert problems(old, new) == ["data.version: value(s) no longer accepted: 1"]


@pytest.mark.parametrize(
    ("old_prop", "new_prop", "expected"),
    [
        ({**STRING, "maxLength": 200}, {**STRING, "maxLength": 100}, "maxLength lowered to 100"),
        ({**STRING, "minLength": 1}, {**STRING, "minLength": 2}, "minLength raised to 2"),
        (dict(STRING), {**STRING, "pattern": "^[A-Z]{3}$"}, "pattern added"),
        ({**STRING, "pattern": "^[A-Z]+$"}, {**STRING, "pattern": "^[A-Z]{3}$"}, "pattern changed"),
        (dict(STRING), {**STRING, "format": "email"}, "format added"),
        ({**INTEGER, "minimum": 0}, {**INTEGER, "minimum": 1}, "lower bound raised to >= 1"),
        (
            {**INTEGER, "minimum": 0},
            {**INTEGER, "exclusiveMinimum": 0},
            "lower bound raised to > 0",
        ),
        (dict(INTEGER), {**INTEGER, "maximum": 12}, "upper bound lowered to <= 12"),
        ({**INTEGER, "maximum": 12}, {**INTEGER, "maximum": 11}, "upper bound lowered to <= 11"),
        (dict(INTEGER), {**INTEGER, "multipleOf": 5}, "multipleOf 5 added or changed"),
    ],
)
def test_tightening_a_constraint_is_incompatible(
    old_prop: JsonObject, new_prop: JsonObject, expected: str
) -> None:
    found = problems(message(value=old_prop), message(value=new_prop))
    assert len(found) == 1, found
    assert found[0].startswith(f"data.value: {expected}")


def test_forbidding_extra_fields_is_incompatible() -> None:
    old = message(id=dict(STRING))
    old["$defs"]["Data"]["additionalProperties"] = True
    assert problems(old, message(id=dict(STRING))) == ["data: additional fields no longer accepted"]


def test_changes_inside_arrays_and_nested_objects_are_found_with_their_path() -> None:
    line_v1: JsonObject = {
        "properties": {"amount": dict(INTEGER), "plan_id": optional(dict(STRING))},
        "required": ["amount"],
        "type": "object",
    }
    line_v2 = copy.deepcopy(line_v1)
    del line_v2["properties"]["plan_id"]
    old = message(lines={"items": line_v1, "type": "array"})
    new = message(lines={"items": line_v2, "type": "array"})
    assert problems(old, new) == ["data.lines[].plan_id: field removed"]


def test_a_recursive_schema_is_compared_without_looping() -> None:
    node = {
        "properties": {"children": {"items": {"$ref": "#/$defs/Node"}, "type": "array"}},
        "type": "object",
    }
    schema = {"$defs": {"Node": node}, "$ref": "#/$defs/Node"}
    assert incompatible_changes(schema, copy.deepcopy(schema)) == []


def test_every_problem_is_reported_not_just_the_first() -> None:
    old = message(a=dict(STRING), b=dict(STRING), c=optional(dict(STRING)))
    new = message(b=dict(INTEGER), c=dict(STRING), d=dict(STRING))
    assert set(problems(old, new)) == {
        "data.a: field removed",
        "data.b: type narrowed: string no longer accepted (now integer)",
        "data.c: field became required",
        "data.d: required field added",
    }


def test_an_incompatibility_names_the_message_root() -> None:
    assert str(Incompatibility("", "additional fields no longer accepted")) == (
        "<message>: additional fields no longer accepted"
    )


# --- compatible changes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old_prop", "new_prop"),
    [
        ({"enum": REASONS, "type": "string"}, {"enum": [*REASONS, "bankrupt"], "type": "string"}),
        ({"enum": REASONS, "type": "string"}, dict(STRING)),
        ({"const": "a", "type": "string"}, {"enum": ["a", "b"], "type": "string"}),
        (dict(INTEGER), {"type": "number"}),
        (dict(STRING), nullable(dict(STRING))),
        (dict(STRING), {"type": ["string", "null"]}),
        (dict(STRING), {}),
        ({**STRING, "maxLength": 100}, {**STRING, "maxLength": 200}),
        ({**STRING, "minLength": 2}, dict(STRING)),
        ({**STRING, "pattern": "^[A-Z]{3}$"}, dict(STRING)),
        ({**STRING, "format": "email"}, dict(STRING)),
        ({**INTEGER, "minimum": 1}, {**INTEGER, "minimum": 0}),
        ({**INTEGER, "exclusiveMinimum": 0}, {**INTEGER, "minimum": 0}),
        ({**INTEGER, "maximum": 12}, dict(INTEGER)),
        ({**INTEGER, "multipleOf": 10}, {**INTEGER, "multipleOf": 5}),
        ({**STRING, "title": "Old", "description": "old"}, {**STRING, "title": "New"}),
        ({**STRING, "default": "a"}, {**STRING, "default": "b"}),
    ],
    ids=[
        "widen-enum",
        "enum-to-free",
        "const-to-enum",
        "integer-to-number",
        "nullable-anyOf",
        "nullable-type-list",
        "any",
        "longer",
        "shorter-min",
        "drop-pattern",
        "drop-format",
        "lower-minimum",
        "inclusive-minimum",
        "drop-maximum",
        "finer-multiple",
        "docs",
        "default",
    ],
)
def test_widening_is_compatible(old_prop: JsonObject, new_prop: JsonObject) -> None:
    assert problems(message(value=old_prop), message(value=new_prop)) == []


def test_a_new_optional_field_is_compatible() -> None:
    old = message(id=dict(STRING))
    new = message(id=dict(STRING), note=optional(nullable(dict(STRING))))
    assert problems(old, new) == []


def test_making_a_required_field_optional_is_compatible() -> None:
    old = message(id=dict(STRING), note=dict(STRING))
    new = message(id=dict(STRING), note=optional(dict(STRING)))
    assert problems(old, new) == []


def test_renaming_a_def_is_compatible_because_refs_are_followed() -> None:
    old = message(id=dict(STRING))
    new = copy.deepcopy(old)
    new["$defs"]["Payload"] = new["$defs"].pop("Data")
    new["properties"]["data"] = {"$ref": "#/$defs/Payload"}
    assert problems(old, new) == []


# --- mutations of every real published schema ---------------------------------------------


def current_schemas() -> dict[str, JsonObject]:
    return {
        f"{kind.value}/{model.event_type}": envelope_schema(model, kind)
        for kind, kind_registry in registries().items()
        for model in kind_registry.models()
    }


SCHEMAS = current_schemas()


def objects(schema: JsonObject) -> Iterator[JsonObject]:
    """Every object schema with properties: the envelope, data, and nested values."""
    if "properties" in schema:
        yield schema
    for definition in schema.get("$defs", {}).values():
        yield from objects(definition)


def enums(schema: Any) -> Iterator[list[Any]]:
    if isinstance(schema, dict):
        if isinstance(schema.get("enum"), list) and len(schema["enum"]) > 1:
            yield schema["enum"]
        for value in schema.values():
            yield from enums(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from enums(value)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_a_published_schema_is_compatible_with_itself(name: str) -> None:
    assert incompatible_changes(SCHEMAS[name], copy.deepcopy(SCHEMAS[name])) == []


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_removing_any_field_of_a_real_schema_is_caught(name: str) -> None:
    schema = SCHEMAS[name]
    for index, obj in enumerate(objects(schema)):
        for field in list(obj["properties"]):
            mutated = copy.deepcopy(schema)
            target = list(objects(mutated))[index]
            del target["properties"][field]
            if field in target.get("required", []):
                target["required"].remove(field)
            found = problems(schema, mutated)
            assert found, f"removing {field} from {name} went unnoticed"
            assert all("field removed" in p for p in found), found


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_adding_fields_to_a_real_schema(name: str) -> None:
    schema = SCHEMAS[name]
    for index in range(len(list(objects(schema)))):
        with_optional = copy.deepcopy(schema)
        target = list(objects(with_optional))[index]
        target["properties"]["added_later"] = nullable(dict(STRING))
        assert problems(schema, with_optional) == [], "a new optional field is compatible"

        target.setdefault("required", []).append("added_later")
        found = problems(schema, with_optional)
        # A $defs object used twice (PlanChanged's from_plan and to_plan) is reported twice.
        assert found
        assert all(p.endswith("added_later: required field added") for p in found), found


@pytest.mark.parametrize("name", sorted(n for n in SCHEMAS if any(enums(SCHEMAS[n]))))
def test_enum_changes_in_a_real_schema(name: str) -> None:
    schema = SCHEMAS[name]
    for index, values in enumerate(enums(schema)):
        narrowed = copy.deepcopy(schema)
        list(enums(narrowed))[index].pop()
        assert problems(schema, narrowed), f"dropping {values[-1]!r} went unnoticed"

        widened = copy.deepcopy(schema)
        list(enums(widened))[index].append("introduced_later")
        assert problems(schema, widened) == []


def test_a_real_event_and_a_different_event_are_incompatible() -> None:
    canceled = SCHEMAS["events/SubscriptionCanceled"]
    scheduled = SCHEMAS["events/CancellationScheduled"]
    found = problems(canceled, scheduled)
    assert any(p.startswith("event_type: value(s) no longer accepted") for p in found)
    assert "data.customer_id: field removed" in found


def test_registries_cover_events_and_commands() -> None:
    names = {kind: [m.event_type for m in r.models()] for kind, r in registries().items()}
    assert "SubscriptionCanceled" in names[Kind.EVENTS]
    assert "CancelSubscription" in names[Kind.COMMANDS]
