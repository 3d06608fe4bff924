"""Invoice ids and numbers: deterministic, per merchant, readable."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicing.domain.identity import invoice_id_for, invoice_number, number_prefix

ids = st.text(min_size=1, max_size=60)
NUMBER = re.compile(r"^[A-Z2-7]{8}-[0-9]{6,}$")


@given(ids, st.integers(1, 10_000_000))
def test_numbers_are_prefix_dash_six_digits(merchant_id: str, sequence: int) -> None:
    number = invoice_number(merchant_id, sequence)
    assert NUMBER.match(number)
    assert number.startswith(number_prefix(merchant_id) + "-")
    assert int(number.split("-")[1]) == sequence


def test_numbers_are_zero_padded_and_sort_in_order() -> None:
    assert invoice_number("mer_1", 42).endswith("-000042")
    numbers = [invoice_number("mer_1", n) for n in (1, 2, 10, 999_999)]
    assert numbers == sorted(numbers)


def test_merchants_get_different_prefixes() -> None:
    assert number_prefix("mer_a") != number_prefix("mer_b")
    assert number_prefix("mer_a") == number_prefix("mer_a")


@pytest.mark.parametrize("sequence", [0, -1])
def test_sequences_start_at_one(sequence: int) -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        invoice_number("mer_1", sequence)


@given(ids, ids, st.sampled_from(["subscription_create", "subscription_cycle"]))
def test_an_invoice_id_is_a_function_of_what_it_bills(
    merchant_id: str, subscription_id: str, reason: str
) -> None:
    first = invoice_id_for(merchant_id, subscription_id, reason)
    assert first == invoice_id_for(merchant_id, subscription_id, reason)
    assert re.match(r"^in_[a-z2-7]{26}$", first)


def test_invoice_ids_differ_by_merchant_subscription_reason_and_period() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    variants = {
        invoice_id_for("mer_1", "sub_1", "subscription_create"),
        invoice_id_for("mer_2", "sub_1", "subscription_create"),
        invoice_id_for("mer_1", "sub_2", "subscription_create"),
        invoice_id_for("mer_1", "sub_1", "subscription_cycle"),
        invoice_id_for("mer_1", "sub_1", "subscription_cycle", start),
        # The separator keeps shifted boundaries apart.
        invoice_id_for("mer_1\x1fsub", "1", "subscription_create"),
    }
    assert len(variants) == 6
