"""Merchant branding turned into a small, safe stylesheet.

The portal's Content-Security-Policy allows no inline styles, so a merchant's brand color
reaches the page as ``/portal/theme.css?brand=rrggbb``: the color is validated to six hex
digits here, and the text colors drawn on and with it are chosen for WCAG AA contrast (4.5:1)
whatever color the merchant picked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

DEFAULT_BRAND: Final = "4f46e5"
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_WHITE: Final = (255, 255, 255)
_INK: Final = (17, 17, 17)  # the dark text color drawn on light brand colors
_LIGHT_BACKGROUND: Final = _WHITE
_DARK_BACKGROUND: Final = (17, 24, 39)  # --surface in dark mode (portal.css)
_AA: Final = 4.5

RGB = tuple[int, int, int]


def normalize_color(value: str | None) -> str | None:
    """``#1A2b3c``/``1a2b3c``/``#abc`` -> ``1a2b3c``; anything else -> None."""
    if not value:
        return None
    match = _HEX.match(value.strip())
    if match is None:
        return None
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(char * 2 for char in digits)
    return digits


def _rgb(hex6: str) -> RGB:
    return (int(hex6[0:2], 16), int(hex6[2:4], 16), int(hex6[4:6], 16))


def _hex(rgb: RGB) -> str:
    return "".join(f"{channel:02x}" for channel in rgb)


def relative_luminance(rgb: RGB) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(channel) for channel in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix(color: RGB, target: RGB, amount: float) -> RGB:
    r, g, b = (round(c + (t - c) * amount) for c, t in zip(color, target, strict=True))
    return (r, g, b)


def _readable_on(color: RGB, background: RGB) -> RGB:
    """``color`` moved towards black or white just enough to read on ``background``."""
    target: RGB = (0, 0, 0) if relative_luminance(background) > 0.5 else _WHITE
    for step in range(21):
        candidate = _mix(color, target, step / 20)
        if contrast_ratio(candidate, background) >= _AA:
            return candidate
    return target


@dataclass(frozen=True)
class Palette:
    brand: str  # buttons, accents
    on_brand: str  # text on a brand-colored button
    brand_text: str  # links and brand-colored text on the light background
    brand_text_dark: str  # the same on the dark-mode background

    def css(self) -> str:
        return (
            f":root{{--brand:#{self.brand};--on-brand:#{self.on_brand};"
            f"--brand-text:#{self.brand_text}}}\n"
            "@media (prefers-color-scheme: dark){"
            f":root{{--brand-text:#{self.brand_text_dark}}}}}\n"
        )


def palette(brand_color: str | None) -> Palette:
    hex6 = normalize_color(brand_color) or DEFAULT_BRAND
    brand = _rgb(hex6)
    on_white = contrast_ratio(brand, _WHITE)
    on_ink = contrast_ratio(brand, _INK)
    on_brand = "ffffff" if on_white >= on_ink else _hex(_INK)
    if max(on_white, on_ink) < _AA:
        # Mid-tone brands: darken the button itself until white text on it is readable.
        brand = _readable_on(brand, _WHITE)
        on_brand = "ffffff"
    return Palette(
        brand=_hex(brand),
        on_brand=on_brand,
        brand_text=_hex(_readable_on(_rgb(hex6), _LIGHT_BACKGROUND)),
        brand_text_dark=_hex(_readable_on(_rgb(hex6), _DARK_BACKGROUND)),
    )
