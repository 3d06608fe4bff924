"""The payment processor port: what the billing services need from Stripe, Adyen or a simulator.

Two operations. ``tokenize`` turns a raw card into an opaque token once, at the edge (the
gateway), so that no other part of the system ever sees card data. ``charge`` moves money from
a token; it takes an idempotency key because a charge is an external side effect that a crashed
and restarted caller will repeat: the same key must give the same charge, never a second one.

Both are coroutines because a real processor is a network call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from payments.cards import CardInput

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware. Injected so test clocks can move time."""


@dataclass(frozen=True)
class TokenizedCard:
    """A card the processor holds: its token and what may be shown about it, nothing more.

    The field names match ``billing_events.contract.CardSummary`` so a caller can build one
    from the other field by field.
    """

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class ChargeResult:
    """The processor's answer to a charge. A declined charge still has a ``charge_id``."""

    succeeded: bool
    charge_id: str
    decline_code: str | None = None
    message: str = ""

    @classmethod
    def success(cls, charge_id: str, message: str = "Payment complete.") -> ChargeResult:
        return cls(succeeded=True, charge_id=charge_id, decline_code=None, message=message)

    @classmethod
    def declined(cls, charge_id: str, decline_code: str, message: str) -> ChargeResult:
        return cls(succeeded=False, charge_id=charge_id, decline_code=decline_code, message=message)


class IdempotencyKeyReused(ValueError):
    """The same idempotency key came back with different charge parameters."""


class PaymentProcessor(Protocol):
    """A payment processor as the billing services use it."""

    async def tokenize(self, card: CardInput) -> TokenizedCard:
        """Check and store ``card``; return its token and summary.

        Raises :class:`~payments.cards.CardError` for an invalid number, expiry or CVC, or a
        card the issuer refuses to attach.
        """
        ...

    async def charge(
        self,
        token: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        description: str = "",
    ) -> ChargeResult:
        """Charge ``amount`` minor units of ``currency`` to the card behind ``token``.

        A decline is a normal result (``succeeded`` False with a decline code), not an
        exception. Raises :class:`~payments.cards.CardError` (``invalid_payment_method``) for a
        token this processor account did not issue, :class:`IdempotencyKeyReused` when the key
        was used with other parameters, and ``ValueError`` for a non-positive amount or a
        malformed currency. Calling again with the same key and parameters returns the first
        result and moves no more money.
        """
        ...
