"""Billing period arithmetic: the same day next month (or year), clamped to the month's end.

A subscription started on 31 January renews on 28 (or 29) February, then on 31 March: the
``anchor_day`` remembers the day the cycle started on so that one short month does not pull
every later renewal earlier. Time of day and time zone are kept as they are.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from billing_events.contract.common import Interval

_MONTHS_PER_INTERVAL: dict[str, int] = {"month": 1, "year": 12}


def add_months(moment: datetime, months: int, *, anchor_day: int | None = None) -> datetime:
    """``moment`` moved by ``months`` calendar months, on ``anchor_day`` (default: its own day)
    or on the last day of the target month when that month is shorter."""
    day = anchor_day if anchor_day is not None else moment.day
    if not 1 <= day <= 31:
        raise ValueError(f"anchor_day must be 1..31, got {day}")
    index = moment.year * 12 + (moment.month - 1) + months
    year, month_index = divmod(index, 12)
    month = month_index + 1
    last_day = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(day, last_day))


def period_end(start: datetime, interval: Interval, *, anchor_day: int | None = None) -> datetime:
    """The end of the billing period that begins at ``start``; always later than ``start``."""
    if start.tzinfo is None:
        raise ValueError("billing periods are computed on timezone-aware datetimes")
    return add_months(start, _MONTHS_PER_INTERVAL[interval], anchor_day=anchor_day)
