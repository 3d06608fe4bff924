from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscriptions.domain.periods import add_months, period_end

moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9000, 12, 31), timezones=st.just(UTC)
)
intervals = st.sampled_from(["month", "year"])


@pytest.mark.parametrize(
    ("start", "interval", "end"),
    [
        (
            datetime(2025, 1, 15, 9, 30, tzinfo=UTC),
            "month",
            datetime(2025, 2, 15, 9, 30, tzinfo=UTC),
        ),
        (datetime(2025, 1, 31, tzinfo=UTC), "month", datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2024, 1, 31, tzinfo=UTC), "month", datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2025, 3, 31, tzinfo=UTC), "month", datetime(2025, 4, 30, tzinfo=UTC)),
        (
            datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
            "month",
            datetime(2026, 1, 31, 23, 59, tzinfo=UTC),
        ),
        (datetime(2024, 2, 29, tzinfo=UTC), "year", datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2025, 6, 1, tzinfo=UTC), "year", datetime(2026, 6, 1, tzinfo=UTC)),
    ],
)
def test_period_end_is_same_day_next_interval_clamped_to_month_end(
    start: datetime, interval: str, end: datetime
) -> None:
    assert period_end(start, interval) == end  # type: ignore[arg-type]


def test_anchor_day_restores_the_day_after_a_short_month() -> None:
    february = datetime(2025, 2, 28, tzinfo=UTC)
    assert period_end(february, "month", anchor_day=31) == datetime(2025, 3, 31, tzinfo=UTC)
    assert period_end(february, "month") == datetime(2025, 3, 28, tzinfo=UTC)


def test_time_zone_and_time_of_day_are_kept() -> None:
    tz = timezone(timedelta(hours=-5))
    start = datetime(2025, 5, 10, 8, 15, 30, tzinfo=tz)
    assert period_end(start, "month") == datetime(2025, 6, 10, 8, 15, 30, tzinfo=tz)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        period_end(datetime(2025, 1, 1), "month")


def test_anchor_day_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="anchor_day"):
        add_months(datetime(2025, 1, 1, tzinfo=UTC), 1, anchor_day=32)


@given(start=moments, interval=intervals)
def test_period_never_goes_backwards(start: datetime, interval: str) -> None:
    end = period_end(start, interval)  # type: ignore[arg-type]
    assert end > start
    days = (end - start).days
    if interval == "month":
        assert 28 <= days <= 31
    else:
        assert 365 <= days <= 366
    assert end.time() == start.time()
    assert end.day <= start.day


@given(start=moments, interval=intervals, periods=st.integers(min_value=1, max_value=40))
def test_consecutive_periods_strictly_advance_and_keep_the_anchor(
    start: datetime, interval: str, periods: int
) -> None:
    anchor = start.day
    current = start
    for _ in range(periods):
        following = period_end(current, interval, anchor_day=anchor)  # type: ignore[arg-type]
        assert following > current
        # The anchor day is kept whenever the month has it, else the month's last day.
        last_day = calendar.monthrange(following.year, following.month)[1]
        assert following.day == min(anchor, last_day)
        current = following


@given(start=moments, months=st.integers(min_value=0, max_value=1200))
def test_adding_more_months_never_lands_earlier(start: datetime, months: int) -> None:
    assert add_months(start, months) <= add_months(start, months + 1)
