"""Unit tests of the Idempotency-Key rules (domain.idempotency): no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_gateway.domain.idempotency import (
    ABANDONED_AFTER,
    KEY_LIFETIME,
    KeyState,
    StoredRequest,
    StoredResponse,
    Verdict,
    canonical_body,
    fingerprint,
    judge,
    key_problem,
    should_remember,
)

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
PRINT = fingerprint("POST", "/v1/plans", b'{"name": "Pro"}')


def stored(
    *,
    state: KeyState = KeyState.COMPLETED,
    age: timedelta = timedelta(seconds=1),
    locked_age: timedelta | None = None,
    print_: bytes = PRINT,
) -> StoredRequest:
    return StoredRequest(
        fingerprint=print_,
        state=state,
        created_at=NOW - age,
        locked_at=NOW - (locked_age if locked_age is not None else age),
        response=StoredResponse(201, b"{}", "application/json")
        if state is KeyState.COMPLETED
        else None,
    )


def test_a_new_key_executes() -> None:
    assert judge(None, PRINT, NOW) is Verdict.EXECUTE


def test_the_same_request_replays_the_remembered_response() -> None:
    assert judge(stored(), PRINT, NOW) is Verdict.REPLAY


def test_a_different_request_with_the_same_key_is_refused() -> None:
    other = fingerprint("POST", "/v1/plans", b'{"name": "Basic"}')
    assert judge(stored(), other, NOW) is Verdict.MISMATCH
    assert judge(stored(state=KeyState.IN_PROGRESS), other, NOW) is Verdict.MISMATCH


def test_a_request_still_running_makes_the_second_wait() -> None:
    assert judge(stored(state=KeyState.IN_PROGRESS), PRINT, NOW) is Verdict.IN_PROGRESS


def test_an_abandoned_request_may_be_taken_over() -> None:
    abandoned = stored(state=KeyState.IN_PROGRESS, locked_age=ABANDONED_AFTER)
    assert judge(abandoned, PRINT, NOW) is Verdict.EXECUTE


def test_an_expired_key_is_new_again_even_for_another_request() -> None:
    old = stored(age=KEY_LIFETIME)
    assert judge(old, fingerprint("POST", "/v1/x", b"{}"), NOW) is Verdict.EXECUTE


def test_the_fingerprint_covers_method_path_and_body() -> None:
    body = b'{"a": 1}'
    assert fingerprint("POST", "/v1/a", body) != fingerprint("POST", "/v1/b", body)
    assert fingerprint("POST", "/v1/a", body) != fingerprint("PUT", "/v1/a", body)
    assert fingerprint("POST", "/v1/a", body) != fingerprint("POST", "/v1/a", b'{"a": 2}')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_key_order_and_whitespace_do_not_change_the_fingerprint(body: dict[str, object]) -> None:
    compact = orjson.dumps(body)
    reordered = orjson.dumps(dict(reversed(list(body.items()))), option=orjson.OPT_INDENT_2)
    assert fingerprint("POST", "/p", compact) == fingerprint("POST", "/p", reordered)


def test_card_numbers_and_cvcs_never_enter_the_fingerprinted_body() -> None:
    body = orjson.dumps(
        {
            "customer": "cus_1",
            "card": {"number": "4242424242424242", "cvc": "123", "exp_month": 12, "exp_year": 2030},
        }
    )
    canonical = canonical_body(body)
    assert b"4242424242424242" not in canonical
    assert b"123" not in canonical.replace(b"12", b"")  # the cvc is dropped entirely
    assert b'"last4":"4242"' in canonical
    # Another card with other last digits is another request.
    other = body.replace(b"4242424242424242", b"5555555555554444")
    assert fingerprint("POST", "/v1/payment_methods", body) != fingerprint(
        "POST", "/v1/payment_methods", other
    )


def test_a_body_that_is_not_json_is_compared_as_bytes() -> None:
    assert canonical_body(b"not json") == b"not json"
    assert canonical_body(b"   ") == b""


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("abc-123", True),
        ("x" * 255, True),
        ("", False),
        ("  ", False),
        ("x" * 256, False),
        ("tab\tkey", False),
        ("clé", False),
    ],
)
def test_key_validation(key: str, ok: bool) -> None:
    assert (key_problem(key) is None) is ok


@pytest.mark.parametrize(
    ("status", "remember"),
    [
        (200, True),
        (201, True),
        (202, True),
        (400, True),
        (402, True),
        (404, True),
        (409, True),
        (500, False),
        (503, False),
    ],
)
def test_which_responses_are_remembered(status: int, remember: bool) -> None:
    assert should_remember(status) is remember
