"""Unit tests of changing a subscription's card: the use case over fakes, the form reading,
the presenters and the page in every language (no database, no broker, no server)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from litestar.datastructures import FormMultiDict

from billing_events.contract.commands import AttachPaymentMethod, UpdateSubscriptionPaymentMethod
from billing_events.envelope import EventData
from payments import CardInput, SimulatedProcessor
from portal_gateway.application.payment_methods import (
    CardRefused,
    CardUpdated,
    ChangePending,
    ChangeRejected,
    PaymentMethodChanges,
)
from portal_gateway.application.ports import CommandOutcome, PortalOverview
from portal_gateway.domain.outcomes import TIMEOUT_CODE
from portal_gateway.portal import presenters
from portal_gateway.portal.formatting import Formatter
from portal_gateway.portal.i18n import CATALOGS, messages_for
from portal_gateway.portal.locales import SUPPORTED_LANGUAGES, PortalLocale
from portal_gateway.portal.payment_method_routes import card_refusal_errors, read_new_card
from portal_gateway.portal.testing import card, demo_data

NOW = datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
NUMBER = "4242424242424242"
CVC = "987"
SECRET = b"unit-test-processor-secret-0123456789"
EN = messages_for("en")


class Commands:
    """Answers each command type as told: accepted unless ``answers`` says otherwise."""

    def __init__(self, **answers: str) -> None:
        self.answers = answers  # command type -> rejection code or "timeout"
        self.sent: list[tuple[EventData, str, uuid.UUID | None]] = []

    async def send(
        self,
        command: EventData,
        *,
        stream_id: str,
        merchant_id: str,
        correlation_id: uuid.UUID | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome:
        self.sent.append((command, stream_id, correlation_id))
        code = self.answers.get(command.event_type)
        if code is None:
            return CommandOutcome(uuid.uuid4(), accepted=True, event_types=("Done",))
        message = "slow" if code == TIMEOUT_CODE else f"no: {code}"
        return CommandOutcome(uuid.uuid4(), accepted=False, code=code, message=message)


def changes(commands: Commands) -> PaymentMethodChanges:
    processor = SimulatedProcessor(SECRET, lambda: NOW)
    return PaymentMethodChanges(commands=commands, processor=processor, timeout=0.1)


def new_card(number: str = NUMBER, cvc: str = CVC, exp_year: int = 2030) -> CardInput:
    return CardInput(number=number, exp_month=12, exp_year=exp_year, cvc=cvc)


# --- the use case -------------------------------------------------------------------------


async def test_a_new_card_is_attached_then_chosen_under_one_correlation() -> None:
    commands = Commands()
    outcome = await changes(commands).add_and_use_card(
        merchant_id="m", customer_id="cus_1", subscription_id="sub_1", card=new_card()
    )
    assert isinstance(outcome, CardUpdated)
    assert (outcome.card.brand, outcome.card.last4) == ("visa", "4242")
    (attach, attach_stream, first), (update, update_stream, second) = commands.sent
    assert isinstance(attach, AttachPaymentMethod)
    assert isinstance(update, UpdateSubscriptionPaymentMethod)
    assert (attach_stream, update_stream) == ("customer-cus_1", "subscription-sub_1")
    assert (
        update.payment_method_id == attach.card.payment_method_id == outcome.card.payment_method_id
    )
    assert first is not None
    assert first == second
    # Only the card summary travels: never the number or the CVC.
    for command, _, _ in commands.sent:
        dumped = command.model_dump_json()
        assert NUMBER not in dumped
        assert f'"{CVC}"' not in dumped
        assert "cvc" not in dumped


@pytest.mark.parametrize(
    ("number", "cvc", "exp_year", "code", "param"),
    [
        ("4242424242424241", CVC, 2030, "invalid_number", "number"),
        (NUMBER, "12", 2030, "invalid_cvc", "cvc"),
        (NUMBER, CVC, 2024, "expired_card", "exp_year"),
        ("4000000000000069", CVC, 2030, "expired_card", "exp_year"),
        ("4000000000000127", CVC, 2030, "incorrect_cvc", "cvc"),
    ],
)
async def test_a_card_the_processor_refuses_sends_nothing(
    number: str, cvc: str, exp_year: int, code: str, param: str
) -> None:
    commands = Commands()
    outcome = await changes(commands).add_and_use_card(
        merchant_id="m",
        customer_id="cus_1",
        subscription_id="sub_1",
        card=new_card(number, cvc, exp_year),
    )
    assert outcome == CardRefused(code=code, param=param)
    assert commands.sent == []


async def test_a_refused_attach_never_asks_the_subscription() -> None:
    commands = Commands(AttachPaymentMethod="customer_not_found")
    outcome = await changes(commands).add_and_use_card(
        merchant_id="m", customer_id="cus_1", subscription_id="sub_1", card=new_card()
    )
    assert outcome == ChangeRejected("customer_not_found", "no: customer_not_found")
    assert [c.event_type for c, _, _ in commands.sent] == ["AttachPaymentMethod"]


async def test_an_attach_not_confirmed_in_time_is_pending_and_not_followed_up() -> None:
    # The subscription must not be asked to use a card its customer may not own yet.
    commands = Commands(AttachPaymentMethod=TIMEOUT_CODE)
    outcome = await changes(commands).add_and_use_card(
        merchant_id="m", customer_id="cus_1", subscription_id="sub_1", card=new_card()
    )
    assert outcome == ChangePending(attached=None)
    assert len(commands.sent) == 1


@pytest.mark.parametrize("code", ["payment_method_expired", "subscription_ended"])
async def test_a_refused_change_still_reports_the_attached_card(code: str) -> None:
    commands = Commands(UpdateSubscriptionPaymentMethod=code)
    outcome = await changes(commands).add_and_use_card(
        merchant_id="m", customer_id="cus_1", subscription_id="sub_1", card=new_card()
    )
    assert isinstance(outcome, ChangeRejected)
    assert outcome.code == code
    assert outcome.attached is not None
    assert outcome.attached.last4 == "4242"


async def test_a_saved_card_is_chosen_with_one_command() -> None:
    commands = Commands()
    visa = card()
    outcome = await changes(commands).use_saved_card(
        merchant_id="m", subscription_id="sub_1", card=visa
    )
    assert outcome == CardUpdated(visa)
    ((command, stream, _),) = commands.sent
    assert stream == "subscription-sub_1"
    assert command == UpdateSubscriptionPaymentMethod(
        subscription_id="sub_1", payment_method_id=visa.payment_method_id
    )
    slow = Commands(UpdateSubscriptionPaymentMethod=TIMEOUT_CODE)
    pending = await changes(slow).use_saved_card(
        merchant_id="m", subscription_id="sub_1", card=visa
    )
    assert pending == ChangePending()


async def test_without_a_processor_new_cards_are_refused_and_nothing_is_sent() -> None:
    commands = Commands()
    without = PaymentMethodChanges(commands=commands, processor=None)
    assert not without.can_add_cards
    outcome = await without.add_and_use_card(
        merchant_id="m", customer_id="cus_1", subscription_id="sub_1", card=new_card()
    )
    assert outcome == CardRefused("processing_error", None)
    assert commands.sent == []


# --- reading the form ---------------------------------------------------------------------


def form(**fields: str) -> FormMultiDict:
    return FormMultiDict(fields)


def test_a_complete_form_is_a_card_input() -> None:
    read = read_new_card(
        form(card_number="4242 4242-4242 4242", exp_month="04", exp_year="2031", cvc="123"), EN
    )
    assert read.card is not None
    assert (read.card.last4, read.card.exp_month, read.card.exp_year) == ("4242", 4, 2031)
    assert read.card.number == NUMBER
    assert read.state.errors == {}
    assert (read.state.exp_month, read.state.exp_year) == ("04", "2031")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {"number", "cvc", "expiry"}),
        ({"card_number": NUMBER, "cvc": CVC, "exp_year": "2030"}, {"expiry", "card"}),
        (
            {"card_number": NUMBER, "cvc": CVC, "exp_month": "x1", "exp_year": "2030"},
            {"expiry", "card"},
        ),
        (
            {"card_number": NUMBER, "cvc": CVC, "exp_month": "1", "exp_year": "20 30"},
            {"expiry", "card"},
        ),
        ({"cvc": CVC, "exp_month": "1", "exp_year": "2030"}, {"number", "card"}),
    ],
)
def test_unusable_fields_are_errors_before_the_processor_is_asked(
    fields: dict[str, str], expected: set[str]
) -> None:
    read = read_new_card(form(**fields), EN)
    assert read.card is None
    assert set(read.state.errors) == expected
    # What was typed as expiry is kept; the number and CVC never are.
    assert read.state.exp_month == fields.get("exp_month", "")


@pytest.mark.parametrize("language", list(SUPPORTED_LANGUAGES))
@pytest.mark.parametrize(
    ("code", "where"),
    [
        ("invalid_number", "number"),
        ("invalid_expiry_month", "expiry"),
        ("invalid_expiry_year", "expiry"),
        ("expired_card", "expiry"),
        ("invalid_cvc", "cvc"),
        ("incorrect_cvc", "cvc"),
        ("processing_error", "card"),
        ("card_declined", "card"),
        ("do_not_honor", "card"),  # any other processor code reads as a decline
    ],
)
def test_card_refusals_are_explained_on_their_field(language: str, code: str, where: str) -> None:
    t = CATALOGS[language]
    errors = card_refusal_errors(code, t)
    assert errors[where]
    if where != "card":
        assert errors["card"] == t.error_card_reenter
    if code in ("card_declined", "do_not_honor"):
        assert errors["card"] == t.error_card_declined


# --- presenters -----------------------------------------------------------------------------


async def _alice() -> PortalOverview:
    data = demo_data(NOW)
    data.cards[("m_acme", "cus_alice")] = [
        card("pm_old", brand="mastercard", last4="4444", exp_month=1, exp_year=2025),
        card(),  # pm_visa, the subscription's
        card("pm_amex", brand="amex", last4="0005", exp_month=3, exp_year=2025),
    ]
    overview = await data.overview("m_acme", "cus_alice")
    assert overview is not None
    return overview


async def test_the_card_in_use_comes_first_and_expired_cards_cannot_be_chosen() -> None:
    overview = await _alice()
    (subscription,) = overview.subscriptions
    summary = presenters.payment_method_summary(
        overview, subscription, EN, Formatter(PortalLocale("en")), NOW
    )
    assert [c.payment_method_id for c in summary.choices] == ["pm_visa", "pm_old", "pm_amex"]
    assert [c.current for c in summary.choices] == [True, False, False]
    # March 2025 is still valid through the end of the month; January is past.
    assert [c.expired for c in summary.choices] == [False, True, False]
    assert summary.selected == "pm_visa"
    assert summary.current is not None
    assert summary.current.label == "Visa ending in 4242"


async def test_expiry_is_judged_at_the_merchants_time() -> None:
    overview = await _alice()
    (subscription,) = overview.subscriptions
    later = datetime(2025, 4, 2, tzinfo=UTC)  # a test clock a few weeks ahead
    summary = presenters.payment_method_summary(
        overview, subscription, EN, Formatter(PortalLocale("en")), later
    )
    assert {c.payment_method_id for c in summary.choices if c.expired} == {"pm_old", "pm_amex"}


def test_only_live_subscriptions_can_change_card() -> None:
    data = demo_data(NOW)
    active = data.subscriptions[("m_acme", "sub_alice")]
    assert presenters.can_change_card(active)
    assert presenters.can_change_card(replace(active, status="on_hold"))
    for status in ("canceled", "incomplete", "incomplete_expired"):
        assert not presenters.can_change_card(replace(active, status=status))
