"""Raw card input, card errors, and the checks any processor makes before it talks to a bank.

A :class:`CardInput` is the only object in the system that holds a card number and a CVC. It
exists between the HTTP request that carries them and the processor adapter that tokenizes
them, and it is built so that it cannot leak by accident: its ``repr``/``str`` mask the number
and CVC, it has no ``__dict__`` for ``vars()``, and it refuses to be pickled or copied.
Nothing downstream ever needs more than the :class:`~payments.processor.TokenizedCard`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, NoReturn

_SEPARATORS = re.compile(r"[ \-]")
_DIGITS = re.compile(r"^[0-9]+$")

MIN_NUMBER_LENGTH = 12
MAX_NUMBER_LENGTH = 19
# Two-digit years are what is printed on the card; read them in this century.
_CENTURY = 2000
MAX_YEARS_AHEAD = 50


class Brand(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    UNKNOWN = "unknown"


class CardError(Exception):
    """A card or payment method the processor refuses, with a Stripe-style code.

    ``code`` is stable and machine-readable (``invalid_number``, ``expired_card``,
    ``card_declined``...), ``message`` is for a human, ``param`` names the offending input
    field (``number``, ``exp_month``, ``exp_year``, ``cvc``, ``payment_method``) or is None.
    None of them ever contains the card number or the CVC.
    """

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(code, message, param)
        self.code = code
        self.message = message
        self.param = param

    def __str__(self) -> str:
        where = f" ({self.param})" if self.param else ""
        return f"{self.code}{where}: {self.message}"


class CardInput:
    """A card as the customer typed it. Never log it, store it or put it in a message.

    The number may contain spaces or hyphens; they are dropped. Values are kept as given
    otherwise: validation is the processor's job (:func:`validate_card`), so that it can answer
    with a precise :class:`CardError` instead of a constructor failing half-way.
    """

    __slots__ = ("_cvc", "_exp_month", "_exp_year", "_number")

    _number: str
    _cvc: str
    _exp_month: int
    _exp_year: int

    def __init__(self, number: str, exp_month: int, exp_year: int, cvc: str) -> None:
        # object.__setattr__ because __setattr__ is blocked to keep the value immutable.
        object.__setattr__(self, "_number", _SEPARATORS.sub("", str(number)))
        object.__setattr__(self, "_exp_month", exp_month)
        object.__setattr__(self, "_exp_year", exp_year)
        object.__setattr__(self, "_cvc", str(cvc).strip())

    @property
    def number(self) -> str:
        return self._number

    @property
    def cvc(self) -> str:
        return self._cvc

    @property
    def exp_month(self) -> int:
        return self._exp_month

    @property
    def exp_year(self) -> int:
        return self._exp_year

    @property
    def last4(self) -> str:
        return self._number[-4:] if len(self._number) >= MIN_NUMBER_LENGTH else ""

    def __repr__(self) -> str:
        masked = f"**** {self.last4}" if self.last4 else "****"
        return (
            f"CardInput(number='{masked}', exp_month={self._exp_month!r}, "
            f"exp_year={self._exp_year!r}, cvc='***')"
        )

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("CardInput is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("CardInput is immutable")

    # Pickling, copy and deepcopy all go through __reduce_ex__: refusing it keeps the card out
    # of caches, task queues and process pools.
    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("CardInput cannot be serialized or copied: card data stays in memory")

    def __reduce__(self) -> NoReturn:
        raise TypeError("CardInput cannot be serialized or copied: card data stays in memory")

    def __getstate__(self) -> NoReturn:
        raise TypeError("CardInput cannot be serialized or copied: card data stays in memory")

    def __eq__(self, other: object) -> bool:
        # Identity only: equality would invite using cards as dict keys or in sets.
        return self is other

    __hash__ = object.__hash__


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum every card number carries in its last digit."""
    if not digits or not _DIGITS.match(digits):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _prefix(digits: str, length: int) -> int:
    """The first ``length`` digits as a number, or -1 when there are not that many."""
    head = digits[:length]
    return int(head) if len(head) == length and head.isdigit() else -1


def brand_of(digits: str) -> Brand:
    """The card network, from the number's issuer prefix (IIN ranges)."""
    two, three, four, six = (_prefix(digits, n) for n in (2, 3, 4, 6))
    if digits.startswith("4"):
        return Brand.VISA
    if two in (34, 37):
        return Brand.AMEX
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return Brand.MASTERCARD
    if four == 6011 or two == 65 or 644 <= three <= 649 or 622126 <= six <= 622925:
        return Brand.DISCOVER
    return Brand.UNKNOWN


@dataclass(frozen=True)
class ValidCard:
    """What a checked card may be described by: no number, no CVC."""

    brand: Brand
    last4: str
    exp_month: int
    exp_year: int


def normalize_year(year: int) -> int:
    return year + _CENTURY if 0 <= year < 100 else year


def is_expired(exp_month: int, exp_year: int, today: date) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)


def validate_card(card: CardInput, today: date) -> ValidCard:
    """The checks a processor makes before contacting the network; raises :class:`CardError`.

    In order: the number (digits, length, Luhn), the expiry month and year, the expiry against
    ``today``, then the CVC (four digits for American Express, three otherwise).
    """
    number = card.number
    if (
        not _DIGITS.match(number)
        or not MIN_NUMBER_LENGTH <= len(number) <= MAX_NUMBER_LENGTH
        or not luhn_valid(number)
    ):
        raise CardError("invalid_number", "The card number is not a valid card number.", "number")
    month = card.exp_month
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        raise CardError(
            "invalid_expiry_month", "The card's expiration month must be 1 to 12.", "exp_month"
        )
    year = card.exp_year
    if isinstance(year, bool) or not isinstance(year, int):
        raise CardError("invalid_expiry_year", "The card's expiration year is invalid.", "exp_year")
    year = normalize_year(year)
    if not today.year - MAX_YEARS_AHEAD <= year <= today.year + MAX_YEARS_AHEAD:
        raise CardError("invalid_expiry_year", "The card's expiration year is invalid.", "exp_year")
    if is_expired(month, year, today):
        raise CardError("expired_card", "The card has expired.", "exp_year")
    brand = brand_of(number)
    cvc_length = 4 if brand is Brand.AMEX else 3
    if not _DIGITS.match(card.cvc) or len(card.cvc) != cvc_length:
        raise CardError(
            "invalid_cvc",
            f"The card's security code must be {cvc_length} digits.",
            "cvc",
        )
    return ValidCard(brand=brand, last4=number[-4:], exp_month=month, exp_year=year)
