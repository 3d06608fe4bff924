"""Unit tests of merchant theming: only safe colors, always readable text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_gateway.portal.theme import (
    DEFAULT_BRAND,
    _rgb,
    contrast_ratio,
    normalize_color,
    palette,
)

WHITE = (255, 255, 255)
DARK_SURFACE = (17, 24, 39)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#0A7D5A", "0a7d5a"),
        ("0a7d5a", "0a7d5a"),
        ("#abc", "aabbcc"),
        (" #abcdef ", "abcdef"),
        ("red", None),
        ("#12345", None),
        ("#1234567", None),
        ("#fff;}body{display:none", None),
        ("", None),
        (None, None),
    ],
)
def test_only_hex_colors_are_accepted(value: str | None, expected: str | None) -> None:
    assert normalize_color(value) == expected


def test_an_invalid_brand_color_gets_the_default_theme() -> None:
    assert palette("url(javascript:alert(1))") == palette(DEFAULT_BRAND)
    assert "javascript" not in palette("url(javascript:alert(1))").css()


@given(st.integers(min_value=0, max_value=0xFFFFFF))
def test_text_is_readable_whatever_the_brand_color(value: int) -> None:
    colors = palette(f"#{value:06x}")
    assert contrast_ratio(_rgb(colors.brand_text), WHITE) >= 4.5
    assert contrast_ratio(_rgb(colors.brand_text_dark), DARK_SURFACE) >= 4.5
    assert contrast_ratio(_rgb(colors.on_brand), _rgb(colors.brand)) >= 4.5


def test_the_stylesheet_sets_the_brand_variables() -> None:
    css = palette("#0a7d5a").css()
    assert "--brand:#0a7d5a" in css
    assert "--on-brand:#ffffff" in css
    assert "prefers-color-scheme: dark" in css
