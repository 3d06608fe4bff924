"""Money and dates the way the reader's locale writes them.

Amounts arrive in integer minor units. How many minor units make a major one is the currency's
ISO 4217 exponent (JPY 0, USD 2, KWD 3), which is what every service uses to store amounts;
CLDR's display digits differ for a few currencies (IQD, for one), so the exponent is applied
here explicitly and babel is asked to show exactly that many decimals.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from datetime import date as CalendarDate
from decimal import Decimal
from typing import Final

from babel import Locale
from babel.dates import format_date
from babel.numbers import UnknownCurrencyError, get_currency_name

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


class Formatter:
    """Formats for one locale; cheap to make per request."""

    def __init__(self, locale: PortalLocale) -> None:
        self.locale = locale
        self._babel = Locale.parse(locale.babel_id)

    def money(self, amount: int, currency: str) -> str:
        code = currency.upper()
        digits = minor_unit_exponent(code)
        pattern = copy.copy(self._babel.currency_formats["standard"])
        pattern.frac_prec = (digits, digits)
        return str(
            pattern.apply(
                to_major_units(amount, code), self._babel, currency=code, currency_digits=False
            )
        )

    def currency_name(self, currency: str) -> str:
        try:
            return get_currency_name(currency.upper(), locale=self._babel)
        except UnknownCurrencyError:
            return currency.upper()

    def date(self, moment: datetime | CalendarDate) -> str:
        """A calendar date in words (14 June 2023), in UTC: the billing system's day."""
        day = as_utc(moment).date() if isinstance(moment, datetime) else moment
        return format_date(day, format="long", locale=self._babel)

    def short_date(self, moment: datetime | CalendarDate) -> str:
        day = as_utc(moment).date() if isinstance(moment, datetime) else moment
        return format_date(day, format="medium", locale=self._babel)

    @staticmethod
    def iso(moment: datetime) -> str:
        """For ``<time datetime>``: machines and screen readers get the exact instant."""
        return as_utc(moment).isoformat()

    @staticmethod
    def card_expiry(month: int, year: int) -> str:
        return f"{month:02d}/{year}"
