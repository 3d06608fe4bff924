"""Renewals: what the passing of a merchant's time does to its subscriptions.

A scan asks the renewal schedule which subscriptions are due at their merchant's current time
and decides ``RenewDuePeriods`` on each, in a transaction of its own: every elapsed period is
renewed in order (``SubscriptionRenewed``), or the subscription ends where a cancellation was
scheduled. The aggregate decides from its own state, so a scan that runs twice, two scans that
race (two replicas, a periodic scan meeting a clock-triggered one) or a scan restarted after a
crash renew each period exactly once: the loser of a race gets a concurrency conflict, reads
the stream again and finds nothing due.

Scans run when a merchant's test clock moves (``ClockEventHandler``) and periodically, for
merchants living in wall-clock time (see ``adapters.renewal_worker``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import structlog

from billing_events.contract.events import TestClockAdvanced
from billing_events.envelope import Envelope
from billing_events.store import TransactionTooOld
from subscriptions.application.aggregates import SUBSCRIPTIONS, Context, load
from subscriptions.application.ports import (
    Clock,
    DueSubscription,
    MerchantClock,
    Transactions,
)
from subscriptions.application.writer import Writer
from subscriptions.domain.subscription import RenewDuePeriods

if TYPE_CHECKING:
    from asyncpg import Connection

log = structlog.stdlib.get_logger(__name__)

# A fresh transaction is only "too old" if another one took its id first and appended to the
# same stream meanwhile; running it again gets a newer id.
TRANSACTION_ATTEMPTS = 3


@dataclass(frozen=True)
class ScanCause:
    """Why a scan runs: the event that triggered it, so that what it decides can be traced
    back (the renewals carry its correlation id and have it as causation)."""

    correlation_id: uuid.UUID
    causation_id: uuid.UUID

    @classmethod
    def of(cls, envelope: Envelope) -> ScanCause:
        return cls(envelope.correlation_id, envelope.event_id)


@dataclass
class ScanResult:
    renewed: list[str] = field(default_factory=list)  # subscriptions that got events
    events: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RenewalScan:
    writer: Writer
    clock: MerchantClock
    wall_clock: Clock
    transactions: Transactions
    batch_size: int = 100

    async def run(
        self, merchant_id: str | None = None, *, cause: ScanCause | None = None
    ) -> ScanResult:
        """Renew every subscription due now (only ``merchant_id``'s if given).

        A subscription whose decision fails, or finds nothing to do, is not tried again in
        this scan: the next scan does, so one bad stream cannot stall the others nor loop.
        """
        result = ScanResult()
        settled: list[str] = []  # not to be tried again in this scan
        while True:
            due = await self.writer.schedule.due(
                self.wall_clock(),
                merchant_id=merchant_id,
                exclude=settled,
                limit=self.batch_size,
            )
            if not due:
                return result
            for item in due:
                try:
                    appended = await self._renew(item, cause)
                except Exception:
                    log.exception(
                        "renewal failed; the next scan retries",
                        subscription_id=item.subscription_id,
                        merchant_id=item.merchant_id,
                    )
                    result.failed.append(item.subscription_id)
                    settled.append(item.subscription_id)
                    continue
                if appended:
                    result.renewed.append(item.subscription_id)
                    result.events += len(appended)
                else:
                    settled.append(item.subscription_id)

    async def _renew(self, item: DueSubscription, cause: ScanCause | None) -> list[Envelope]:
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                async with self.transactions.transaction() as conn:
                    return await self._renew_in(conn, item, cause)
            except TransactionTooOld:
                if attempt == TRANSACTION_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _renew_in(
        self, conn: Connection, item: DueSubscription, cause: ScanCause | None
    ) -> list[Envelope]:
        now = await self.clock.now(item.merchant_id, conn=conn)
        context = Context(
            merchant_id=item.merchant_id,
            # The passing of time starts a conversation of its own (invoicing bills the
            # renewal under it) unless a clock advance caused it.
            correlation_id=cause.correlation_id if cause is not None else uuid.uuid4(),
            causation_id=cause.causation_id if cause is not None else None,
            now=now,
        )
        appended = await self.writer.execute(
            SUBSCRIPTIONS, item.subscription_id, RenewDuePeriods(), context, conn=conn
        )
        if appended:
            log.info(
                "subscription renewed",
                subscription_id=item.subscription_id,
                merchant_id=item.merchant_id,
                events=[e.event_type for e in appended],
                merchant_now=now.isoformat(),
            )
        else:
            # Someone else renewed it first, or the schedule was behind its stream: bring the
            # schedule back in step so that the subscription stops looking due.
            await self._resync(conn, item)
        return appended

    async def _resync(self, conn: Connection, item: DueSubscription) -> None:
        await self._schedule_from_stream(conn, item.subscription_id, item.merchant_id)

    async def adopt(self, subscriptions: Sequence[tuple[str, str]]) -> int:
        """Put ``(subscription_id, merchant_id)`` pairs the schedule does not know on it, from
        their streams (subscriptions written before the schedule existed); returns how many."""
        for subscription_id, merchant_id in subscriptions:
            async with self.transactions.transaction() as conn:
                await self._schedule_from_stream(conn, subscription_id, merchant_id)
        return len(subscriptions)

    async def _schedule_from_stream(
        self, conn: Connection, subscription_id: str, merchant_id: str
    ) -> None:
        loaded = await load(
            self.writer.store,
            SUBSCRIPTIONS,
            SUBSCRIPTIONS.stream_id(subscription_id),
            merchant_id=merchant_id,
            conn=conn,
        )
        if loaded.state is not None:
            await self.writer.schedule.record(merchant_id, loaded.state, loaded.version, conn=conn)


class RenewalRequests(Protocol):
    """Asks for a scan of one merchant's subscriptions, soon, outside the caller's
    transaction (a scan opens one transaction per subscription)."""

    def request(self, merchant_id: str, cause: ScanCause) -> None: ...


@dataclass(frozen=True)
class ClockEventHandler:
    """``handle(envelope, conn)`` for the idempotent consumer of ``billing.clocks.events``.

    A merchant's clock moved: whatever fell due in between must happen now. The scan is only
    requested here; it runs after this message's transaction, so a long scan never holds it
    open. Should the process die before the scan, the next periodic scan does the work.
    """

    renewals: RenewalRequests

    def acts_on(self, envelope: Envelope) -> bool:
        return isinstance(envelope.data, TestClockAdvanced)

    async def __call__(self, envelope: Envelope, conn: Connection) -> None:
        if isinstance(envelope.data, TestClockAdvanced):
            self.renewals.request(envelope.merchant_id, ScanCause.of(envelope))
