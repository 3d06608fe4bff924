"""Why the invoice aggregate refuses a command: a stable code plus a sentence for people."""

from __future__ import annotations

from typing import Final

INVOICE_NOT_ISSUED: Final = "invoice_not_issued"
INVOICE_ALREADY_PAID: Final = "invoice_already_paid"
INVOICE_NOT_OPEN: Final = "invoice_not_open"
AMOUNT_MISMATCH: Final = "amount_mismatch"
PAYMENT_REQUIRED: Final = "payment_required"
INVALID_INVOICE: Final = "invalid_invoice"


class Rejected(Exception):
    """A command that cannot be carried out against the current state; nothing is written."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
