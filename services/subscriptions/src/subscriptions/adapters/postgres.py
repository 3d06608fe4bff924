"""PostgreSQL adapters: this service's own tables and the transactional outbox port."""

from __future__ import annotations

import asyncpg

from billing_events.envelope import Envelope
from billing_events.outbox import enqueue_envelope
from billing_events.postgres import Migration
from subscriptions.application.ports import InvoiceLink

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "subscriptions",
        1,
        """
        CREATE TABLE invoice_links (
            merchant_id text NOT NULL,
            invoice_id text NOT NULL,
            subscription_id text NOT NULL,
            reason text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (merchant_id, invoice_id)
        )
        """,
    ),
    # Development databases already had version 1 when the period start was added.
    Migration(
        "subscriptions",
        2,
        "ALTER TABLE invoice_links ADD COLUMN IF NOT EXISTS period_start timestamptz",
    ),
)


class PostgresInvoiceLinks:
    async def remember(
        self, merchant_id: str, link: InvoiceLink, *, conn: asyncpg.Connection
    ) -> None:
        await conn.execute(
            "INSERT INTO invoice_links "
            "(merchant_id, invoice_id, subscription_id, reason, period_start) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, invoice_id) DO NOTHING",
            merchant_id,
            link.invoice_id,
            link.subscription_id,
            link.reason,
            link.period_start,
        )

    async def find(
        self, merchant_id: str, invoice_id: str, *, conn: asyncpg.Connection
    ) -> InvoiceLink | None:
        row = await conn.fetchrow(
            "SELECT invoice_id, subscription_id, reason, period_start FROM invoice_links "
            "WHERE merchant_id = $1 AND invoice_id = $2",
            merchant_id,
            invoice_id,
        )
        if row is None:
            return None
        return InvoiceLink(
            row["invoice_id"], row["subscription_id"], row["reason"], row["period_start"]
        )


class TransactionalOutbox:
    """Publishes through the outbox table: the message leaves only if the transaction commits."""

    async def publish(self, envelope: Envelope, *, conn: asyncpg.Connection) -> None:
        await enqueue_envelope(conn, envelope)
