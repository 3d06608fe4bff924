"""Loading and changing invoice streams: the invoice decider on top of the event store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from billing_events import topics
from billing_events.decider import Decider, Loaded, execute, load
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.store import PostgresEventStore
from invoicing.domain import invoice
from invoicing.domain.invoice import Invoice, InvoiceCommand

INVOICES: Decider[Invoice, InvoiceCommand] = Decider(
    initial=invoice.INITIAL, evolve=invoice.evolve, decide=invoice.decide
)


def invoice_stream(invoice_id: str) -> str:
    return topics.stream_id("invoice", invoice_id)


@dataclass(frozen=True)
class Context:
    """Where a change comes from; copied onto every event it produces.

    ``caused_at`` is when the cause happened in its merchant's time. A merchant's test clock
    can run ahead of the wall clock (renewals a month from now, on demand), and what such an
    event causes must not be dated before it: see :meth:`effect_time`.
    """

    merchant_id: str
    correlation_id: uuid.UUID
    causation_id: uuid.UUID
    caused_at: datetime | None = None

    @classmethod
    def caused_by(cls, trigger: Envelope) -> Context:
        return cls(
            trigger.merchant_id, trigger.correlation_id, trigger.event_id, trigger.occurred_at
        )

    def effect_time(self, now: datetime) -> datetime:
        """When an effect of this cause happens: ``now``, unless the cause is dated later.

        Without a test clock the cause is in the past and this is simply ``now``; with one
        ahead of the wall clock, effects take the cause's time, so the merchant's invoices,
        charges and payments read in the order they happened.
        """
        if self.caused_at is None or now >= self.caused_at:
            return now
        return self.caused_at

    def envelopes(
        self, stream_id: str, events: list[EventData], occurred_at: datetime
    ) -> list[Envelope]:
        return [
            new_envelope(
                data,
                stream_id=stream_id,
                merchant_id=self.merchant_id,
                correlation_id=self.correlation_id,
                causation_id=self.causation_id,
                occurred_at=occurred_at,
            )
            for data in events
        ]


@dataclass(frozen=True)
class InvoiceStore:
    store: PostgresEventStore

    async def load(self, invoice_id: str, conn: asyncpg.Connection) -> Loaded[Invoice]:
        return await load(self.store, INVOICES, invoice_stream(invoice_id), conn=conn)

    async def append(
        self,
        invoice_id: str,
        expected_version: int,
        events: list[EventData],
        context: Context,
        occurred_at: datetime,
        conn: asyncpg.Connection,
    ) -> list[Envelope]:
        stream = invoice_stream(invoice_id)
        return await self.store.append(
            stream, expected_version, context.envelopes(stream, events, occurred_at), conn=conn
        )

    async def execute(
        self,
        invoice_id: str,
        command: InvoiceCommand,
        context: Context,
        occurred_at: datetime,
        conn: asyncpg.Connection,
    ) -> list[Envelope]:
        """Decide ``command`` on the invoice's current state and append; retries conflicts."""
        return await execute(
            self.store,
            INVOICES,
            invoice_stream(invoice_id),
            command,
            merchant_id=context.merchant_id,
            correlation_id=context.correlation_id,
            causation_id=context.causation_id,
            conn=conn,
            occurred_at=occurred_at,
        )
