"""What the application needs from the outside world, as protocols the adapters implement.

``conn`` is the PostgreSQL connection of the consumer's inbox transaction: passing it through
makes every write of a handler (appended events, outbox messages, invoice links) commit or
roll back together with the record that the message was processed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from billing_events.envelope import Envelope

if TYPE_CHECKING:
    from asyncpg import Connection

Clock = Callable[[], datetime]
"""Returns the current time, UTC-aware. Tests and test clocks inject their own."""


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
