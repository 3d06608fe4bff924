from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_events.contract.commands import AttachPaymentMethod, CreatePlan, RegisterCustomer
from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    CustomerProfileUpdated,
    CustomerRegistered,
    PaymentMethodAttached,
    PlanCreated,
)
from subscriptions.domain import customer, plan
from subscriptions.domain.rejection import (
    CUSTOMER_ALREADY_EXISTS,
    CUSTOMER_NOT_FOUND,
    INVALID_COMMAND,
    PAYMENT_METHOD_ALREADY_ATTACHED,
    PLAN_ALREADY_EXISTS,
    Rejected,
)

NOW = datetime(2025, 3, 1, tzinfo=UTC)
CREATE_PLAN = CreatePlan(
    plan_id="plan_1",
    name="Premium monthly",
    description="Renews every month",
    image_url="https://example.com/p.png",
    amount=2999,
    currency="USD",
    interval="month",
)
REGISTER = RegisterCustomer(
    customer_id="cus_1", email="ana@example.com", name="Ana", phone="+34 600", locale="es"
)
CARD = CardSummary(
    payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030
)


def test_create_plan_emits_plan_created_with_every_field() -> None:
    [event] = plan.decide(CREATE_PLAN, plan.initial_state, NOW)
    assert event == PlanCreated(
        plan_id="plan_1",
        name="Premium monthly",
        description="Renews every month",
        image_url="https://example.com/p.png",
        amount=2999,
        currency="USD",
        interval="month",
    )
    state = plan.evolve(plan.initial_state, event)
    assert state is not None
    assert state.snapshot().model_dump() == {
        "plan_id": "plan_1",
        "name": "Premium monthly",
        "description": "Renews every month",
        "image_url": "https://example.com/p.png",
        "amount": 2999,
        "currency": "USD",
        "interval": "month",
    }


def test_duplicate_plan_is_rejected() -> None:
    state = plan.evolve(None, plan.decide(CREATE_PLAN, None, NOW)[0])
    with pytest.raises(Rejected) as caught:
        plan.decide(CREATE_PLAN, state, NOW)
    assert caught.value.code == PLAN_ALREADY_EXISTS


def registered() -> customer.Customer:
    state = customer.evolve(None, customer.decide(REGISTER, None, NOW)[0])
    assert state is not None
    return state


def test_register_customer_emits_customer_registered() -> None:
    [event] = customer.decide(REGISTER, None, NOW)
    assert event == CustomerRegistered(
        customer_id="cus_1", email="ana@example.com", name="Ana", phone="+34 600", locale="es"
    )
    assert registered() == customer.Customer("cus_1", "ana@example.com", "Ana", "+34 600", "es")


def test_registering_twice_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        customer.decide(REGISTER, registered(), NOW)
    assert caught.value.code == CUSTOMER_ALREADY_EXISTS


def test_attach_payment_method_records_the_card_summary() -> None:
    command = AttachPaymentMethod(customer_id="cus_1", card=CARD)
    [event] = customer.decide(command, registered(), NOW)
    assert event == PaymentMethodAttached(customer_id="cus_1", card=CARD)
    state = customer.evolve(registered(), event)
    assert state is not None
    assert state.card("pm_1") == CARD
    assert state.card("pm_other") is None


def test_attach_to_unknown_customer_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        customer.decide(AttachPaymentMethod(customer_id="cus_1", card=CARD), None, NOW)
    assert caught.value.code == CUSTOMER_NOT_FOUND


def test_attach_naming_another_customer_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        customer.decide(AttachPaymentMethod(customer_id="cus_2", card=CARD), registered(), NOW)
    assert caught.value.code == INVALID_COMMAND


def test_attaching_the_same_card_twice_is_rejected() -> None:
    command = AttachPaymentMethod(customer_id="cus_1", card=CARD)
    state = customer.evolve(registered(), customer.decide(command, registered(), NOW)[0])
    with pytest.raises(Rejected) as caught:
        customer.decide(command, state, NOW)
    assert caught.value.code == PAYMENT_METHOD_ALREADY_ATTACHED


def test_profile_update_changes_only_the_given_fields() -> None:
    state = customer.evolve(
        registered(), CustomerProfileUpdated(customer_id="cus_1", name="Ana María")
    )
    assert state == customer.Customer("cus_1", "ana@example.com", "Ana María", "+34 600", "es")


def test_events_before_registration_leave_no_customer() -> None:
    assert customer.evolve(None, PaymentMethodAttached(customer_id="cus_1", card=CARD)) is None
