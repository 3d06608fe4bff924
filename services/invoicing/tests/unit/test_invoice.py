"""The Invoice aggregate: decide and evolve, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    ChargeFailed,
    ChargeSucceeded,
    InvoiceIssued,
    InvoiceLine,
    InvoiceMarkedUncollectible,
    InvoicePaid,
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
from invoicing.domain.invoice import (
    INITIAL,
    Invoice,
    InvoiceCommand,
    IssueInvoice,
    MarkPaidWithoutCharge,
    RecordChargeFailed,
    RecordChargeSucceeded,
    Status,
    decide,
    evolve,
    fold,
)

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
LATER = datetime(2025, 6, 15, 12, 1, tzinfo=UTC)
CARD = CardSummary(
    payment_method_id="pm_test", brand="visa", last4="4242", exp_month=12, exp_year=2030
)


def issue(*amounts: int, currency: str = "USD", invoice_id: str = "in_1") -> IssueInvoice:
    return IssueInvoice(
        invoice_id=invoice_id,
        number="ABCDEFGH-000001",
        customer_id="cus_1",
        subscription_id="sub_1",
        reason="subscription_create",
        lines=tuple(InvoiceLine(description=f"line {a}", amount=a) for a in amounts),
        currency=currency,
        issued_at=NOW,
        period_start=NOW,
        period_end=datetime(2025, 7, 15, 12, tzinfo=UTC),
        plan_name="Premium",
    )


def run(*commands: InvoiceCommand, state: Invoice = INITIAL) -> tuple[Invoice, list[EventData]]:
    """Decide and evolve each command in turn; returns the final state and all events."""
    events: list[EventData] = []
    for command in commands:
        decided = decide(command, state)
        events.extend(decided)
        state = fold(decided, state)
    return state, events


def succeeded(charge_id: str = "ch_1", amount: int = 2999) -> RecordChargeSucceeded:
    return RecordChargeSucceeded(charge_id, amount, "USD", CARD, LATER)


def failed(charge_id: str = "ch_1", amount: int = 2999) -> RecordChargeFailed:
    return RecordChargeFailed(
        charge_id, amount, "USD", CARD, "insufficient_funds", "Your card has insufficient funds."
    )


def test_issuing_opens_the_invoice_for_the_sum_of_its_lines() -> None:
    state, events = run(issue(2000, 999))
    assert [type(e) for e in events] == [InvoiceIssued]
    issued = events[0]
    assert isinstance(issued, InvoiceIssued)
    assert (issued.amount_due, issued.currency, issued.number) == (2999, "USD", "ABCDEFGH-000001")
    assert (issued.plan_name, issued.reason, issued.period_start) == (
        "Premium",
        "subscription_create",
        NOW,
    )
    assert state.status is Status.OPEN
    assert state.awaiting_first_charge
    assert state.next_attempt == 1


def test_quantities_multiply_line_amounts() -> None:
    command = issue(1)
    command = IssueInvoice(
        **{**command.__dict__, "lines": (InvoiceLine(description="seats", amount=500, quantity=3),)}
    )
    assert run(command)[0].amount_due == 1500


def test_issuing_again_changes_nothing() -> None:
    state, _ = run(issue(2999))
    assert decide(issue(2999), state) == []


def test_a_stream_holds_one_invoice() -> None:
    state, _ = run(issue(2999))
    with pytest.raises(Rejected) as raised:
        decide(issue(2999, invoice_id="in_other"), state)
    assert raised.value.code == INVALID_INVOICE


@pytest.mark.parametrize("command", [issue(), issue(500, -600)])
def test_an_invoice_needs_lines_and_a_non_negative_total(command: IssueInvoice) -> None:
    with pytest.raises(Rejected) as raised:
        decide(command, INITIAL)
    assert raised.value.code == INVALID_INVOICE


def test_a_period_must_end_after_it_starts() -> None:
    command = IssueInvoice(**{**issue(100).__dict__, "period_end": NOW})
    with pytest.raises(Rejected) as raised:
        decide(command, INITIAL)
    assert raised.value.code == INVALID_INVOICE


def test_a_successful_charge_pays_the_invoice() -> None:
    state, events = run(issue(2999), succeeded())
    assert [type(e) for e in events] == [InvoiceIssued, ChargeSucceeded, InvoicePaid]
    charge, paid = events[1], events[2]
    assert isinstance(charge, ChargeSucceeded)
    assert isinstance(paid, InvoicePaid)
    assert (charge.charge_id, charge.amount, charge.payment_method) == ("ch_1", 2999, CARD)
    assert (paid.amount_paid, paid.paid_at, paid.subscription_id) == (2999, LATER, "sub_1")
    assert (state.status, state.amount_paid, state.paid_at) == (Status.PAID, 2999, LATER)
    assert not state.awaiting_first_charge


def test_a_failed_charge_leaves_the_invoice_open_and_counts_the_attempt() -> None:
    state, events = run(issue(2999), failed("ch_1"), failed("ch_2"))
    assert [type(e) for e in events] == [InvoiceIssued, ChargeFailed, ChargeFailed]
    attempts = [e.attempt for e in events if isinstance(e, ChargeFailed)]
    assert attempts == [1, 2]
    first = events[1]
    assert isinstance(first, ChargeFailed)
    assert (first.decline_code, first.message) == (
        "insufficient_funds",
        "Your card has insufficient funds.",
    )
    assert state.status is Status.OPEN
    assert not state.awaiting_first_charge
    assert state.next_attempt == 3


@pytest.mark.parametrize("record", [succeeded(), failed()])
def test_recording_the_same_charge_twice_adds_nothing(record: InvoiceCommand) -> None:
    state, _ = run(issue(2999), record)
    assert decide(record, state) == []


def test_a_second_successful_charge_of_a_paid_invoice_is_refused() -> None:
    state, _ = run(issue(2999), succeeded("ch_1"))
    with pytest.raises(Rejected) as raised:
        decide(succeeded("ch_2"), state)
    assert raised.value.code == INVOICE_ALREADY_PAID


@pytest.mark.parametrize("record", [succeeded(), failed(), MarkPaidWithoutCharge(NOW)])
def test_nothing_is_recorded_on_an_invoice_not_issued(record: InvoiceCommand) -> None:
    with pytest.raises(Rejected) as raised:
        decide(record, INITIAL)
    assert raised.value.code == INVOICE_NOT_ISSUED


@pytest.mark.parametrize("record", [succeeded(amount=100), failed(amount=100)])
def test_a_charge_must_be_for_the_amount_due(record: InvoiceCommand) -> None:
    state, _ = run(issue(2999))
    with pytest.raises(Rejected) as raised:
        decide(record, state)
    assert raised.value.code == AMOUNT_MISMATCH


def test_an_uncollectible_invoice_takes_no_charge() -> None:
    state, _ = run(issue(2999))
    state = evolve(state, InvoiceMarkedUncollectible(invoice_id="in_1"))
    assert state.status is Status.UNCOLLECTIBLE
    with pytest.raises(Rejected) as raised:
        decide(succeeded(), state)
    assert raised.value.code == INVOICE_NOT_OPEN


def test_a_free_invoice_is_paid_without_a_charge() -> None:
    state, events = run(issue(0), MarkPaidWithoutCharge(LATER))
    assert [type(e) for e in events] == [InvoiceIssued, InvoicePaid]
    assert state.status is Status.PAID
    assert not run(issue(0))[0].awaiting_first_charge
    assert decide(MarkPaidWithoutCharge(LATER), state) == []


def test_an_invoice_with_something_due_cannot_be_marked_paid() -> None:
    state, _ = run(issue(2999))
    with pytest.raises(Rejected) as raised:
        decide(MarkPaidWithoutCharge(LATER), state)
    assert raised.value.code == PAYMENT_REQUIRED


def test_unknown_events_leave_the_state_alone() -> None:
    @dataclass(frozen=True)
    class Unrelated:
        pass

    state, _ = run(issue(2999))
    assert evolve(state, Unrelated()) == state  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------

charge_ids = st.sampled_from(["ch_a", "ch_b", "ch_c", "ch_d"])
commands = st.one_of(
    st.builds(succeeded, charge_ids),
    st.builds(failed, charge_ids),
    st.just(issue(2999)),
    st.just(MarkPaidWithoutCharge(LATER)),
)


@given(st.lists(commands, max_size=12))
def test_whatever_happens_an_invoice_is_paid_at_most_once(script: list[InvoiceCommand]) -> None:
    state, events = run(issue(2999))
    for command in script:
        try:
            decided = decide(command, state)
        except Rejected:
            continue
        events.extend(decided)
        state = fold(decided, state)

    paid = [e for e in events if isinstance(e, InvoicePaid)]
    charges = [e for e in events if isinstance(e, ChargeSucceeded | ChargeFailed)]
    assert len([e for e in events if isinstance(e, InvoiceIssued)]) == 1
    assert len(paid) <= 1
    assert len([e for e in events if isinstance(e, ChargeSucceeded)]) == len(paid)
    # Each processor charge is recorded once, attempts count up from one, nothing follows
    # the payment.
    assert len({c.charge_id for c in charges}) == len(charges)
    attempts = [e.attempt for e in events if isinstance(e, ChargeFailed)]
    assert attempts == list(range(1, len(attempts) + 1))
    if paid:
        assert events[-1] is paid[0]
        assert state.status is Status.PAID
        assert state.amount_paid == 2999
    else:
        assert state.status is Status.OPEN
    assert state.charge_attempts == len(charges)
