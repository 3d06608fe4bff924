"""Which language a mail is written in and which locale formats its numbers and dates.

Mail is translated into a few languages; numbers and dates can follow the customer's exact
region (``es-MX`` reads ``$1,234.50`` and ``es-ES`` reads ``1234,50 €``). A customer whose
language is not translated gets English throughout, rather than English sentences around
numbers formatted for a region they did not ask for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from babel import Locale, UnknownLocaleError

SUPPORTED_LANGUAGES: Final = ("en", "es", "pt", "fr")
DEFAULT_LANGUAGE: Final = "en"


@dataclass(frozen=True)
class MailLocale:
    language: str
    """One of :data:`SUPPORTED_LANGUAGES`: selects the translation."""

    formatting: str
    """A babel locale identifier (``es_MX``) for money and dates."""


DEFAULT_LOCALE: Final = MailLocale(DEFAULT_LANGUAGE, DEFAULT_LANGUAGE)


def resolve_locale(requested: str | None) -> MailLocale:
    """The locale to write in for a customer's ``requested`` locale (``es``, ``pt-BR``...)."""
    if not requested:
        return DEFAULT_LOCALE
    normalized = requested.strip().replace("-", "_")
    language = normalized.split("_", 1)[0].lower()
    if language not in SUPPORTED_LANGUAGES:
        return DEFAULT_LOCALE
    try:
        parsed = Locale.parse(normalized)
    except (UnknownLocaleError, ValueError, TypeError):
        parsed = None
    _, _, region = normalized.partition("_")
    # babel maps a region it does not know to the language's likeliest one (es_ZZ -> es_ES);
    # the customer did not ask for that region, so format for the language alone.
    if parsed is None or (region and (parsed.territory or "").upper() != region.upper()):
        return MailLocale(language, language)
    return MailLocale(language, str(parsed))
