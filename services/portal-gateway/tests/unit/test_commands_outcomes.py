"""Unit tests of how events answer commands (domain.outcomes) and how rejections map to HTTP."""

from __future__ import annotations

import uuid

import pytest

from billing_events.contract.events import CommandRejected, PlanCreated
from billing_events.envelope import new_envelope
from portal_gateway.application.errors import (
    Conflict,
    InvalidRequest,
    PaymentFailed,
    ResourceMissing,
    Unprocessable,
    rejection_error,
)
from portal_gateway.domain.outcomes import (
    command_key,
    correlation_key,
    outcome_of,
    stream_key,
    wake_keys,
)

COMMAND = uuid.uuid4()
CORRELATION = uuid.uuid4()
PLAN = PlanCreated(plan_id="plan_1", name="Pro", amount=100, currency="USD", interval="month")


def test_an_event_caused_by_a_command_accepts_it() -> None:
    envelope = new_envelope(
        PLAN,
        stream_id="plan-plan_1",
        merchant_id="m",
        correlation_id=CORRELATION,
        causation_id=COMMAND,
        stream_version=1,
    )
    outcome = outcome_of(envelope)
    assert outcome is not None
    assert (outcome.command_id, outcome.accepted, outcome.event_type) == (
        COMMAND,
        True,
        "PlanCreated",
    )
    assert wake_keys(envelope) == [
        command_key(COMMAND),
        stream_key("plan-plan_1"),
        correlation_key(CORRELATION),
    ]


def test_a_rejection_carries_its_code_and_message() -> None:
    envelope = new_envelope(
        CommandRejected(
            command_id=str(COMMAND),
            command_type="CancelSubscription",
            code="already_canceled",
            message="It is canceled.",
        ),
        stream_id="subscription-sub_1",
        merchant_id="m",
        correlation_id=CORRELATION,
        causation_id=COMMAND,
    )
    outcome = outcome_of(envelope)
    assert outcome is not None
    assert not outcome.accepted
    assert (outcome.code, outcome.message) == ("already_canceled", "It is canceled.")


def test_a_rejection_without_causation_is_matched_by_its_command_id() -> None:
    envelope = new_envelope(
        CommandRejected(command_id=str(COMMAND), command_type="X", code="c", message="m"),
        stream_id="plan-plan_1",
        merchant_id="m",
        correlation_id=CORRELATION,
    )
    outcome = outcome_of(envelope)
    assert outcome is not None
    assert outcome.command_id == COMMAND


def test_an_event_without_causation_answers_no_command_but_still_wakes_its_stream() -> None:
    envelope = new_envelope(
        PLAN, stream_id="plan-plan_1", merchant_id="m", correlation_id=CORRELATION
    )
    assert outcome_of(envelope) is None
    assert wake_keys(envelope) == [stream_key("plan-plan_1"), correlation_key(CORRELATION)]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("subscription_not_found", ResourceMissing),
        ("unknown_customer", ResourceMissing),
        ("payment_method_missing", ResourceMissing),
        ("invalid_plan", InvalidRequest),
        ("already_canceled", Conflict),
        ("duplicate", Conflict),
        (None, Conflict),
        # The codes of test clocks and card changes (subscriptions' domain/rejection.py).
        ("payment_method_not_found", ResourceMissing),
        ("payment_method_expired", PaymentFailed),
        ("subscription_ended", Conflict),
        ("payment_method_unchanged", Conflict),
        ("clock_backwards", Conflict),
        ("test_clocks_disabled", Conflict),
        ("clock_advance_too_far", Unprocessable),
        ("invalid_command", Unprocessable),
        ("currency_mismatch", Unprocessable),
    ],
)
def test_rejections_map_to_http_errors_keeping_the_owner_code(code: str | None, kind: type) -> None:
    error = rejection_error(code, "why")
    assert isinstance(error, kind)
    assert error.code == (code or "rejected")
    assert error.message == "why"
