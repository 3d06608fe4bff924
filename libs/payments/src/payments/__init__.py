"""Payment processing behind a port: tokenize cards at the edge, charge tokens elsewhere.

``PaymentProcessor`` is the port; ``SimulatedProcessor`` is an adapter behaving like Stripe's
test cards. Card numbers and CVCs live only in :class:`CardInput`, which masks itself and
cannot be serialized; everything else works with tokens and card summaries.
"""

from payments.cards import Brand, CardError, CardInput, luhn_valid, validate_card
from payments.config import (
    DEV_SIMULATOR_SECRET,
    SECRET_ENV_VAR,
    InsecureProcessorSecret,
    simulated_processor,
)
from payments.processor import (
    ChargeResult,
    Clock,
    IdempotencyKeyReused,
    PaymentProcessor,
    TokenizedCard,
)
from payments.simulated import SimulatedProcessor

__all__ = [
    "DEV_SIMULATOR_SECRET",
    "SECRET_ENV_VAR",
    "Brand",
    "CardError",
    "CardInput",
    "ChargeResult",
    "Clock",
    "IdempotencyKeyReused",
    "InsecureProcessorSecret",
    "PaymentProcessor",
    "SimulatedProcessor",
    "TokenizedCard",
    "luhn_valid",
    "simulated_processor",
    "validate_card",
]
