"""Why a command is refused: a stable machine-readable code plus a sentence for humans.

The codes travel in ``CommandRejected`` to the gateway, which maps them to HTTP answers and
portal messages, so they are part of the contract between the services: add, never rename.
"""

from __future__ import annotations

from typing import Final

PLAN_ALREADY_EXISTS: Final = "plan_already_exists"
PLAN_NOT_FOUND: Final = "plan_not_found"
CUSTOMER_ALREADY_EXISTS: Final = "customer_already_exists"
CUSTOMER_NOT_FOUND: Final = "customer_not_found"
PAYMENT_METHOD_ALREADY_ATTACHED: Final = "payment_method_already_attached"
PAYMENT_METHOD_NOT_FOUND: Final = "payment_method_not_found"
PAYMENT_METHOD_EXPIRED: Final = "payment_method_expired"
CURRENCY_MISMATCH: Final = "currency_mismatch"
SUBSCRIPTION_ALREADY_EXISTS: Final = "subscription_already_exists"
SUBSCRIPTION_NOT_FOUND: Final = "subscription_not_found"
ALREADY_CANCELED: Final = "already_canceled"
CANCELLATION_ALREADY_SCHEDULED: Final = "cancellation_already_scheduled"
NOT_AWAITING_ACTIVATION: Final = "not_awaiting_activation"
NO_SCHEDULED_CANCELLATION: Final = "no_scheduled_cancellation"
SUBSCRIPTION_ENDED: Final = "subscription_ended"
PAYMENT_METHOD_UNCHANGED: Final = "payment_method_unchanged"
CLOCK_BACKWARDS: Final = "clock_backwards"
CLOCK_ADVANCE_TOO_FAR: Final = "clock_advance_too_far"
TEST_CLOCKS_DISABLED: Final = "test_clocks_disabled"
INVALID_COMMAND: Final = "invalid_command"


class Rejected(Exception):
    """A command that cannot be carried out against the current state; nothing is written."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
