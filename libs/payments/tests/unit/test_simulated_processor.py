"""The simulated processor: Stripe's test cards, signed tokens, idempotent charges."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.cards import CardError, CardInput
from payments.config import DEV_SIMULATOR_SECRET, InsecureProcessorSecret, simulated_processor
from payments.processor import IdempotencyKeyReused, PaymentProcessor
from payments.simulated import SimulatedProcessor
from payments.tokens import PREFIX

SECRET = b"test-secret-0123456789"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 6, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def processor(clock: Clock) -> SimulatedProcessor:
    return SimulatedProcessor(SECRET, clock)


def card(number: str, cvc: str = "123", month: int = 12, year: int = 2030) -> CardInput:
    return CardInput(number, month, year, cvc)


def test_it_implements_the_port(processor: SimulatedProcessor) -> None:
    port: PaymentProcessor = processor
    assert port is processor


@pytest.mark.parametrize(
    ("number", "brand", "last4"),
    [
        ("4242424242424242", "visa", "4242"),
        ("5555555555554444", "mastercard", "4444"),
        ("378282246310005", "amex", "0005"),
        ("6011111111111117", "discover", "1117"),
    ],
)
async def test_tokenize_returns_a_summary_and_a_token(
    processor: SimulatedProcessor, number: str, brand: str, last4: str
) -> None:
    cvc = "1234" if brand == "amex" else "123"
    tokenized = await processor.tokenize(card(number, cvc))
    assert (tokenized.brand, tokenized.last4, tokenized.exp_month, tokenized.exp_year) == (
        brand,
        last4,
        12,
        2030,
    )
    assert tokenized.payment_method_id.startswith(PREFIX)
    # Fits the contract's identifier limit (CardSummary.payment_method_id, 100 characters).
    assert len(tokenized.payment_method_id) <= 100


async def test_each_attachment_gets_its_own_token(processor: SimulatedProcessor) -> None:
    first = await processor.tokenize(card("4242424242424242"))
    second = await processor.tokenize(card("4242424242424242"))
    assert first.payment_method_id != second.payment_method_id


@pytest.mark.parametrize(
    ("number", "succeeded", "decline_code"),
    [
        ("4242424242424242", True, None),
        ("5555555555554444", True, None),
        ("4000000000000002", False, "card_declined"),
        ("4000000000009995", False, "insufficient_funds"),
        ("4000000000000341", False, "card_declined"),
        ("4000000000000119", False, "processing_error"),
        ("4111111111111111", True, None),  # any other Luhn-valid number
    ],
)
async def test_test_cards_attach_and_charge_like_stripe(
    processor: SimulatedProcessor, number: str, succeeded: bool, decline_code: str | None
) -> None:
    token = (await processor.tokenize(card(number))).payment_method_id
    result = await processor.charge(token, 2999, "USD", "inv_1:1", "Premium")
    assert (result.succeeded, result.decline_code) == (succeeded, decline_code)
    assert result.charge_id.startswith("ch_")
    assert result.message


async def test_a_card_that_fails_after_attach_fails_every_charge(
    processor: SimulatedProcessor,
) -> None:
    token = (await processor.tokenize(card("4000000000000341"))).payment_method_id
    results = [await processor.charge(token, 500, "EUR", f"key-{i}") for i in range(3)]
    assert [r.succeeded for r in results] == [False, False, False]
    assert len({r.charge_id for r in results}) == 3


@pytest.mark.parametrize(
    ("number", "code"),
    [("4000000000000069", "expired_card"), ("4000000000000127", "incorrect_cvc")],
)
async def test_some_test_cards_are_refused_at_attach(
    processor: SimulatedProcessor, number: str, code: str
) -> None:
    with pytest.raises(CardError) as raised:
        await processor.tokenize(card(number))
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (card("4242424242424241"), "invalid_number"),
        (card("4242424242424242", month=5, year=2025), "expired_card"),
        (card("4242424242424242", cvc="1"), "invalid_cvc"),
    ],
)
async def test_tokenize_validates(processor: SimulatedProcessor, bad: CardInput, code: str) -> None:
    with pytest.raises(CardError) as raised:
        await processor.tokenize(bad)
    assert raised.value.code == code


async def test_the_same_idempotency_key_gives_the_same_charge(
    processor: SimulatedProcessor,
) -> None:
    token = (await processor.tokenize(card("4242424242424242"))).payment_method_id
    first = await processor.charge(token, 2999, "USD", "invoice-in_1:1", "Premium")
    again = await processor.charge(token, 2999, "USD", "invoice-in_1:1", "Premium")
    other = await processor.charge(token, 2999, "USD", "invoice-in_1:2", "Premium")
    assert again == first
    assert other.charge_id != first.charge_id


async def test_a_restarted_processor_gives_the_same_charge_id_for_a_key(clock: Clock) -> None:
    # A crash between charging and recording: the retry runs in a new process.
    before = SimulatedProcessor(SECRET, clock)
    token = (await before.tokenize(card("4242424242424242"))).payment_method_id
    first = await before.charge(token, 100, "USD", "k")
    after = SimulatedProcessor(SECRET, clock)
    assert await after.charge(token, 100, "USD", "k") == first


async def test_a_key_reused_for_another_charge_is_refused(processor: SimulatedProcessor) -> None:
    token = (await processor.tokenize(card("4242424242424242"))).payment_method_id
    await processor.charge(token, 100, "USD", "k")
    with pytest.raises(IdempotencyKeyReused):
        await processor.charge(token, 200, "USD", "k")


async def test_a_declined_charge_is_also_idempotent(processor: SimulatedProcessor) -> None:
    token = (await processor.tokenize(card("4000000000009995"))).payment_method_id
    first = await processor.charge(token, 100, "USD", "k")
    assert await processor.charge(token, 100, "USD", "k") == first


async def test_a_card_that_expired_since_attach_is_declined(
    processor: SimulatedProcessor, clock: Clock
) -> None:
    token = await processor.tokenize(card("4242424242424242", month=7, year=2025))
    clock.now = datetime(2025, 8, 1, tzinfo=UTC)
    result = await processor.charge(token.payment_method_id, 100, "USD", "k")
    assert (result.succeeded, result.decline_code) == (False, "expired_card")


@pytest.mark.parametrize(
    ("amount", "currency", "key"),
    [(0, "USD", "k"), (-5, "USD", "k"), (True, "USD", "k"), (100, "usd", "k"), (100, "USD", "")],
)
async def test_bad_charge_arguments_are_refused(
    processor: SimulatedProcessor, amount: int, currency: str, key: str
) -> None:
    token = (await processor.tokenize(card("4242424242424242"))).payment_method_id
    with pytest.raises(ValueError, match=r"amount|currency|idempotency_key"):
        await processor.charge(token, amount, currency, key)


async def test_a_token_from_another_processor_account_is_invalid(clock: Clock) -> None:
    foreign = SimulatedProcessor(b"another-secret-0123456789", clock)
    token = (await foreign.tokenize(card("4242424242424242"))).payment_method_id
    with pytest.raises(CardError) as raised:
        await SimulatedProcessor(SECRET, clock).charge(token, 100, "USD", "k")
    assert raised.value.code == "invalid_payment_method"


@pytest.mark.parametrize(
    "token", ["", "pm_", "pm_!!!!", "card_abc", "pm_" + "A" * 72, "pm_" + "A" * 200]
)
async def test_garbage_tokens_are_invalid(processor: SimulatedProcessor, token: str) -> None:
    with pytest.raises(CardError) as raised:
        await processor.charge(token, 100, "USD", "k")
    assert raised.value.code == "invalid_payment_method"


@settings(max_examples=200, deadline=None)
@given(st.data())
async def test_any_tampered_byte_makes_the_token_invalid(data: st.DataObject) -> None:
    # A fresh processor and clock per example: hypothesis does not reset fixtures.
    clock = Clock(datetime(2025, 6, 15, tzinfo=UTC))
    processor = SimulatedProcessor(SECRET, clock)
    # 4000000000000002 declines: flipping its behaviour byte to "succeeds" must not work.
    token = (await processor.tokenize(card("4000000000000002"))).payment_method_id
    body = token[len(PREFIX) :]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    tampered = PREFIX + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(CardError) as raised:
        await processor.charge(tampered, 100, "USD", "k")
    assert raised.value.code == "invalid_payment_method"


def test_the_processor_secret_must_be_long_enough(clock: Clock) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        SimulatedProcessor(b"short", clock)


def test_the_public_dev_secret_is_refused_outside_dev(clock: Clock) -> None:
    assert isinstance(simulated_processor(DEV_SIMULATOR_SECRET, clock), SimulatedProcessor)
    with pytest.raises(InsecureProcessorSecret):
        simulated_processor(DEV_SIMULATOR_SECRET, clock, env="prod")
    assert isinstance(
        simulated_processor("a-real-secret-of-enough-length", clock, env="prod"),
        SimulatedProcessor,
    )


async def test_a_gateway_and_invoicing_sharing_the_secret_work_together(clock: Clock) -> None:
    gateway = simulated_processor(DEV_SIMULATOR_SECRET, clock)
    invoicing = simulated_processor(DEV_SIMULATOR_SECRET, clock)
    token = (await gateway.tokenize(card("5555555555554444"))).payment_method_id
    assert (await invoicing.charge(token, 4900, "EUR", "in_x:1")).succeeded
