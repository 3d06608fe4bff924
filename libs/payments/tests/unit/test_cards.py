"""Card checks: Luhn, brand, expiry and CVC, with no I/O."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.cards import (
    Brand,
    CardError,
    CardInput,
    brand_of,
    is_expired,
    luhn_valid,
    validate_card,
)

TODAY = date(2025, 6, 15)


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass Luhn (computed independently)."""
    for digit in "0123456789":
        digits = [int(c) for c in payload + digit]
        total = 0
        for i, d in enumerate(reversed(digits)):
            total += sum(divmod(d * 2, 10)) if i % 2 else d
        if total % 10 == 0:
            return digit
    raise AssertionError("no check digit")


payloads = st.text(alphabet="0123456789", min_size=11, max_size=18)


@given(payloads)
def test_a_number_with_its_check_digit_passes_luhn(payload: str) -> None:
    assert luhn_valid(payload + luhn_check_digit(payload))


@given(payloads, st.data())
def test_luhn_catches_every_single_digit_typo(payload: str, data: st.DataObject) -> None:
    number = payload + luhn_check_digit(payload)
    position = data.draw(st.integers(0, len(number) - 1))
    typo = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    mistyped = number[:position] + typo + number[position + 1 :]
    assert not luhn_valid(mistyped)


@pytest.mark.parametrize(
    "number",
    ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"],
)
def test_known_test_numbers_pass_luhn(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["", "4242424242424241", "42424242a4242424", "-1"])
def test_invalid_numbers_fail_luhn(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", Brand.VISA),
        ("5555555555554444", Brand.MASTERCARD),
        ("2223003122003222", Brand.MASTERCARD),
        ("378282246310005", Brand.AMEX),
        ("371449635398431", Brand.AMEX),
        ("6011111111111117", Brand.DISCOVER),
        ("6445644564456445", Brand.DISCOVER),
        ("6221260000000000", Brand.DISCOVER),
        ("3056930009020004", Brand.UNKNOWN),
        ("9999999999999995", Brand.UNKNOWN),
    ],
)
def test_brand_comes_from_the_issuer_prefix(number: str, brand: Brand) -> None:
    assert brand_of(number) is brand


def card(
    number: str = "4242424242424242", month: int = 12, year: int = 2030, cvc: str = "123"
) -> CardInput:
    return CardInput(number, month, year, cvc)


def test_a_valid_card_is_described_without_its_number() -> None:
    valid = validate_card(card("4242 4242-4242 4242"), TODAY)
    assert (valid.brand, valid.last4, valid.exp_month, valid.exp_year) == (
        Brand.VISA,
        "4242",
        12,
        2030,
    )


def test_two_digit_years_are_read_in_this_century() -> None:
    assert validate_card(card(year=30), TODAY).exp_year == 2030


@pytest.mark.parametrize(
    ("kwargs", "code", "param"),
    [
        ({"number": "4242424242424241"}, "invalid_number", "number"),
        ({"number": "4242"}, "invalid_number", "number"),
        ({"number": "4242x24242424242"}, "invalid_number", "number"),
        ({"number": "42424242424242424242"}, "invalid_number", "number"),
        ({"month": 0}, "invalid_expiry_month", "exp_month"),
        ({"month": 13}, "invalid_expiry_month", "exp_month"),
        ({"year": 1900}, "invalid_expiry_year", "exp_year"),
        ({"year": 1999}, "expired_card", "exp_year"),
        ({"year": 2200}, "invalid_expiry_year", "exp_year"),
        ({"year": 2025, "month": 5}, "expired_card", "exp_year"),
        ({"year": 2024}, "expired_card", "exp_year"),
        ({"cvc": "12"}, "invalid_cvc", "cvc"),
        ({"cvc": "1234"}, "invalid_cvc", "cvc"),
        ({"cvc": "12a"}, "invalid_cvc", "cvc"),
        ({"number": "378282246310005", "cvc": "123"}, "invalid_cvc", "cvc"),
    ],
)
def test_invalid_cards_get_a_precise_error(
    kwargs: dict[str, object], code: str, param: str
) -> None:
    with pytest.raises(CardError) as raised:
        validate_card(card(**kwargs), TODAY)  # type: ignore[arg-type]
    assert (raised.value.code, raised.value.param) == (code, param)
    assert raised.value.message


def test_amex_takes_a_four_digit_cvc() -> None:
    assert validate_card(card("378282246310005", cvc="1234"), TODAY).brand is Brand.AMEX


def test_a_card_is_valid_through_its_expiry_month() -> None:
    assert not is_expired(6, 2025, TODAY)
    assert is_expired(5, 2025, TODAY)
    assert validate_card(card(month=6, year=2025), TODAY).exp_month == 6
