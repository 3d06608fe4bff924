"""CSRF tokens for the portal's forms.

Each browser session has its own random secret (kept server-side with the session). A form
token is ``nonce.mac`` where ``mac = HMAC-SHA256(secret, purpose || nonce)``: a fresh nonce per
rendered form means the token in a page never repeats (no BREACH-style guessing through
compressed responses), and any token made for one session is worthless in another. SameSite=Lax
cookies already stop most cross-site POSTs; the token is the defence that does not depend on
the browser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

FIELD_NAME = "csrf_token"
_PURPOSE = b"billing-portal-form:v1:"
_NONCE_BYTES = 16
_MAX_TOKEN_LENGTH = 200


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, nonce: bytes) -> bytes:
    return hmac.new(secret, _PURPOSE + nonce, hashlib.sha256).digest()


def issue_token(secret: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return f"{_b64(nonce)}.{_b64(_mac(secret, nonce))}"


def verify_token(secret: bytes, token: str | None) -> bool:
    if not token or len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 1:
        return False
    nonce_text, mac_text = token.split(".")
    try:
        nonce = _unb64(nonce_text)
    except (binascii.Error, ValueError):
        return False
    if len(nonce) != _NONCE_BYTES or _b64(nonce) != nonce_text:
        return False
    # Compared as canonical text: base64 has several spellings of the same bytes.
    return hmac.compare_digest(
        mac_text.encode("ascii", "replace"), _b64(_mac(secret, nonce)).encode()
    )
