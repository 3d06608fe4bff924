"""Identifiers the gateway hands out, and merchant slugs.

The gateway makes the ids of plans, customers and subscriptions itself (``plan_…``, ``cus_…``,
``sub_…``) so that a command's target stream is known before the command is sent, and the
request can wait for that stream's outcome. Ids carry 128 bits of randomness: unguessable, so
an id alone never grants access (every read is still scoped to the merchant).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable

from billing_events.topics import stream_id

TokenSource = Callable[[int], str]

MERCHANT_PREFIX = "mer_"
PLAN_PREFIX = "plan_"
CUSTOMER_PREFIX = "cus_"
SUBSCRIPTION_PREFIX = "sub_"

_ID_BYTES = 16  # 128 bits

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SLUG_MAX_LENGTH = 63
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def new_id(prefix: str, token_hex: TokenSource = secrets.token_hex) -> str:
    return f"{prefix}{token_hex(_ID_BYTES)}"


def new_merchant_id(token_hex: TokenSource = secrets.token_hex) -> str:
    return new_id(MERCHANT_PREFIX, token_hex)


def new_plan_id(token_hex: TokenSource = secrets.token_hex) -> str:
    return new_id(PLAN_PREFIX, token_hex)


def new_customer_id(token_hex: TokenSource = secrets.token_hex) -> str:
    return new_id(CUSTOMER_PREFIX, token_hex)


def new_subscription_id(token_hex: TokenSource = secrets.token_hex) -> str:
    return new_id(SUBSCRIPTION_PREFIX, token_hex)


def merchant_stream(merchant_id: str) -> str:
    return stream_id("merchant", merchant_id)


def plan_stream(plan_id: str) -> str:
    return stream_id("plan", plan_id)


def customer_stream(customer_id: str) -> str:
    return stream_id("customer", customer_id)


def subscription_stream(subscription_id: str) -> str:
    return stream_id("subscription", subscription_id)


def is_valid_slug(slug: str) -> bool:
    """Lower-case letters, digits and inner hyphens, 1 to 63 characters (a DNS label)."""
    return bool(SLUG_PATTERN.match(slug))


def slug_from_name(name: str) -> str:
    """A readable slug from a display name: "Acme Café, Inc." -> "acme-cafe-inc".

    Returns "" when nothing usable is left (a name in a non-Latin script); the caller then
    picks a generated slug.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")
    return slug[:SLUG_MAX_LENGTH].rstrip("-")


def fallback_slug(token_hex: TokenSource = secrets.token_hex) -> str:
    return f"merchant-{token_hex(4)}"
