"""Which language a portal page is shown in.

Order: the session's locale (set by the merchant when creating the session, or by the
customer's language switcher), else the customer's own locale, else the browser's
``Accept-Language``, else English. Only the language picks the message catalog; a region
(``pt-BR``, ``fr-CA``) is kept for formatting numbers, money and dates the local way.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from babel import localedata

SUPPORTED_LANGUAGES: Final = ("en", "es", "pt", "fr")
DEFAULT_LANGUAGE: Final = "en"
# How each language names itself, for the switcher: never translated.
LANGUAGE_NAMES: Final = {"en": "English", "es": "Español", "pt": "Português", "fr": "Français"}

_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}|[0-9]{3}))?$")
_MAX_ACCEPT_LANGUAGE = 1000
_MAX_LANGUAGE_RANGES = 20


@dataclass(frozen=True)
class PortalLocale:
    language: str  # one of SUPPORTED_LANGUAGES
    region: str | None = None

    @property
    def tag(self) -> str:
        """BCP 47, for ``<html lang>``."""
        return f"{self.language}-{self.region}" if self.region else self.language

    @property
    def babel_id(self) -> str:
        return f"{self.language}_{self.region}" if self.region else self.language


ENGLISH: Final = PortalLocale(DEFAULT_LANGUAGE)


@functools.lru_cache(maxsize=256)
def parse_locale(value: str | None) -> PortalLocale | None:
    """A supported locale from a tag such as ``es``, ``pt-BR`` or ``fr_ca``; None otherwise.

    Remembered (bounded): a pure function of the tag, asked at every page view, and asking
    babel whether a region exists reads the file system."""
    if not value:
        return None
    match = _TAG.match(value.strip())
    if match is None:
        return None
    language = match.group(1).lower()
    if language not in SUPPORTED_LANGUAGES:
        return None
    region = match.group(2).upper() if match.group(2) else None
    if region is not None and not localedata.exists(f"{language}_{region}"):
        region = None  # an unknown region still gets the language
    return PortalLocale(language, region)


def accept_language_ranges(header: str | None) -> list[str]:
    """Language ranges of an ``Accept-Language`` header, most preferred first.

    Malformed entries are skipped rather than failing the request: the header is advisory.
    """
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header[:_MAX_ACCEPT_LANGUAGE].split(",")[:_MAX_LANGUAGE_RANGES]):
        tag, *params = (part.strip() for part in item.split(";"))
        if not tag:
            continue
        quality = 1.0
        for param in params:
            name, _, raw = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(raw)
                except ValueError:
                    quality = 0.0
        if 0.0 < quality <= 1.0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(
    *,
    session_locale: str | None = None,
    customer_locale: str | None = None,
    accept_language: str | None = None,
) -> PortalLocale:
    for explicit in (session_locale, customer_locale):
        found = parse_locale(explicit)
        if found is not None:
            return found
    for tag in accept_language_ranges(accept_language):
        found = parse_locale(tag)
        if found is not None:
            return found
    return ENGLISH
