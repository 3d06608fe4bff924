"""Secrets handed to browsers, and the only form in which the server keeps them.

Portal link tokens and session cookies are 256-bit random strings. The database stores their
SHA-256 digest only: a leaked table or backup does not let anyone open a portal. A fast hash is
right here (unlike for passwords) because the input already has full entropy.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits, comfortably above the 128 required


def new_token() -> str:
    """A URL-safe random token (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_secret() -> bytes:
    """Raw random bytes for per-session keys (the CSRF secret)."""
    return secrets.token_bytes(TOKEN_BYTES)


_TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def looks_like_token(value: str) -> bool:
    """Cheap shape check before any database work: garbage in a URL is simply 'unknown'."""
    return 20 <= len(value) <= 128 and all(char in _TOKEN_ALPHABET for char in value)
