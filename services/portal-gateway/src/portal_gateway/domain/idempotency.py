"""Idempotency keys on the merchant API's POSTs: the rules, without the storage.

A merchant may send ``Idempotency-Key`` with any POST. The first request with a key runs and
its response is remembered; the same key with the same request gets that response again, the
same key with a different request is refused, and a request arriving while the first one
still runs is told to retry. Keys are per merchant and expire after a day, as Stripe's do.

The request is compared by a fingerprint: SHA-256 over the method, the path and the body
(JSON canonicalised, so key order and whitespace do not matter). Card numbers and CVCs must
never be stored, not even hashed, so a card object in the body contributes only its last four
digits and expiry to the fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
KEY_LIFETIME = timedelta(hours=24)
# A request still "in progress" this long after it started belongs to a process that died:
# its key may be taken over. Longer than any request may run (the bounded waits are seconds).
ABANDONED_AFTER = timedelta(minutes=2)

_CARD_FIELDS_KEPT = ("exp_month", "exp_year")


class KeyState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class StoredRequest:
    fingerprint: bytes
    state: KeyState
    created_at: datetime
    locked_at: datetime
    response: StoredResponse | None = None


class Verdict(StrEnum):
    EXECUTE = "execute"  # run the request and remember its response
    REPLAY = "replay"  # answer with the remembered response
    MISMATCH = "mismatch"  # the key was used for a different request
    IN_PROGRESS = "in_progress"  # the first request with this key is still running


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be used as an idempotency key, or None if it can."""
    if not key or not key.strip():
        return "The Idempotency-Key header is empty."
    if len(key) > MAX_KEY_LENGTH:
        return f"The Idempotency-Key header is longer than {MAX_KEY_LENGTH} characters."
    if not key.isprintable() or not key.isascii():
        return "The Idempotency-Key header must be printable ASCII."
    return None


def judge(
    existing: StoredRequest | None,
    fingerprint: bytes,
    now: datetime,
    *,
    lifetime: timedelta = KEY_LIFETIME,
    abandoned_after: timedelta = ABANDONED_AFTER,
) -> Verdict:
    """What to do with a request carrying a key that has ``existing`` on record."""
    if existing is None or now - existing.created_at >= lifetime:
        return Verdict.EXECUTE
    if existing.fingerprint != fingerprint:
        return Verdict.MISMATCH
    if existing.state is KeyState.COMPLETED and existing.response is not None:
        return Verdict.REPLAY
    if now - existing.locked_at >= abandoned_after:
        return Verdict.EXECUTE
    return Verdict.IN_PROGRESS


def should_remember(status: int) -> bool:
    """Whether a response is the final answer for its key.

    A 5xx means the request failed on our side before reaching a result; the key is released
    so that a retry runs again. Everything else, including a rejection and the 202 "still
    processing" answer after a bounded wait (the command is durably queued by then), is the
    answer every retry must get.
    """
    return status < 500


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\x00")
    digest.update(path.encode())
    digest.update(b"\x00")
    digest.update(canonical_body(body))
    return digest.digest()


def canonical_body(body: bytes) -> bytes:
    """The body as compared between two requests: sorted JSON without card secrets."""
    if not body.strip():
        return b""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        # Not JSON: the handler will refuse it anyway; compare the bytes.
        return body
    return orjson.dumps(_without_card_secrets(parsed), option=orjson.OPT_SORT_KEYS)


def _without_card_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _card_summary(item) if key == "card" else _without_card_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_card_secrets(item) for item in value]
    return value


def _card_summary(card: Any) -> Any:
    if not isinstance(card, dict):
        return None
    number = card.get("number")
    last4 = str(number)[-4:] if number is not None else None
    return {"last4": last4, **{k: card.get(k) for k in _CARD_FIELDS_KEPT}}
