"""Each merchant's "now": its test clock's frozen time, or the wall clock's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from subscriptions.application.ports import Clock, FrozenClocks

if TYPE_CHECKING:
    from asyncpg import Connection


@dataclass(frozen=True)
class MerchantTime:
    """Implements ``ports.MerchantClock``."""

    clocks: FrozenClocks
    wall_clock: Clock

    async def now(self, merchant_id: str, *, conn: Connection | None = None) -> datetime:
        frozen = await self.clocks.frozen_time(merchant_id, conn=conn)
        return frozen if frozen is not None else self.wall_clock()
