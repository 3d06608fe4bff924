"""Money and dates the way the reader's locale writes them.

Amounts arrive in integer minor units. How many minor units make a major one is the currency's
ISO 4217 exponent (JPY 0, USD 2, KWD 3), which is what every service uses to store amounts;
CLDR's display digits differ for a few currencies (IQD, for one), so the exponent is applied
here explicitly and babel is asked to show exactly that many decimals.
"""

from __future__ import annotations

import copy
import functools
from datetime import UTC, datetime
from datetime import date as CalendarDate
from decimal import Decimal
from typing import Final

from babel import Locale
from babel.dates import format_date
from babel.numbers import NumberPattern, UnknownCurrencyError, get_currency_name

from portal_gateway.portal.locales import PortalLocale

# ISO 4217 minor-unit exponents that are not 2.
_EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(
        (
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
            "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}  # fmt: skip


def minor_unit_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_major_units(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the billing system only deals in UTC-aware times")
    return moment.astimezone(UTC)


def _utc_day(moment: datetime | CalendarDate) -> CalendarDate:
    # A datetime is a date too: test it first. Only the calendar day is ever a memo key.
    if isinstance(moment, datetime):
        return as_utc(moment).date()
    return CalendarDate(moment.year, moment.month, moment.day)


# Formatted values remembered per Formatter (least recently used first out): a page formats the
# same few amounts and days over and over (every monthly invoice of a plan has the same
# amount), and babel re-reads its locale data and patterns at every call.
MEMO_SIZE: Final = 4096


class Formatter:
    """Formats for one locale. ``formatter_for`` shares one per locale, whose babel
    patterns are built once and whose results are remembered (bounded); every value is a pure
    function of the locale and its arguments, so sharing them between requests is safe."""

    def __init__(self, locale: PortalLocale) -> None:
        self.locale = locale
        self._babel = Locale.parse(locale.babel_id)
        # The currency pattern with the fraction digits of each ISO 4217 exponent.
        self._money_patterns: dict[int, NumberPattern] = {}
        memo = functools.lru_cache(maxsize=MEMO_SIZE)
        self._money = memo(self._format_money)
        self._dates = memo(self._format_date)
        self._currency_names = memo(self._currency_name)

    def money(self, amount: int, currency: str) -> str:
        return self._money((amount, currency.upper()))

    def _money_pattern(self, digits: int) -> NumberPattern:
        pattern = self._money_patterns.get(digits)
        if pattern is None:
            pattern = copy.copy(self._babel.currency_formats["standard"])
            pattern.frac_prec = (digits, digits)
            self._money_patterns[digits] = pattern
        return pattern

    def _format_money(self, key: tuple[int, str]) -> str:
        amount, code = key
        pattern = self._money_pattern(minor_unit_exponent(code))
        return str(
            pattern.apply(
                to_major_units(amount, code), self._babel, currency=code, currency_digits=False
            )
        )

    def currency_name(self, currency: str) -> str:
        return self._currency_names(currency.upper())

    def _currency_name(self, code: str) -> str:
        try:
            return get_currency_name(code, locale=self._babel)
        except UnknownCurrencyError:
            return code

    def date(self, moment: datetime | CalendarDate) -> str:
        """A calendar date in words (14 June 2023), in UTC: the billing system's day."""
        return self._dates((_utc_day(moment), "long"))

    def short_date(self, moment: datetime | CalendarDate) -> str:
        return self._dates((_utc_day(moment), "medium"))

    def _format_date(self, key: tuple[CalendarDate, str]) -> str:
        day, width = key
        return format_date(day, format=width, locale=self._babel)

    @staticmethod
    def iso(moment: datetime) -> str:
        """For ``<time datetime>``: machines and screen readers get the exact instant."""
        return as_utc(moment).isoformat()

    @staticmethod
    def card_expiry(month: int, year: int) -> str:
        return f"{month:02d}/{year}"


@functools.lru_cache(maxsize=64)
def formatter_for(locale: PortalLocale) -> Formatter:
    """The shared formatter of ``locale`` (the supported languages and the regions babel
    knows: a bounded set, and the cache is bounded anyway)."""
    return Formatter(locale)
