"""Unit tests of the portal's CSRF tokens."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from portal_gateway.portal.csrf import issue_token, verify_token
from portal_gateway.portal.tokens import new_secret


def test_a_token_verifies_against_its_own_session_secret() -> None:
    secret = new_secret()
    assert verify_token(secret, issue_token(secret))


def test_a_token_from_another_session_is_refused() -> None:
    assert not verify_token(new_secret(), issue_token(new_secret()))


def test_every_rendered_form_gets_a_different_token() -> None:
    secret = new_secret()
    tokens = {issue_token(secret) for _ in range(100)}
    assert len(tokens) == 100
    assert all(verify_token(secret, token) for token in tokens)


def test_a_tampered_token_is_refused() -> None:
    secret = new_secret()
    token = issue_token(secret)
    nonce, mac = token.split(".")
    for position in (0, len(mac) // 2, len(mac) - 1):
        swapped = "A" if mac[position] != "A" else "B"
        tampered = mac[:position] + swapped + mac[position + 1 :]
        assert not verify_token(secret, f"{nonce}.{tampered}")
    other_nonce = issue_token(secret).split(".")[0]
    assert not verify_token(secret, f"{other_nonce}.{mac}")


def test_missing_or_empty_tokens_are_refused() -> None:
    secret = new_secret()
    assert not verify_token(secret, None)
    assert not verify_token(secret, "")
    assert not verify_token(secret, ".")


@given(st.text(max_size=400))
def test_arbitrary_input_never_verifies_and_never_raises(text: str) -> None:
    assert not verify_token(new_secret(), text)
