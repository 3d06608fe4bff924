"""Unit tests of money and date formatting per locale."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from hypothesis import given
from hypothesis import strategies as st

from portal_gateway.portal import formatting
from portal_gateway.portal.formatting import (
    Formatter,
    formatter_for,
    minor_unit_exponent,
    to_major_units,
)
from portal_gateway.portal.locales import PortalLocale

EN, ES, PT_BR, FR = (
    PortalLocale("en"),
    PortalLocale("es"),
    PortalLocale("pt", "BR"),
    PortalLocale("fr"),
)
NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.mark.parametrize(
    ("locale", "amount", "currency", "expected"),
    [
        (EN, 2999, "USD", "$29.99"),
        (EN, 123456789, "USD", "$1,234,567.89"),
        (ES, 2999, "EUR", f"29,99{NBSP}€"),
        (PT_BR, 2999, "BRL", f"R${NBSP}29,99"),
        (FR, 123450, "EUR", f"1{NNBSP}234,50{NBSP}€"),
        (EN, 1500, "JPY", "¥1,500"),  # zero-decimal: 1500 minor units are 1500 yen
        (FR, 1500, "JPY", f"1{NNBSP}500{NBSP}JPY"),
        (EN, 1500, "KWD", "KWD1.500"),  # three decimals
        (EN, 1500, "IQD", "IQD1.500"),  # CLDR shows 0 decimals; ISO 4217 says 3
        (EN, 0, "USD", "$0.00"),
        (EN, 5, "usd", "$0.05"),
    ],
)
def test_money_is_formatted_for_the_locale(
    locale: PortalLocale, amount: int, currency: str, expected: str
) -> None:
    assert Formatter(locale).money(amount, currency) == expected


def test_minor_units_follow_iso_4217() -> None:
    assert minor_unit_exponent("USD") == 2
    assert minor_unit_exponent("JPY") == 0
    assert minor_unit_exponent("KRW") == 0
    assert minor_unit_exponent("BHD") == 3
    assert to_major_units(2999, "USD") == Decimal("29.99")
    assert to_major_units(2999, "JPY") == Decimal(2999)


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["USD", "EUR", "JPY", "KWD"]))
def test_no_minor_unit_is_lost_in_formatting(amount: int, currency: str) -> None:
    text = Formatter(EN).money(amount, currency)
    digits = "".join(char for char in text if char.isdigit())
    assert int(digits) == amount


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (EN, "June 14, 2023"),
        (ES, "14 de junio de 2023"),
        (PT_BR, "14 de junho de 2023"),
        (FR, "14 juin 2023"),
    ],
)
def test_dates_are_written_the_local_way(locale: PortalLocale, expected: str) -> None:
    assert Formatter(locale).date(datetime(2023, 6, 14, 9, 30, tzinfo=UTC)) == expected
    assert Formatter(locale).date(date(2023, 6, 14)) == expected


def test_dates_are_days_in_utc() -> None:
    late_evening_in_new_york = datetime(2023, 6, 14, 22, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert Formatter(EN).date(late_evening_in_new_york) == "June 15, 2023"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Formatter(EN).date(datetime(2023, 6, 14))


def test_currency_names_are_localized() -> None:
    assert Formatter(ES).currency_name("EUR") == "euro"
    assert Formatter(EN).currency_name("ZZZ") == "ZZZ"


# -- the shared, remembering formatters ------------------------------------------------


def test_one_formatter_is_shared_per_locale() -> None:
    assert formatter_for(PT_BR) is formatter_for(PortalLocale("pt", "BR"))
    assert formatter_for(PT_BR) is not formatter_for(PortalLocale("pt"))
    assert formatter_for(FR).locale == FR


@given(
    st.integers(min_value=0, max_value=10**12),
    st.sampled_from(["USD", "EUR", "BRL", "JPY", "KWD"]),
    st.sampled_from([EN, ES, PT_BR, FR]),
)
def test_remembered_amounts_are_what_babel_writes(
    amount: int, currency: str, locale: PortalLocale
) -> None:
    shared = formatter_for(locale)
    first = shared.money(amount, currency)
    assert shared.money(amount, currency.lower()) == first  # remembered under the ISO code
    # For these currencies CLDR's display digits are ISO 4217's, so babel's own
    # format_currency is the reference.
    expected = format_currency(to_major_units(amount, currency), currency, locale=locale.babel_id)
    assert first == expected
    assert Formatter(locale).money(amount, currency) == first


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-4)), timezone(timedelta(hours=9))]
        ),
    ),
    st.sampled_from([EN, ES, PT_BR, FR]),
)
def test_remembered_dates_are_the_utc_day_babel_writes(
    moment: datetime, locale: PortalLocale
) -> None:
    shared = formatter_for(locale)
    day = moment.astimezone(UTC).date()
    assert shared.date(moment) == format_date(day, format="long", locale=locale.babel_id)
    assert shared.short_date(moment) == format_date(day, format="medium", locale=locale.babel_id)
    assert shared.date(day) == shared.date(moment)  # the same memo entry for the same day


def test_a_shared_formatter_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formatting, "MEMO_SIZE", 8)
    fmt = Formatter(EN)  # made after the patch: its memos hold 8 values
    for amount in range(100):
        assert fmt.money(amount, "USD") == f"${amount / 100:.2f}"
    assert fmt._money.cache_info().currsize <= 8
    for offset in range(30):
        fmt.date(date(2024, 1, 1) + timedelta(days=offset))
    assert fmt._dates.cache_info().currsize <= 8
