"""Self-contained, signed payment-method tokens for the simulated processor.

A real processor keeps the card in its vault and hands out an opaque id. The simulator has no
vault shared between processes: the gateway tokenizes and invoicing charges, and they share no
database. So the token carries what the simulator needs to know later (brand, last4, expiry
and how the test card behaves), sealed with HMAC-SHA256 under the processor secret that both
services are configured with, the way both would hold the same processor account key.

Layout, URL-safe base64 without padding after the ``pm_`` prefix::

    version(1) brand(1) last4(4 ASCII) exp_month(1) exp_year(2) behaviour(1) nonce(12) | mac(32)

The nonce makes two tokens for the same card differ, as two attachments would at Stripe.
There is no card number or CVC in it: a token that leaks lets nobody pay with the card.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import StrEnum

from payments.cards import Brand, CardError

PREFIX = "pm_"
_VERSION = 1
_LAYOUT = struct.Struct(">BB4sBHB12s")
_MAC_SIZE = hashlib.sha256().digest_size
NONCE_SIZE = 12
MIN_SECRET_BYTES = 16
# Domain separation: the same secret also derives charge ids.
_TOKEN_CONTEXT = b"billing-payments/simulated/token/v1\x00"


class Behaviour(StrEnum):
    """How a simulated card answers charges (the attach outcome is decided at tokenize)."""

    SUCCEEDS = "succeeds"
    DECLINED = "declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    FAILS_AFTER_ATTACH = "fails_after_attach"
    PROCESSING_ERROR = "processing_error"


# Wire codes: append only, never reorder, or tokens already handed out change meaning.
_BRANDS: tuple[Brand, ...] = (
    Brand.UNKNOWN,
    Brand.VISA,
    Brand.MASTERCARD,
    Brand.AMEX,
    Brand.DISCOVER,
)
_BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour.SUCCEEDS,
    Behaviour.DECLINED,
    Behaviour.INSUFFICIENT_FUNDS,
    Behaviour.FAILS_AFTER_ATTACH,
    Behaviour.PROCESSING_ERROR,
)


@dataclass(frozen=True)
class SealedCard:
    """The contents of a token."""

    brand: Brand
    last4: str
    exp_month: int
    exp_year: int
    behaviour: Behaviour
    nonce: bytes


def invalid_payment_method() -> CardError:
    return CardError(
        "invalid_payment_method",
        "The payment method is not valid for this processor account.",
        "payment_method",
    )


def check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the processor secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _TOKEN_CONTEXT + payload, hashlib.sha256).digest()


def seal(secret: bytes, card: SealedCard) -> str:
    if len(card.nonce) != NONCE_SIZE:
        raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
    payload = _LAYOUT.pack(
        _VERSION,
        _BRANDS.index(card.brand),
        card.last4.encode("ascii"),
        card.exp_month,
        card.exp_year,
        _BEHAVIOURS.index(card.behaviour),
        card.nonce,
    )
    raw = payload + _mac(secret, payload)
    return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unseal(secret: bytes, token: str) -> SealedCard:
    """The card behind ``token``; ``invalid_payment_method`` for anything not sealed by us."""
    if not isinstance(token, str) or not token.startswith(PREFIX):
        raise invalid_payment_method()
    body = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise invalid_payment_method() from None
    if len(raw) != _LAYOUT.size + _MAC_SIZE:
        raise invalid_payment_method()
    payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    # Constant-time: the comparison must not tell an attacker how much of a forgery matched.
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise invalid_payment_method()
    version, brand, last4, month, year, behaviour, nonce = _LAYOUT.unpack(payload)
    # A signed token with unknown codes was sealed by a newer simulator: refuse, don't guess.
    if version != _VERSION or brand >= len(_BRANDS) or behaviour >= len(_BEHAVIOURS):
        raise invalid_payment_method()
    return SealedCard(
        brand=_BRANDS[brand],
        last4=last4.decode("ascii"),
        exp_month=month,
        exp_year=year,
        behaviour=_BEHAVIOURS[behaviour],
        nonce=nonce,
    )
