"""Customer: who pays, how to reach them, and the cards the processor tokenized for them.

Only card summaries (token, brand, last4, expiry) are ever known here: the card number and
CVC stay inside the payment processor adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from billing_events.contract.commands import AttachPaymentMethod, RegisterCustomer
from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    CustomerProfileUpdated,
    CustomerRegistered,
    PaymentMethodAttached,
)
from billing_events.envelope import EventData
from subscriptions.domain.rejection import (
    CUSTOMER_ALREADY_EXISTS,
    CUSTOMER_NOT_FOUND,
    INVALID_COMMAND,
    PAYMENT_METHOD_ALREADY_ATTACHED,
    Rejected,
)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    email: str
    name: str
    phone: str | None
    locale: str
    cards: tuple[CardSummary, ...] = ()

    def card(self, payment_method_id: str) -> CardSummary | None:
        """The attached card with this processor token, if the customer has it."""
        return next((c for c in self.cards if c.payment_method_id == payment_method_id), None)


CustomerState = Customer | None
CustomerCommand = RegisterCustomer | AttachPaymentMethod

initial_state: CustomerState = None


def decide(command: CustomerCommand, state: CustomerState, now: datetime) -> list[EventData]:
    if isinstance(command, RegisterCustomer):
        return _register(command, state)
    return _attach(command, state)


def _register(command: RegisterCustomer, state: CustomerState) -> list[EventData]:
    if state is not None:
        raise Rejected(CUSTOMER_ALREADY_EXISTS, f"customer {command.customer_id} already exists")
    return [
        CustomerRegistered(
            customer_id=command.customer_id,
            email=command.email,
            name=command.name,
            phone=command.phone,
            locale=command.locale,
        )
    ]


def _attach(command: AttachPaymentMethod, state: CustomerState) -> list[EventData]:
    if state is None:
        raise Rejected(CUSTOMER_NOT_FOUND, f"customer {command.customer_id} does not exist")
    if command.customer_id != state.customer_id:
        raise Rejected(INVALID_COMMAND, "the command names another customer than its stream")
    if state.card(command.card.payment_method_id) is not None:
        raise Rejected(
            PAYMENT_METHOD_ALREADY_ATTACHED,
            f"payment method {command.card.payment_method_id} is already attached",
        )
    return [PaymentMethodAttached(customer_id=state.customer_id, card=command.card)]


def evolve(state: CustomerState, event: EventData) -> CustomerState:
    if isinstance(event, CustomerRegistered):
        return Customer(
            customer_id=event.customer_id,
            email=str(event.email),
            name=event.name,
            phone=event.phone,
            locale=event.locale,
        )
    if state is None:
        return state
    if isinstance(event, PaymentMethodAttached):
        return replace(state, cards=(*state.cards, event.card))
    if isinstance(event, CustomerProfileUpdated):
        return replace(
            state,
            email=str(event.email) if event.email is not None else state.email,
            name=event.name if event.name is not None else state.name,
            phone=event.phone if event.phone is not None else state.phone,
            locale=event.locale if event.locale is not None else state.locale,
        )
    return state
