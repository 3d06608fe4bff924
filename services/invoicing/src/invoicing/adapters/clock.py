"""The wall clock. Tests and per-merchant test clocks inject their own callable instead."""

from __future__ import annotations

from datetime import UTC, datetime


def system_clock() -> datetime:
    return datetime.now(UTC)
