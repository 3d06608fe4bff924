"""Unit tests of locale negotiation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_gateway.portal.locales import (
    SUPPORTED_LANGUAGES,
    PortalLocale,
    accept_language_ranges,
    negotiate,
    parse_locale,
)
from portal_gateway.portal.sessions import InvalidLocale, normalize_session_locale


def test_the_session_locale_wins_over_everything() -> None:
    chosen = negotiate(session_locale="fr", customer_locale="es", accept_language="pt-BR,pt")
    assert chosen == PortalLocale("fr")


def test_the_customer_locale_comes_next() -> None:
    chosen = negotiate(session_locale=None, customer_locale="es", accept_language="pt-BR")
    assert chosen == PortalLocale("es")


def test_the_browser_decides_when_neither_is_set() -> None:
    assert negotiate(accept_language="pt-BR,pt;q=0.9,en;q=0.5") == PortalLocale("pt", "BR")


def test_english_is_the_last_resort() -> None:
    assert negotiate() == PortalLocale("en")
    assert negotiate(accept_language="de-DE,ja;q=0.8") == PortalLocale("en")


def test_unsupported_session_or_customer_locales_fall_through() -> None:
    chosen = negotiate(session_locale="de", customer_locale="it", accept_language="fr-CA")
    assert chosen == PortalLocale("fr", "CA")


def test_accept_language_quality_values_order_the_choice() -> None:
    header = "de;q=1.0, es;q=0.4, fr;q=0.8, en;q=0"
    assert accept_language_ranges(header) == ["de", "fr", "es"]
    assert negotiate(accept_language=header) == PortalLocale("fr")


def test_equal_quality_keeps_the_browser_order() -> None:
    assert accept_language_ranges("es, fr, pt") == ["es", "fr", "pt"]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("es", PortalLocale("es")),
        ("pt-BR", PortalLocale("pt", "BR")),
        ("pt_br", PortalLocale("pt", "BR")),
        ("FR-ca", PortalLocale("fr", "CA")),
        ("es-419", PortalLocale("es", "419")),
        ("en-ZZ", PortalLocale("en")),  # unknown region: the language still counts
        ("de", None),
        ("*", None),
        ("", None),
        ("english", None),
    ],
)
def test_parse_locale(tag: str, expected: PortalLocale | None) -> None:
    assert parse_locale(tag) == expected


def test_locale_tags_for_html_and_babel() -> None:
    assert PortalLocale("pt", "BR").tag == "pt-BR"
    assert PortalLocale("pt", "BR").babel_id == "pt_BR"
    assert PortalLocale("en").tag == "en"


@given(st.text(max_size=200))
def test_any_accept_language_header_negotiates_a_supported_language(header: str) -> None:
    assert negotiate(accept_language=header).language in SUPPORTED_LANGUAGES


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("auto", None), ("es", "es"), ("pt_br", "pt-BR"), ("FR", "fr")],
)
def test_session_locales_given_by_merchants_are_normalized(
    value: str | None, expected: str | None
) -> None:
    assert normalize_session_locale(value) == expected


@pytest.mark.parametrize("value", ["de", "xx-YY-zz", "español", "e"])
def test_unsupported_session_locales_are_refused_with_the_supported_list(value: str) -> None:
    with pytest.raises(InvalidLocale) as error:
        normalize_session_locale(value)
    assert error.value.code == "invalid_locale"
