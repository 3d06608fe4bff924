"""What the application needs from the outside world, as protocols the adapters implement.

``conn`` is the PostgreSQL connection of the consumer's inbox transaction: passing it through
makes every write of a handler (appended events, outbox messages, invoice links) commit or
roll back together with the record that the message was processed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from billing_events.envelope import Envelope
from subscriptions.domain.clock import TestClock
from subscriptions.domain.subscription import Subscription

if TYPE_CHECKING:
    from asyncpg import Connection

Clock = Callable[[], datetime]
"""Returns the wall-clock time, UTC-aware. Tests inject their own."""


class MerchantClock(Protocol):
    """A merchant's current time: its test clock's if it has one, else the wall clock's."""

    async def now(self, merchant_id: str, *, conn: Connection | None = None) -> datetime: ...


class EventStore(Protocol):
    """The part of ``billing_events.store.PostgresEventStore`` the handlers use."""

    async def read_stream(
        self, stream_id: str, from_version: int = 1, *, conn: Connection | None = None
    ) -> list[Envelope]: ...

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Envelope],
        *,
        conn: Connection | None = None,
    ) -> list[Envelope]: ...


class Outbox(Protocol):
    """Publishes a message that is not stored in a stream (a CommandRejected), transactionally."""

    async def publish(self, envelope: Envelope, *, conn: Connection) -> None: ...


@dataclass(frozen=True)
class InvoiceLink:
    """Which subscription an invoice bills, and why it was issued (``InvoiceIssued.reason``).

    Payment events name only the invoice (``ChargeFailed``) or lack the reason
    (``InvoicePaid``), so the service keeps this much of every ``InvoiceIssued`` it sees.
    """

    invoice_id: str
    subscription_id: str
    reason: str
    period_start: datetime | None = None


class InvoiceLinks(Protocol):
    async def remember(self, merchant_id: str, link: InvoiceLink, *, conn: Connection) -> None:
        """Store the link; storing the same invoice again changes nothing."""

    async def find(
        self, merchant_id: str, invoice_id: str, *, conn: Connection
    ) -> InvoiceLink | None: ...


class FrozenClocks(Protocol):
    """The latest time of each merchant's test clock, kept with the clock's stream."""

    async def frozen_time(
        self, merchant_id: str, *, conn: Connection | None = None
    ) -> datetime | None: ...

    async def record(self, clock: TestClock, version: int, *, conn: Connection) -> None:
        """Store the clock as of stream ``version``; an older version never overwrites."""


@dataclass(frozen=True)
class DueSubscription:
    subscription_id: str
    merchant_id: str
    due_at: datetime


class RenewalSchedule(Protocol):
    """When each subscription next falls due, so that a scan finds the due ones without
    reading every stream. Kept in the transaction of every append to a subscription stream."""

    async def record(
        self, merchant_id: str, subscription: Subscription, version: int, *, conn: Connection
    ) -> None:
        """Store the subscription as of stream ``version``; an older version never
        overwrites a newer one."""

    async def due(
        self,
        wall_clock_now: datetime,
        *,
        merchant_id: str | None = None,
        exclude: Sequence[str] = (),
        limit: int = 100,
    ) -> list[DueSubscription]:
        """Subscriptions due at their merchant's current time (its test clock's, or
        ``wall_clock_now``), earliest first; only ``merchant_id``'s if given."""


class Transactions(Protocol):
    """Opens a database transaction of its own, for work no consumer's transaction holds."""

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...
