"""The Invoice aggregate: issued once, then charged until paid.

``decide(command, state)`` returns the events a command causes (or raises :class:`Rejected`);
``evolve(state, event)`` folds one event into the state. Both are pure, over frozen values.

Recording a charge is idempotent by charge id: the same processor answer recorded twice (a
crashed worker's retry) adds nothing the second time. Issuing is idempotent as well: the id of
an invoice says what it bills (see :mod:`invoicing.domain.identity`), so an invoice that is
already issued is simply left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    ChargeFailed,
    ChargeSucceeded,
    InvoiceIssued,
    InvoiceLine,
    InvoiceMarkedUncollectible,
    InvoicePaid,
    InvoiceReason,
)
from billing_events.envelope import EventData
from invoicing.domain.errors import (
    AMOUNT_MISMATCH,
    INVALID_INVOICE,
    INVOICE_ALREADY_PAID,
    INVOICE_NOT_ISSUED,
    INVOICE_NOT_OPEN,
    PAYMENT_REQUIRED,
    Rejected,
)


class Status(StrEnum):
    NOT_ISSUED = "not_issued"
    OPEN = "open"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"


@dataclass(frozen=True)
class Invoice:
    status: Status = Status.NOT_ISSUED
    invoice_id: str = ""
    number: str = ""
    customer_id: str = ""
    subscription_id: str | None = None
    reason: InvoiceReason | None = None
    amount_due: int = 0
    currency: str = ""
    amount_paid: int = 0
    paid_at: datetime | None = None
    charge_attempts: int = 0
    charge_ids: frozenset[str] = frozenset()

    @property
    def awaiting_first_charge(self) -> bool:
        """Open, something to pay, and no charge outcome recorded yet."""
        return self.status is Status.OPEN and self.amount_due > 0 and self.charge_attempts == 0

    @property
    def next_attempt(self) -> int:
        return self.charge_attempts + 1


INITIAL = Invoice()


# --- commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueInvoice:
    invoice_id: str
    number: str
    customer_id: str
    subscription_id: str | None
    reason: InvoiceReason
    lines: tuple[InvoiceLine, ...]
    currency: str
    issued_at: datetime
    period_start: datetime | None = None
    period_end: datetime | None = None
    plan_name: str | None = None

    @property
    def amount_due(self) -> int:
        return sum(line.amount * line.quantity for line in self.lines)


@dataclass(frozen=True)
class RecordChargeSucceeded:
    charge_id: str
    amount: int
    currency: str
    payment_method: CardSummary
    paid_at: datetime


@dataclass(frozen=True)
class RecordChargeFailed:
    charge_id: str
    amount: int
    currency: str
    payment_method: CardSummary
    decline_code: str
    message: str


@dataclass(frozen=True)
class MarkPaidWithoutCharge:
    """An invoice with nothing to pay (a free plan, a full credit) is paid as issued."""

    paid_at: datetime


InvoiceCommand = IssueInvoice | RecordChargeSucceeded | RecordChargeFailed | MarkPaidWithoutCharge


# --- decide -----------------------------------------------------------------------------


def decide(command: InvoiceCommand, state: Invoice) -> list[EventData]:
    match command:
        case IssueInvoice():
            return _issue(command, state)
        case RecordChargeSucceeded():
            return _charge_succeeded(command, state)
        case RecordChargeFailed():
            return _charge_failed(command, state)
        case MarkPaidWithoutCharge():
            return _mark_paid_without_charge(command, state)


def _issue(command: IssueInvoice, state: Invoice) -> list[EventData]:
    if state.status is not Status.NOT_ISSUED:
        if state.invoice_id != command.invoice_id:
            raise Rejected(INVALID_INVOICE, f"stream holds invoice {state.invoice_id}")
        return []
    if not command.lines:
        raise Rejected(INVALID_INVOICE, "an invoice needs at least one line")
    if command.amount_due < 0:
        raise Rejected(INVALID_INVOICE, "an invoice cannot be for a negative amount")
    if (
        command.period_start is not None
        and command.period_end is not None
        and command.period_end <= command.period_start
    ):
        raise Rejected(INVALID_INVOICE, "the billing period ends before it starts")
    return [
        InvoiceIssued(
            invoice_id=command.invoice_id,
            number=command.number,
            customer_id=command.customer_id,
            subscription_id=command.subscription_id,
            reason=command.reason,
            lines=command.lines,
            amount_due=command.amount_due,
            currency=command.currency,
            period_start=command.period_start,
            period_end=command.period_end,
            issued_at=command.issued_at,
            plan_name=command.plan_name,
        )
    ]


def _require_open(state: Invoice) -> None:
    if state.status is Status.NOT_ISSUED:
        raise Rejected(INVOICE_NOT_ISSUED, "the invoice has not been issued")
    if state.status is Status.PAID:
        raise Rejected(INVOICE_ALREADY_PAID, f"invoice {state.number} is already paid")
    if state.status is not Status.OPEN:
        raise Rejected(INVOICE_NOT_OPEN, f"invoice {state.number} is {state.status}")


def _require_amount_due(state: Invoice, amount: int, currency: str) -> None:
    if (amount, currency) != (state.amount_due, state.currency):
        raise Rejected(
            AMOUNT_MISMATCH,
            f"charge of {amount} {currency} for invoice {state.number} "
            f"due {state.amount_due} {state.currency}",
        )


def _charge_succeeded(command: RecordChargeSucceeded, state: Invoice) -> list[EventData]:
    if command.charge_id in state.charge_ids:
        return []
    _require_open(state)
    _require_amount_due(state, command.amount, command.currency)
    return [
        ChargeSucceeded(
            invoice_id=state.invoice_id,
            charge_id=command.charge_id,
            amount=command.amount,
            currency=command.currency,
            payment_method=command.payment_method,
        ),
        InvoicePaid(
            invoice_id=state.invoice_id,
            customer_id=state.customer_id,
            subscription_id=state.subscription_id,
            amount_paid=command.amount,
            currency=command.currency,
            paid_at=command.paid_at,
        ),
    ]


def _charge_failed(command: RecordChargeFailed, state: Invoice) -> list[EventData]:
    if command.charge_id in state.charge_ids:
        return []
    _require_open(state)
    _require_amount_due(state, command.amount, command.currency)
    return [
        ChargeFailed(
            invoice_id=state.invoice_id,
            charge_id=command.charge_id,
            amount=command.amount,
            currency=command.currency,
            payment_method=command.payment_method,
            decline_code=command.decline_code,
            message=command.message,
            attempt=state.next_attempt,
        )
    ]


def _mark_paid_without_charge(command: MarkPaidWithoutCharge, state: Invoice) -> list[EventData]:
    if state.status is Status.PAID:
        return []
    _require_open(state)
    if state.amount_due != 0:
        raise Rejected(
            PAYMENT_REQUIRED,
            f"invoice {state.number} is due {state.amount_due} {state.currency}: charge it",
        )
    return [
        InvoicePaid(
            invoice_id=state.invoice_id,
            customer_id=state.customer_id,
            subscription_id=state.subscription_id,
            amount_paid=0,
            currency=state.currency,
            paid_at=command.paid_at,
        )
    ]


# --- evolve -----------------------------------------------------------------------------


def evolve(state: Invoice, event: EventData) -> Invoice:
    match event:
        case InvoiceIssued():
            return replace(
                state,
                status=Status.OPEN,
                invoice_id=event.invoice_id,
                number=event.number,
                customer_id=event.customer_id,
                subscription_id=event.subscription_id,
                reason=event.reason,
                amount_due=event.amount_due,
                currency=event.currency,
            )
        case ChargeSucceeded() | ChargeFailed():
            return replace(
                state,
                charge_attempts=state.charge_attempts + 1,
                charge_ids=state.charge_ids | {event.charge_id},
            )
        case InvoicePaid():
            return replace(
                state, status=Status.PAID, amount_paid=event.amount_paid, paid_at=event.paid_at
            )
        case InvoiceMarkedUncollectible():
            return replace(state, status=Status.UNCOLLECTIBLE)
        case _:
            # Events added to invoice streams later must not break old readers.
            return state


def fold(events: list[EventData], state: Invoice = INITIAL) -> Invoice:
    for event in events:
        state = evolve(state, event)
    return state
