"""Unit tests of the portal's access rules: tokens, link and session expiry, return URLs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_gateway.portal.access import (
    IDLE_TTL,
    LINK_TTL,
    TOUCH_INTERVAL,
    InvalidReturnUrl,
    LinkState,
    idle_deadline,
    link_expiry,
    link_state,
    needs_touch,
    session_is_live,
    validate_return_url,
)
from portal_gateway.portal.clock import FakeClock
from portal_gateway.portal.tokens import hash_token, looks_like_token, new_token

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_tokens_carry_at_least_128_bits_and_differ() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    # token_urlsafe(32): 43 base64url characters = 256 bits.
    assert all(len(token) >= 43 and looks_like_token(token) for token in tokens)


def test_a_token_is_stored_as_its_sha256_digest_only() -> None:
    token = new_token()
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).digest()
    assert len(digest) == 32
    assert token.encode() not in digest
    assert hash_token(token) == digest  # deterministic: lookups work
    assert hash_token(new_token()) != digest


@pytest.mark.parametrize(
    "value", ["", "short", "a" * 129, "has space" * 5, "x" * 30 + "/", "../../etc/passwd" * 3]
)
def test_malformed_tokens_are_recognised_before_any_lookup(value: str) -> None:
    assert not looks_like_token(value)


def test_a_link_is_valid_until_five_minutes_after_creation() -> None:
    clock = FakeClock(START)
    expires = link_expiry(clock.now())
    assert expires - START == LINK_TTL == timedelta(minutes=5)
    clock.advance(timedelta(minutes=4, seconds=59))
    assert link_state(expires_at=expires, used_at=None, now=clock.now()) is LinkState.VALID
    clock.advance(timedelta(seconds=1))
    assert link_state(expires_at=expires, used_at=None, now=clock.now()) is LinkState.EXPIRED


def test_a_used_link_reports_used_even_after_it_would_have_expired() -> None:
    expires = link_expiry(START)
    used = START + timedelta(minutes=1)
    assert link_state(expires_at=expires, used_at=used, now=used) is LinkState.USED
    later = START + timedelta(days=1)
    assert link_state(expires_at=expires, used_at=used, now=later) is LinkState.USED


def test_a_session_slides_one_hour_past_each_activity() -> None:
    clock = FakeClock(START)
    deadline = idle_deadline(clock.now())
    assert deadline - START == IDLE_TTL == timedelta(hours=1)
    clock.advance(timedelta(minutes=50))
    assert session_is_live(expires_at=deadline, now=clock.now())
    deadline = idle_deadline(clock.now())  # activity at 50 minutes
    clock.advance(timedelta(minutes=59))
    assert session_is_live(expires_at=deadline, now=clock.now())
    clock.advance(timedelta(minutes=1))
    assert not session_is_live(expires_at=deadline, now=clock.now())


def test_activity_is_recorded_at_most_once_a_minute() -> None:
    assert timedelta(minutes=1) == TOUCH_INTERVAL
    seen = START
    assert not needs_touch(last_seen_at=seen, now=START)
    assert not needs_touch(last_seen_at=seen, now=START + timedelta(seconds=59))
    assert needs_touch(last_seen_at=seen, now=START + timedelta(minutes=1))
    assert needs_touch(last_seen_at=seen, now=START + timedelta(minutes=55))
    # A clock that stepped back does not write an earlier time.
    assert not needs_touch(last_seen_at=seen, now=START - timedelta(minutes=5))


@given(st.lists(st.integers(min_value=1, max_value=3599), min_size=1, max_size=40))
def test_with_recording_throttled_a_session_never_outlives_its_idle_time(
    gaps: list[int],
) -> None:
    """Requests ``gaps`` seconds apart, each within the idle time of the one before: the
    session stays live through all of them, and it has ended ``IDLE_TTL`` after the last one,
    up to ``TOUCH_INTERVAL`` sooner but never later."""
    now = last_seen = START
    expires = idle_deadline(START)
    for gap in gaps:
        now += timedelta(seconds=gap)
        if not session_is_live(expires_at=expires, now=now):
            # Only possible within a minute of the idle time since the last request.
            assert timedelta(seconds=gap) > IDLE_TTL - TOUCH_INTERVAL
            return
        if needs_touch(last_seen_at=last_seen, now=now):
            last_seen, expires = now, idle_deadline(now)
    assert expires <= now + IDLE_TTL
    assert expires > now + IDLE_TTL - TOUCH_INTERVAL
    assert not session_is_live(expires_at=expires, now=now + IDLE_TTL)


def test_fake_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/account",
        "http://localhost:3000/billing?tab=1#top",
        "https://example.com",
    ],
)
def test_http_and_https_return_urls_are_accepted(url: str) -> None:
    assert validate_return_url(url) == url


@pytest.mark.parametrize("url", [None, ""])
def test_no_return_url_is_fine(url: str | None) -> None:
    assert validate_return_url(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/relative/path",
        "//evil.example.com/",
        "ftp://example.com/",
        "https://",
        "https://user:secret@example.com/",
        "https://exa mple.com/",
        "https://example.com/\nSet-Cookie: x",
        "https://example.com:99999/",
        "https://example.com/" + "a" * 2001,
    ],
)
def test_dangerous_or_malformed_return_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidReturnUrl):
        validate_return_url(url)


@given(st.text(max_size=300))
def test_any_accepted_return_url_is_absolute_http(text: str) -> None:
    try:
        accepted = validate_return_url(text)
    except InvalidReturnUrl:
        return
    assert accepted is None or accepted.startswith(("http://", "https://"))
