"""Money in mail: integer minor units shown as the customer's locale writes that currency."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision, get_currency_symbol

_NO_BREAK_SPACE = "\xa0"


def minor_to_major(amount: int, currency: str) -> Decimal:
    """``amount`` minor units as major units: 1999 USD -> 19.99, but 500 JPY -> 500.

    The exponent comes from CLDR: 0 for JPY and KRW, 3 for KWD and BHD, 2 for most others.
    """
    digits = get_currency_precision(currency)
    return Decimal(amount).scaleb(-digits)


def format_money(amount: int, currency: str, locale: str) -> str:
    """``amount`` minor units of ``currency`` formatted for ``locale`` (``19,99 €``, ``¥500``)."""
    formatted = format_currency(minor_to_major(amount, currency), currency, locale=locale)
    return _space_currency(formatted, get_currency_symbol(currency, locale=locale))


def _is_symbol(char: str) -> bool:
    return unicodedata.category(char).startswith("S")


def _space_currency(formatted: str, symbol: str) -> str:
    """CLDR's currency spacing, which babel does not apply: a symbol made of letters is kept
    apart from the digits (``USD 29.99``, not ``USD29.99``); ``$29.99`` stays as it is."""
    start = formatted.find(symbol)
    if start < 0 or not symbol:
        return formatted
    end = start + len(symbol)
    if end < len(formatted) and formatted[end].isdigit() and not _is_symbol(symbol[-1]):
        return formatted[:end] + _NO_BREAK_SPACE + formatted[end:]
    if start > 0 and formatted[start - 1].isdigit() and not _is_symbol(symbol[0]):
        return formatted[:start] + _NO_BREAK_SPACE + formatted[start:]
    return formatted
