"""Locale fallback and money formatting, including currencies without minor units."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import get_currency_precision
from hypothesis import given
from hypothesis import strategies as st

from notifications.domain.locale import SUPPORTED_LANGUAGES, MailLocale, resolve_locale
from notifications.domain.money import format_money, minor_to_major


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("en", MailLocale("en", "en")),
        ("es", MailLocale("es", "es")),
        ("pt", MailLocale("pt", "pt")),
        ("fr", MailLocale("fr", "fr")),
        ("es-MX", MailLocale("es", "es_MX")),
        ("pt-BR", MailLocale("pt", "pt_BR")),
        ("fr-CA", MailLocale("fr", "fr_CA")),
        # Not translated: English throughout, not English words around German numbers.
        ("de", MailLocale("en", "en")),
        ("de-DE", MailLocale("en", "en")),
        ("", MailLocale("en", "en")),
        (None, MailLocale("en", "en")),
        # A region babel does not know still reads the language.
        ("es-ZZ", MailLocale("es", "es")),
    ],
)
def test_resolve_locale(requested: str | None, expected: MailLocale) -> None:
    assert resolve_locale(requested) == expected


@given(st.text(max_size=20))
def test_any_requested_locale_resolves_to_a_translated_language(requested: str) -> None:
    resolved = resolve_locale(requested)
    assert resolved.language in SUPPORTED_LANGUAGES
    assert resolved.formatting.split("_")[0] == resolved.language


@pytest.mark.parametrize(
    ("amount", "currency", "major"),
    [
        (1999, "USD", Decimal("19.99")),
        (500, "JPY", Decimal("500")),
        (1234, "KWD", Decimal("1.234")),
        (0, "EUR", Decimal("0")),
        (-250, "USD", Decimal("-2.50")),
    ],
)
def test_minor_to_major_uses_the_currency_exponent(
    amount: int, currency: str, major: Decimal
) -> None:
    assert minor_to_major(amount, currency) == major


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["USD", "EUR", "JPY", "KRW", "KWD", "BHD", "BRL", "CLP", "MXN"]),
)
def test_minor_to_major_loses_nothing(amount: int, currency: str) -> None:
    digits = get_currency_precision(currency)
    assert minor_to_major(amount, currency).scaleb(digits) == amount


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (2999, "USD", "en", "$29.99"),
        (2999, "EUR", "es", "29,99\xa0€"),
        (123456, "EUR", "fr", "1\u202f234,56\xa0€"),
        (4990, "BRL", "pt", "R$\xa049,90"),
        (500, "JPY", "en", "¥500"),
        (150000, "JPY", "es", "150.000\xa0JPY"),
        (1234, "KWD", "en", "KWD\xa01.234"),
        (2999, "USD", "es_MX", "USD\xa029.99"),
        (-2999, "USD", "es_MX", "-USD\xa029.99"),
        (2999, "USD", "fr", "29,99\xa0$US"),
    ],
)
def test_format_money(amount: int, currency: str, locale: str, expected: str) -> None:
    assert format_money(amount, currency, locale) == expected
