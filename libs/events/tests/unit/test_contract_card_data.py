"""No event or command can carry a card number or a CVC.

The processor adapter tokenizes; the contract only has room for a token, the brand, the last
four digits and the expiry. Checked on the published schemas (every field of every message,
nested values included) so that a new field anywhere is covered, and on CardSummary itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from billing_events.contract.common import CardSummary
from billing_events.schema_export import envelope_schema, registries

JsonObject = dict[str, Any]

# Field names (lower case, without "_" and "-") that could hold a card number or a CVC.
FORBIDDEN_NAMES = {"number", "pan", "cvc", "cvv", "cvc2", "cvv2", "cid", "csc", "card", "ccn"}
FORBIDDEN_PARTS = (
    "cardnumber", "cardno", "ccnumber", "accountnumber", "primaryaccount", "fullnumber",
    "securitycode", "cardcode", "cvc", "cvv", "verificationvalue", "track1", "track2",
    "trackdata", "magstripe", "rawcard",
)  # fmt: skip

# Fields whose name matches but whose meaning is something else. Each needs a reason, and an
# entry that no longer matches anything fails the test so the list cannot rot.
ALLOWED = {
    "InvoiceIssued.data.number": "the invoice number the merchant's customers see (INV-0001)",
    "AttachPaymentMethod.data.card": "a CardSummary: token, brand, last4 and expiry only",
    "PaymentMethodAttached.data.card": "a CardSummary: token, brand, last4 and expiry only",
}

CARD_SUMMARY_FIELDS = {"payment_method_id", "brand", "last4", "exp_month", "exp_year"}


def published() -> dict[str, JsonObject]:
    return {
        model.event_type: envelope_schema(model, kind)
        for kind, kind_registry in registries().items()
        for model in kind_registry.models()
    }


def fields(schema: Any, root: JsonObject, path: str, seen: frozenset[str]) -> Iterator[str]:
    """Every property path in a message, following $ref into nested values."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return
        target = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        yield from fields(target, root, path, seen | {ref})
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}.{name}"
        yield from fields(prop, root, f"{path}.{name}", seen)
    for keyword in ("anyOf", "oneOf", "allOf"):
        for member in schema.get(keyword, []):
            yield from fields(member, root, path, seen)
    if "items" in schema:
        yield from fields(schema["items"], root, f"{path}[]", seen)


def could_hold_card_data(name: str) -> bool:
    normalized = re.sub(r"[_\-]", "", name.lower())
    return normalized in FORBIDDEN_NAMES or any(part in normalized for part in FORBIDDEN_PARTS)


SCHEMAS = published()


@pytest.mark.parametrize("event_type", sorted(SCHEMAS))
def test_no_field_could_hold_a_card_number_or_cvc(event_type: str) -> None:
    schema = SCHEMAS[event_type]
    suspicious = [
        path
        for path in fields(schema, schema, event_type, frozenset())
        if could_hold_card_data(path.rsplit(".", 1)[1].removesuffix("[]")) and path not in ALLOWED
    ]
    assert suspicious == [], (
        f"{suspicious} could carry a card number or CVC. Card data never enters an event: "
        "carry the processor's token and a CardSummary (brand, last4, expiry) instead."
    )


def test_allowed_exceptions_still_exist() -> None:
    every_path = {
        path for t, schema in SCHEMAS.items() for path in fields(schema, schema, t, frozenset())
    }
    assert set(ALLOWED) <= every_path, "remove stale entries from ALLOWED"


@pytest.mark.parametrize("path", sorted(p for p in ALLOWED if p.endswith(".card")))
def test_an_allowed_card_field_is_a_card_summary(path: str) -> None:
    event_type = path.split(".", 1)[0]
    schema = SCHEMAS[event_type]
    assert schema["$defs"][event_type]["properties"]["card"] == {"$ref": "#/$defs/CardSummary"}
    assert set(schema["$defs"]["CardSummary"]["properties"]) == CARD_SUMMARY_FIELDS


@pytest.mark.parametrize(
    "name",
    ["number", "card_number", "cardNumber", "CVC", "cvv", "cvc2", "card-cvv", "pan",
     "security_code", "track2_data", "primary_account_number"],
)  # fmt: skip
def test_the_name_check_catches_card_fields(name: str) -> None:
    assert could_hold_card_data(name)


@pytest.mark.parametrize("name", ["last4", "brand", "exp_month", "payment_method_id", "amount"])
def test_the_name_check_leaves_card_summary_fields_alone(name: str) -> None:
    assert not could_hold_card_data(name)


def test_every_object_in_every_message_refuses_undeclared_fields() -> None:
    """extra="forbid" everywhere: a card number cannot ride along as an unknown field."""
    for event_type, schema in SCHEMAS.items():
        objects = [schema, *schema["$defs"].values()]
        open_objects = [
            o.get("title", event_type)
            for o in objects
            if o.get("type") == "object" and o.get("additionalProperties") is not False
        ]
        assert open_objects == [], f"{event_type}: {open_objects} accept undeclared fields"


def card(**overrides: Any) -> CardSummary:
    fields = {
        "payment_method_id": "pm_1",
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2030,
        **overrides,
    }
    return CardSummary.model_validate(fields)


@given(st.from_regex(r"[0-9]{4}", fullmatch=True))
def test_last4_takes_four_digits(last4: str) -> None:
    assert card(last4=last4).last4 == last4


@given(st.text().filter(lambda s: re.fullmatch(r"[0-9]{4}", s) is None))
def test_last4_takes_nothing_else(last4: str) -> None:
    with pytest.raises(ValidationError):
        card(last4=last4)


@pytest.mark.parametrize(
    "last4",
    [
        "4242424242424242",
        "42424",
        "424",
        "",
        "4242\n",
        " 4242",
        "42 42",
        "\u0664\u0662\u0664\u0662",
    ],
)
def test_last4_rejects_a_full_number_and_near_misses(last4: str) -> None:
    with pytest.raises(ValidationError, match="last4"):
        card(last4=last4)


@pytest.mark.parametrize("extra", ["number", "cvc", "card_number"])
def test_a_card_summary_refuses_card_data_fields(extra: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        card(**{extra: "4242424242424242"})
