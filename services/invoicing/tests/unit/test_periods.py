"""Billing periods: one calendar month or year, clamped to the end of short months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicing.domain.periods import period_end


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
        (datetime(2025, 12, 5, tzinfo=UTC), "month", datetime(2026, 1, 5, tzinfo=UTC)),
        (datetime(2024, 2, 29, tzinfo=UTC), "year", datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2025, 6, 1, tzinfo=UTC), "year", datetime(2026, 6, 1, tzinfo=UTC)),
    ],
)
def test_period_end(start: datetime, interval: str, end: datetime) -> None:
    assert period_end(start, interval) == end  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        period_end(datetime(2025, 1, 1), "month")


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]),
    ),
    st.sampled_from(["month", "year"]),
)
def test_a_period_is_one_calendar_step_long(start: datetime, interval: str) -> None:
    end = period_end(start, interval)  # type: ignore[arg-type]
    months = (end.year - start.year) * 12 + end.month - start.month
    assert months == (1 if interval == "month" else 12)
    assert end > start
    assert end.day <= start.day
    assert (end.hour, end.minute, end.tzinfo) == (start.hour, start.minute, start.tzinfo)
