"""A card number or CVC never shows up in a repr, a log line, an error or a serialization."""

from __future__ import annotations

import copy
import io
import json
import logging
import pickle
from datetime import UTC, datetime

import pytest
import structlog

from payments.cards import CardError, CardInput, validate_card
from payments.simulated import SimulatedProcessor

NUMBER = "4000000000009995"
CVC = "987"
SECRET = b"test-secret-0123456789"


def fixed_clock() -> datetime:
    return datetime(2025, 6, 15, tzinfo=UTC)


def make_card(number: str = NUMBER, cvc: str = CVC) -> CardInput:
    return CardInput(number, 11, 2031, cvc)


def assert_no_card_data(text: str, number: str = NUMBER, cvc: str = CVC) -> None:
    assert number not in text
    assert number[:12] not in text  # not even the first digits (last4 may be shown)
    assert cvc not in text


def test_repr_str_and_format_mask_the_number_and_cvc() -> None:
    card = make_card()
    shown = [repr(card), str(card), f"{card}", f"{card!r}", format(card, ""), "%s" % (card,)]  # noqa: UP031
    for text in shown:
        assert_no_card_data(text)
        assert "9995" in text  # last4 is what a support agent may see
    assert repr([card]) == f"[{card!r}]"


def test_a_card_cannot_be_serialized_or_copied() -> None:
    card = make_card()
    with pytest.raises(TypeError):
        pickle.dumps(card)
    with pytest.raises(TypeError):
        copy.copy(card)
    with pytest.raises(TypeError):
        copy.deepcopy(card)
    with pytest.raises(TypeError):
        json.dumps(card)
    with pytest.raises(TypeError):
        vars(card)


def test_a_card_is_immutable() -> None:
    card = make_card()
    with pytest.raises(AttributeError):
        card.number = "4242424242424242"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        card._cvc = "000"  # type: ignore[misc]


def test_stdlib_logging_of_a_card_shows_no_card_data() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.card_secrecy")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        card = make_card()
        logger.info("tokenizing %s", card)
        logger.info("tokenizing %r", {"card": card})
    finally:
        logger.removeHandler(handler)
    assert "tokenizing" in stream.getvalue()
    assert_no_card_data(stream.getvalue())


def test_structlog_json_of_a_card_shows_no_card_data() -> None:
    stream = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(stream),
        processors=[structlog.processors.JSONRenderer(default=repr)],
    )
    logger.info("tokenizing", card=make_card())
    assert "tokenizing" in stream.getvalue()
    assert_no_card_data(stream.getvalue())


@pytest.mark.parametrize(
    ("number", "month", "year", "cvc"),
    [
        ("4242424242424241", 12, 2030, "123"),
        ("4242424242424242", 13, 2030, "123"),
        ("4242424242424242", 12, 2020, "123"),
        ("4242424242424242", 12, 2030, "12"),
    ],
)
def test_card_errors_show_no_card_data(number: str, month: int, year: int, cvc: str) -> None:
    with pytest.raises(CardError) as raised:
        validate_card(CardInput(number, month, year, cvc), fixed_clock().date())
    shown = f"{raised.value} {raised.value!r} {raised.value.args}"
    assert_no_card_data(shown, number, cvc)


async def test_token_and_summary_carry_no_card_data() -> None:
    processor = SimulatedProcessor(SECRET, fixed_clock)
    tokenized = await processor.tokenize(make_card())
    # The token is random base64: a three-digit CVC could occur in it by chance, a card
    # number cannot. The layout (payments.tokens) has no field that could hold either.
    assert_no_card_data(repr(tokenized).replace(tokenized.payment_method_id, "pm_..."))
    assert NUMBER not in tokenized.payment_method_id
    assert NUMBER[:12] not in tokenized.payment_method_id
    assert "secret" not in repr(processor).replace("secret=***", "")
