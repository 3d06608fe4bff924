"""Invoice ids and numbers.

An invoice id is derived from what the invoice is for (merchant, subscription, reason and, for
recurring invoices, the period), never drawn at random: an event delivered twice then names
the same invoice stream, and the second delivery finds the invoice already issued instead of
issuing another.

An invoice number is what a customer reads on the PDF: ``<PREFIX>-<sequence>``, the prefix
eight characters derived from the merchant id (the same for all of a merchant's invoices, like
Stripe's per-account prefix), the sequence counted per merchant from 1 without gaps, six
digits at least.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

INVOICE_ID_PREFIX = "in_"
NUMBER_PREFIX_LENGTH = 8
SEQUENCE_DIGITS = 6


def _digest32(text: str, length: int) -> str:
    """``length`` characters of base32 (A-Z, 2-7) over SHA-256 of ``text``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:length]


def invoice_id_for(
    merchant_id: str,
    subscription_id: str,
    reason: str,
    period_start: datetime | None = None,
) -> str:
    """The one invoice id for this subscription, reason (and period)."""
    parts = [merchant_id, subscription_id, reason]
    if period_start is not None:
        if period_start.tzinfo is None:
            raise ValueError("a period start must be timezone-aware")
        # One instant, one id: the same start written with another UTC offset (a producer
        # that serialises in local time) must not name a second invoice.
        parts.append(period_start.astimezone(UTC).isoformat())
    # A separator that cannot occur in the ids keeps ("a|b", "c") and ("a", "b|c") apart.
    return INVOICE_ID_PREFIX + _digest32("\x1f".join(parts), 26).lower()


def number_prefix(merchant_id: str) -> str:
    """Eight upper-case characters, stable for a merchant, from its id."""
    if not merchant_id:
        raise ValueError("merchant_id is empty")
    return _digest32("invoice-number-prefix\x1f" + merchant_id, NUMBER_PREFIX_LENGTH)


def invoice_number(merchant_id: str, sequence: int) -> str:
    """``<PREFIX>-000042``: the merchant's prefix and its ``sequence``-th invoice."""
    if sequence < 1:
        raise ValueError(f"invoice sequence starts at 1, got {sequence}")
    return f"{number_prefix(merchant_id)}-{sequence:0{SEQUENCE_DIGITS}d}"
