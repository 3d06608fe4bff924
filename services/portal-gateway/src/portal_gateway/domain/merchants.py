"""Merchant settings the gateway owns."""

from __future__ import annotations

import re
from enum import StrEnum


class CancelMode(StrEnum):
    """When a cancellation from the portal takes effect (a merchant setting)."""

    IMMEDIATELY = "immediately"
    AT_PERIOD_END = "at_period_end"


DEFAULT_CANCEL_MODE = CancelMode.AT_PERIOD_END

BRAND_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
