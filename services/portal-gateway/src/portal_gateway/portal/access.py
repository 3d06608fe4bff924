"""The portal's access rules, as pure functions of recorded times and "now".

- A portal link unused for ``LINK_TTL`` after it was made is expired.
- A link works once: opening it exchanges it for a browser session.
- A browser session lives until ``IDLE_TTL`` after its last recorded activity (sliding
  expiry). Activity is recorded at most once per ``TOUCH_INTERVAL``, so that a page view is
  a read and not a durable write: a session idle for ``IDLE_TTL`` has always ended, and one
  may end up to ``TOUCH_INTERVAL`` sooner (never later).

The database layer applies these rules; they live here so that they can be read and tested
without one.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from urllib.parse import urlsplit

LINK_TTL = timedelta(minutes=5)
IDLE_TTL = timedelta(hours=1)
TOUCH_INTERVAL = timedelta(minutes=1)
RETURN_URL_MAX_LENGTH = 2000


class LinkState(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    USED = "used"


def link_expiry(created_at: datetime, ttl: timedelta = LINK_TTL) -> datetime:
    return created_at + ttl


def link_state(*, expires_at: datetime, used_at: datetime | None, now: datetime) -> LinkState:
    """Used wins over expired: "already used" is the more helpful thing to tell someone."""
    if used_at is not None:
        return LinkState.USED
    if now >= expires_at:
        return LinkState.EXPIRED
    return LinkState.VALID


def idle_deadline(last_activity: datetime, ttl: timedelta = IDLE_TTL) -> datetime:
    return last_activity + ttl


def session_is_live(*, expires_at: datetime, now: datetime) -> bool:
    return now < expires_at


def needs_touch(
    *, last_seen_at: datetime, now: datetime, interval: timedelta = TOUCH_INTERVAL
) -> bool:
    """Whether a request at ``now`` must record the activity (push the idle deadline back):
    only once the last recorded activity is ``interval`` old."""
    return now - last_seen_at >= interval


class InvalidReturnUrl(ValueError):
    code = "invalid_return_url"


def validate_return_url(value: str | None) -> str | None:
    """Only absolute http(s) URLs: anything else (javascript:, data:, relative paths) could
    turn the "return to merchant" link into an attack."""
    if value is None or value == "":
        return None
    if len(value) > RETURN_URL_MAX_LENGTH:
        raise InvalidReturnUrl(f"return_url must be at most {RETURN_URL_MAX_LENGTH} characters")
    if any(char.isspace() or ord(char) < 0x20 for char in value):
        raise InvalidReturnUrl("return_url must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise InvalidReturnUrl(f"return_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidReturnUrl("return_url must be an http:// or https:// URL")
    if not parts.hostname:
        raise InvalidReturnUrl("return_url must name a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidReturnUrl("return_url must not contain credentials")
    return value
