"""The merchant's brand as it may appear in a mail: values that cannot break out of markup.

Merchant settings end up in ``style`` and ``src`` attributes of the HTML part. Autoescaping
stops them from closing the attribute, not from being ``javascript:`` or a CSS expression, so
anything that is not plainly a color or a web address is dropped for the default look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from notifications.domain.projection import MerchantProfile

DEFAULT_BRAND_COLOR: Final = "#1f2937"
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class Brand:
    name: str
    color: str
    text_color: str
    """Black or white, whichever reads better on ``color``."""
    logo_url: str | None
    support_email: str | None


def safe_color(value: str | None) -> str:
    if value is not None and _HEX_COLOR.match(value.strip()):
        return value.strip()
    return DEFAULT_BRAND_COLOR


def safe_logo_url(value: str | None) -> str | None:
    if not value:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return None
    return value.strip()


def _channel(hex_pair: str) -> float:
    value = int(hex_pair, 16) / 255
    return value / 12.92 if value <= 0.03928 else float(((value + 0.055) / 1.055) ** 2.4)


def text_color_on(color: str) -> str:
    """``#ffffff`` or ``#000000``: the higher WCAG contrast against ``color`` (``#rgb`` or
    ``#rrggbb``), so that a merchant's pale brand color still gets a readable header."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    red, green, blue = (_channel(digits[i : i + 2]) for i in (0, 2, 4))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    # Contrast with white is 1.05 / (L + 0.05), with black (L + 0.05) / 0.05; equal at ~0.179.
    return "#000000" if luminance > 0.179 else "#ffffff"


def brand_of(merchant: MerchantProfile) -> Brand:
    color = safe_color(merchant.brand_color)
    return Brand(
        name=merchant.name,
        color=color,
        text_color=text_color_on(color),
        logo_url=safe_logo_url(merchant.logo_url),
        support_email=merchant.support_email,
    )
