"""The test clock aggregate: forward only, within bounds, the merchant's time once set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from billing_events.contract.commands import AdvanceTestClock
from billing_events.contract.events import TestClockAdvanced
from subscriptions.domain import clock
from subscriptions.domain.rejection import (
    CLOCK_ADVANCE_TOO_FAR,
    CLOCK_BACKWARDS,
    INVALID_COMMAND,
    Rejected,
)

WALL = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


def advance(to: datetime, merchant_id: str = "mer_1") -> AdvanceTestClock:
    return AdvanceTestClock(merchant_id=merchant_id, advance_to=to)


def frozen_at(moment: datetime) -> clock.ClockState:
    return clock.TestClock("mer_1", moment)


def test_the_first_advance_starts_from_the_wall_clock() -> None:
    target = WALL + timedelta(days=90)
    [event] = clock.decide(advance(target), None, WALL)
    assert event == TestClockAdvanced(merchant_id="mer_1", frozen_time=target)
    state = clock.evolve(None, event)
    assert state == clock.TestClock("mer_1", target)


def test_without_a_clock_the_merchant_lives_in_wall_clock_time() -> None:
    assert clock.merchant_now(None, WALL) == WALL
    frozen = WALL + timedelta(days=3)
    # Frozen: the wall clock moving on changes nothing.
    assert clock.merchant_now(frozen_at(frozen), WALL + timedelta(days=30)) == frozen


def test_advancing_backwards_is_rejected() -> None:
    frozen = WALL + timedelta(days=60)
    with pytest.raises(Rejected) as caught:
        # The wall clock is earlier, but the merchant's time is the frozen one.
        clock.decide(advance(frozen - timedelta(seconds=1)), frozen_at(frozen), WALL)
    assert caught.value.code == CLOCK_BACKWARDS
    assert frozen.isoformat() in caught.value.message


def test_the_first_setting_may_start_in_the_past_then_only_forward() -> None:
    past = WALL - timedelta(days=180)
    [event] = clock.decide(advance(past), None, WALL)
    assert event == TestClockAdvanced(merchant_id="mer_1", frozen_time=past)
    with pytest.raises(Rejected) as caught:
        clock.decide(advance(past - timedelta(seconds=1)), clock.evolve(None, event), WALL)
    assert caught.value.code == CLOCK_BACKWARDS


def test_the_first_setting_is_bounded_in_the_past_too() -> None:
    with pytest.raises(Rejected) as caught:
        clock.decide(advance(WALL - clock.MAX_ADVANCE - timedelta(days=1)), None, WALL)
    assert caught.value.code == CLOCK_ADVANCE_TOO_FAR


def test_advancing_to_the_same_time_is_accepted() -> None:
    [event] = clock.decide(advance(WALL), frozen_at(WALL), WALL)
    assert isinstance(event, TestClockAdvanced)
    assert event.frozen_time == WALL


def test_one_advance_is_bounded() -> None:
    assert clock.decide(advance(WALL + clock.MAX_ADVANCE), None, WALL)
    with pytest.raises(Rejected) as caught:
        clock.decide(advance(WALL + clock.MAX_ADVANCE + timedelta(seconds=1)), None, WALL)
    assert caught.value.code == CLOCK_ADVANCE_TOO_FAR


def test_the_frozen_time_is_stored_in_utc() -> None:
    local = datetime(2025, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=-3)))
    [event] = clock.decide(advance(local), None, WALL)
    assert isinstance(event, TestClockAdvanced)
    assert event.frozen_time == local
    assert event.frozen_time.utcoffset() == timedelta(0)


def test_another_merchants_clock_is_refused() -> None:
    with pytest.raises(Rejected) as caught:
        clock.decide(advance(WALL, "mer_2"), frozen_at(WALL), WALL)
    assert caught.value.code == INVALID_COMMAND


def test_an_advance_happens_at_the_time_it_sets() -> None:
    target = WALL + timedelta(days=1)
    [event] = clock.decide(advance(target), None, WALL)
    assert clock.effective_at(event, WALL) == target
