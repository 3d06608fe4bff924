"""Merchant secret API keys: ``sk_test_`` followed by 256 random bits, stored only as a hash.

The key is shown once, when it is issued. The gateway keeps its SHA-256 digest: a key with
256 bits of entropy cannot be brute-forced from the digest, so a slow password hash buys
nothing, and a digest lets a request be authenticated with one indexed lookup. A short
display prefix (``sk_test_AbCd``) is kept so an operator can tell keys apart.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

KEY_PREFIX = "sk_test_"
_KEY_BYTES = 32
_DISPLAY_CHARS = 4
# token_urlsafe(32) gives 43 characters of [A-Za-z0-9_-].
_KEY_PATTERN = re.compile(r"^sk_test_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: ``secret`` goes to the merchant once and is never stored."""

    secret: str
    digest: bytes
    display_prefix: str

    def __repr__(self) -> str:
        # The secret must not end up in a log line through a repr.
        return f"IssuedKey(display_prefix={self.display_prefix!r})"


def key_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def issue_key(token_urlsafe: Callable[[int], str] = secrets.token_urlsafe) -> IssuedKey:
    secret = KEY_PREFIX + token_urlsafe(_KEY_BYTES)
    return IssuedKey(
        secret=secret,
        digest=key_digest(secret),
        display_prefix=secret[: len(KEY_PREFIX) + _DISPLAY_CHARS],
    )


def looks_like_key(candidate: str) -> bool:
    """Whether ``candidate`` has the shape of a key; saves a lookup for obvious garbage."""
    return bool(_KEY_PATTERN.match(candidate))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
