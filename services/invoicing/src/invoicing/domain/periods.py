"""Billing period arithmetic: the same day next month (or year), clamped to the month's end.

A period that starts on 31 January ends on 28 (or 29) February; time of day and time zone are
kept. The subscriptions service computes its periods the same way.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from billing_events.contract.common import Interval

_MONTHS_PER_INTERVAL: dict[str, int] = {"month": 1, "year": 12}


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by ``months`` calendar months, on the same day or the month's last."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month_index = divmod(index, 12)
    last_day = calendar.monthrange(year, month_index + 1)[1]
    return moment.replace(year=year, month=month_index + 1, day=min(moment.day, last_day))


def period_end(start: datetime, interval: Interval) -> datetime:
    """The end (exclusive) of the billing period that begins at ``start``."""
    if start.tzinfo is None:
        raise ValueError("billing periods are computed on timezone-aware datetimes")
    return add_months(start, _MONTHS_PER_INTERVAL[interval])
