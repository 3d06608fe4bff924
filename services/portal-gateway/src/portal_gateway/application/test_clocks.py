"""Operators move a merchant's test clock (development and tests), like Stripe's test clocks.

The clock belongs to the subscriptions service (stream ``clock-<merchant_id>``): the gateway
sends ``AdvanceTestClock`` and answers once its projection has seen ``TestClockAdvanced`` (the
clock's new time) or the rejection (``clock_backwards``, ``clock_advance_too_far``,
``test_clocks_disabled``). The renewals an advance makes due happen after that, asynchronously:
watch the subscription or its invoices to see them billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from billing_events.contract.commands import AdvanceTestClock
from billing_events.topics import stream_id
from portal_gateway.application.errors import (
    InvalidRequest,
    ResourceMissing,
    StillProcessing,
    rejection_error,
)
from portal_gateway.application.ports import CommandGateway, Merchant
from portal_gateway.application.views import TestClockView
from portal_gateway.domain.outcomes import TIMEOUT_CODE


class ClockReads(Protocol):
    async def merchant(self, merchant_id: str) -> Merchant | None: ...

    async def test_clock(self, merchant_id: str) -> TestClockView | None: ...


@dataclass(frozen=True)
class MerchantClock:
    """What time a merchant's subscriptions live in: ``frozen_time``, or the wall clock when
    no test clock was ever set (None)."""

    merchant_id: str
    frozen_time: datetime | None


def clock_stream(merchant_id: str) -> str:
    return stream_id("clock", merchant_id)


class TestClocks:
    __test__ = False  # a use case, not a pytest test class

    def __init__(
        self, *, commands: CommandGateway, reads: ClockReads, timeout: float = 5.0
    ) -> None:
        self._commands = commands
        self._reads = reads
        self._timeout = timeout

    async def current(self, merchant_id: str) -> MerchantClock:
        await self._require_merchant(merchant_id)
        return await self._clock(merchant_id)

    async def advance(self, merchant_id: str, advance_to: datetime) -> MerchantClock:
        """Set the merchant's clock to ``advance_to`` (aware); only forward once set."""
        if advance_to.tzinfo is None or advance_to.utcoffset() is None:
            raise InvalidRequest(
                "advance_to needs a timezone, e.g. 2030-01-31T00:00:00Z.", param="advance_to"
            )
        await self._require_merchant(merchant_id)
        command = AdvanceTestClock(merchant_id=merchant_id, advance_to=advance_to.astimezone(UTC))
        outcome = await self._commands.send(
            command,
            stream_id=clock_stream(merchant_id),
            merchant_id=merchant_id,
            timeout=self._timeout,
        )
        if outcome.accepted:
            return await self._clock(merchant_id)
        if outcome.code == TIMEOUT_CODE:
            raise StillProcessing(
                outcome.message or "The clock advance is queued.",
                object_type="test_clock",
                resource_id=merchant_id,
                resource=await self._clock(merchant_id),
            )
        raise rejection_error(outcome.code, outcome.message)

    async def _clock(self, merchant_id: str) -> MerchantClock:
        clock = await self._reads.test_clock(merchant_id)
        return MerchantClock(
            merchant_id=merchant_id, frozen_time=clock.frozen_time if clock else None
        )

    async def _require_merchant(self, merchant_id: str) -> None:
        if await self._reads.merchant(merchant_id) is None:
            raise ResourceMissing(f"No such merchant: {merchant_id!r}.", param="merchant_id")
