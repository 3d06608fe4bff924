"""A payment processor simulator that behaves like Stripe's test cards.

Test cards (any future expiry, any CVC of the right length):

=================== ===================================================================
4242424242424242    visa: attaches, charges succeed
5555555555554444    mastercard: attaches, charges succeed
4000000000000002    attaches; every charge is declined, ``card_declined``
4000000000009995    attaches; every charge is declined, ``insufficient_funds``
4000000000000341    attaches; every charge fails, ``card_declined``
4000000000000119    attaches; every charge fails, ``processing_error``
4000000000000069    refused at attach, ``expired_card``
4000000000000127    refused at attach, ``incorrect_cvc``
=================== ===================================================================

Any other number passing the Luhn check attaches and charges successfully.

Tokens are self-contained and signed (:mod:`payments.tokens`), so a gateway and an invoicing
process configured with the same secret work together without sharing state. Charge ids are
derived from the idempotency key under the same secret: a process that crashed after charging
and retries with the same key gets the same charge id, as Stripe's server-side idempotency
would give it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC

from payments.cards import CardError, CardInput, validate_card
from payments.processor import ChargeResult, Clock, IdempotencyKeyReused, TokenizedCard
from payments.tokens import NONCE_SIZE, Behaviour, SealedCard, check_secret, seal, unseal

_CHARGE_CONTEXT = b"billing-payments/simulated/charge/v1\x00"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class _AttachRefusal:
    code: str
    message: str
    param: str | None


# Numbers whose behaviour differs from "attaches and succeeds".
CHARGE_BEHAVIOURS: dict[str, Behaviour] = {
    "4000000000000002": Behaviour.DECLINED,
    "4000000000009995": Behaviour.INSUFFICIENT_FUNDS,
    "4000000000000341": Behaviour.FAILS_AFTER_ATTACH,
    "4000000000000119": Behaviour.PROCESSING_ERROR,
}
ATTACH_REFUSALS: dict[str, _AttachRefusal] = {
    "4000000000000069": _AttachRefusal("expired_card", "The card has expired.", "exp_year"),
    "4000000000000127": _AttachRefusal(
        "incorrect_cvc", "The card's security code is incorrect.", "cvc"
    ),
}
_DECLINES: dict[Behaviour, tuple[str, str]] = {
    Behaviour.DECLINED: ("card_declined", "Your card was declined."),
    Behaviour.INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
    Behaviour.FAILS_AFTER_ATTACH: ("card_declined", "Your card was declined."),
    Behaviour.PROCESSING_ERROR: (
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}

_Fingerprint = tuple[str, int, str, str]


class SimulatedProcessor:
    """:class:`~payments.processor.PaymentProcessor` without a network, for dev and tests.

    ``secret`` is the processor account key shared by every process that tokenizes or charges
    (at least 16 bytes). ``clock`` decides whether a card has expired, at attach and at
    charge. Idempotency keys are remembered in this process, up to ``max_remembered_charges``
    (the oldest are forgotten first, as Stripe forgets keys after 24 hours).
    """

    def __init__(
        self, secret: bytes, clock: Clock, *, max_remembered_charges: int = 100_000
    ) -> None:
        self._secret = check_secret(secret)
        self._clock = clock
        self._max_remembered = max_remembered_charges
        self._charges: OrderedDict[str, tuple[_Fingerprint, ChargeResult]] = OrderedDict()

    def __repr__(self) -> str:
        return "SimulatedProcessor(secret=***)"

    async def tokenize(self, card: CardInput) -> TokenizedCard:
        today = self._clock().astimezone(UTC).date()
        valid = validate_card(card, today)
        refusal = ATTACH_REFUSALS.get(card.number)
        if refusal is not None:
            raise CardError(refusal.code, refusal.message, refusal.param)
        sealed = SealedCard(
            brand=valid.brand,
            last4=valid.last4,
            exp_month=valid.exp_month,
            exp_year=valid.exp_year,
            behaviour=CHARGE_BEHAVIOURS.get(card.number, Behaviour.SUCCEEDS),
            nonce=secrets.token_bytes(NONCE_SIZE),
        )
        return TokenizedCard(
            payment_method_id=seal(self._secret, sealed),
            brand=valid.brand.value,
            last4=valid.last4,
            exp_month=valid.exp_month,
            exp_year=valid.exp_year,
        )

    async def charge(
        self,
        token: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        description: str = "",
    ) -> ChargeResult:
        _check_charge_arguments(amount, currency, idempotency_key)
        card = unseal(self._secret, token)
        fingerprint: _Fingerprint = (token, amount, currency, description)
        remembered = self._charges.get(idempotency_key)
        if remembered is not None:
            first_fingerprint, result = remembered
            if first_fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    f"idempotency key {idempotency_key!r} was used for a different charge"
                )
            self._charges.move_to_end(idempotency_key)
            return result
        # No await between the lookup above and the store below: concurrent calls with one
        # key on this event loop cannot both charge.
        result = self._decide(card, self._charge_id(idempotency_key))
        self._charges[idempotency_key] = (fingerprint, result)
        while len(self._charges) > self._max_remembered:
            self._charges.popitem(last=False)
        return result

    def _decide(self, card: SealedCard, charge_id: str) -> ChargeResult:
        now = self._clock().astimezone(UTC)
        if (card.exp_year, card.exp_month) < (now.year, now.month):
            return ChargeResult.declined(charge_id, "expired_card", "Your card has expired.")
        decline = _DECLINES.get(card.behaviour)
        if decline is not None:
            return ChargeResult.declined(charge_id, *decline)
        return ChargeResult.success(charge_id)

    def _charge_id(self, idempotency_key: str) -> str:
        digest = hmac.new(
            self._secret, _CHARGE_CONTEXT + idempotency_key.encode("utf-8"), hashlib.sha256
        )
        return "ch_" + digest.hexdigest()[:24]


def _check_charge_arguments(amount: int, currency: str, idempotency_key: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive integer of minor units, got {amount!r}")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise ValueError(f"currency must be an upper-case ISO 4217 code, got {currency!r}")
    if (
        not isinstance(idempotency_key, str)
        or not idempotency_key
        or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH
    ):
        raise ValueError(f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
