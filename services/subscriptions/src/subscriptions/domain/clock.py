"""A merchant's test clock: the time its subscriptions live in, moved on demand.

Like Stripe's test clocks: in development and tests a merchant's time can be pushed forward so
that renewals and expiries happen now instead of in a month. Before its first advance a
merchant has no test clock and lives in wall-clock time; from then on its time is frozen at
the latest ``frozen_time`` until advanced again. The first setting may start in the past, as a
Stripe test clock is created at any frozen time, so a demo or a test can build up a history
that ends today. After that time never runs backwards: what already happened (a renewal dated
the 1st of March) must stay in the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing_events.contract.commands import AdvanceTestClock
from billing_events.contract.events import TestClockAdvanced
from billing_events.envelope import EventData
from subscriptions.domain.rejection import (
    CLOCK_ADVANCE_TOO_FAR,
    CLOCK_BACKWARDS,
    INVALID_COMMAND,
    Rejected,
)

# One advance makes every due period of every subscription of the merchant happen at once (a
# monthly plan renews 60 times over 5 years, and each renewal is invoiced and charged). A jump
# further than this is a typo, not a test.
MAX_ADVANCE = timedelta(days=5 * 366)


@dataclass(frozen=True)
class TestClock:
    __test__ = False  # a domain class, not a pytest test class

    merchant_id: str
    frozen_time: datetime


ClockState = TestClock | None
ClockCommand = AdvanceTestClock

initial_state: ClockState = None


def merchant_now(state: ClockState, wall_clock_now: datetime) -> datetime:
    """The merchant's current time: its test clock's, or the wall clock's if it has none."""
    return state.frozen_time if state is not None else wall_clock_now


def decide(command: ClockCommand, state: ClockState, now: datetime) -> list[EventData]:
    """``now`` is the wall clock: the merchant's time before its first advance."""
    if state is not None and command.merchant_id != state.merchant_id:
        raise Rejected(INVALID_COMMAND, "the command names another merchant than its clock")
    current = merchant_now(state, now)
    target = command.advance_to.astimezone(UTC)
    if state is not None and target < current:
        raise Rejected(
            CLOCK_BACKWARDS,
            f"the test clock reads {current.isoformat()}; it cannot go back to "
            f"{target.isoformat()}",
        )
    if abs(target - current) > MAX_ADVANCE:
        raise Rejected(
            CLOCK_ADVANCE_TOO_FAR,
            f"the test clock reads {current.isoformat()}; one advance may move it at most "
            f"{MAX_ADVANCE.days} days, not to {target.isoformat()}",
        )
    return [TestClockAdvanced(merchant_id=command.merchant_id, frozen_time=target)]


def evolve(state: ClockState, event: EventData) -> ClockState:
    if isinstance(event, TestClockAdvanced):
        return TestClock(merchant_id=event.merchant_id, frozen_time=event.frozen_time)
    return state


def effective_at(event: EventData, decided_at: datetime) -> datetime:
    """An advance happens at the time it moves the clock to: the merchant's timeline stays in
    the merchant's time."""
    if isinstance(event, TestClockAdvanced):
        return event.frozen_time
    return decided_at
