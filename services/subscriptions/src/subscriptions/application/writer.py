"""The one way the handlers write to this service's streams.

Two tables follow streams: the renewal schedule (when each subscription next falls due) and
the test clocks (each merchant's frozen time). Both are updated in the transaction of every
append to their streams, so they can never disagree with the event store; routing every
write through :class:`Writer` means no handler can forget to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from billing_events.envelope import Envelope
from subscriptions.application.aggregates import (
    CLOCKS,
    SUBSCRIPTIONS,
    AfterAppend,
    Aggregate,
    Context,
    execute,
)
from subscriptions.application.ports import EventStore, FrozenClocks, RenewalSchedule
from subscriptions.domain.clock import ClockState
from subscriptions.domain.subscription import SubscriptionState

if TYPE_CHECKING:
    from asyncpg import Connection

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class Writer:
    store: EventStore
    schedule: RenewalSchedule
    clocks: FrozenClocks

    async def execute(
        self,
        aggregate: Aggregate[S, C],
        entity_id: str,
        command: C,
        context: Context,
        *,
        conn: Connection,
    ) -> list[Envelope]:
        """``aggregates.execute`` on the caller's transaction, keeping the tables in step."""
        return await execute(
            self.store,
            aggregate,
            entity_id,
            command,
            context,
            conn=conn,
            after_append=self._follower(aggregate),
        )

    def _follower(self, aggregate: Aggregate[S, Any]) -> AfterAppend[S] | None:
        if aggregate is SUBSCRIPTIONS:
            return cast("AfterAppend[S]", self._schedule_subscription)
        if aggregate is CLOCKS:
            return cast("AfterAppend[S]", self._record_clock)
        return None

    async def _schedule_subscription(
        self, merchant_id: str, state: SubscriptionState, version: int, conn: Connection
    ) -> None:
        if state is not None:
            await self.schedule.record(merchant_id, state, version, conn=conn)

    async def _record_clock(
        self, _merchant_id: str, state: ClockState, version: int, conn: Connection
    ) -> None:
        if state is not None:
            await self.clocks.record(state, version, conn=conn)
