"""PostgreSQL adapters of the invoicing service: transactions and invoice number counters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from billing_events.contract.common import CardSummary
from billing_events.postgres import Migration
from invoicing.application.invoices import Context
from invoicing.application.ports import PendingCharge

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "invoicing",
        1,
        """
        CREATE TABLE invoice_number_counters (
            merchant_id text PRIMARY KEY,
            last_sequence bigint NOT NULL CHECK (last_sequence > 0),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
    ),
    Migration(
        "invoicing",
        2,
        """
        CREATE TABLE pending_charges (
            invoice_id text PRIMARY KEY,
            merchant_id text NOT NULL,
            correlation_id uuid NOT NULL,
            causation_id uuid NOT NULL,
            -- the card's token and summary (CardSummary): never a card number or CVC
            payment_method jsonb NOT NULL,
            due_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX pending_charges_due ON pending_charges (due_at);
        """,
    ),
)


class PoolTransactions:
    """Transactions on connections of the service's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn


class PostgresInvoiceNumbers:
    """One counter row per merchant, incremented in the caller's transaction.

    The row stays locked until that transaction ends, which serialises a merchant's invoice
    numbering (and only that merchant's): two invoices never get the same number, and a
    rolled-back issue leaves no gap.
    """

    async def next_sequence(self, conn: asyncpg.Connection, merchant_id: str) -> int:
        if not conn.is_in_transaction():
            raise RuntimeError("an invoice number must be allocated in the issuing transaction")
        value = await conn.fetchval(
            """
            INSERT INTO invoice_number_counters AS c (merchant_id, last_sequence)
            VALUES ($1, 1)
            ON CONFLICT (merchant_id)
            DO UPDATE SET last_sequence = c.last_sequence + 1, updated_at = now()
            RETURNING last_sequence
            """,
            merchant_id,
        )
        return int(value)


class PostgresPendingCharges:
    """Issued invoices whose charge outcome is not recorded yet (see ``application.recovery``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, conn: asyncpg.Connection, pending: PendingCharge) -> None:
        await conn.execute(
            """
            INSERT INTO pending_charges
                (invoice_id, merchant_id, correlation_id, causation_id, payment_method, due_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (invoice_id) DO NOTHING
            """,
            pending.invoice_id,
            pending.context.merchant_id,
            pending.context.correlation_id,
            pending.context.causation_id,
            pending.payment_method.model_dump(mode="json"),
            pending.due_at,
        )

    async def remove(self, conn: asyncpg.Connection, invoice_id: str) -> None:
        await conn.execute("DELETE FROM pending_charges WHERE invoice_id = $1", invoice_id)

    async def due(self, now: datetime, limit: int) -> list[PendingCharge]:
        rows = await self._pool.fetch(
            "SELECT * FROM pending_charges WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
            now,
            limit,
        )
        return [
            PendingCharge(
                invoice_id=row["invoice_id"],
                payment_method=CardSummary.model_validate(row["payment_method"]),
                context=Context(row["merchant_id"], row["correlation_id"], row["causation_id"]),
                due_at=row["due_at"],
            )
            for row in rows
        ]

    async def postpone(self, invoice_id: str, until: datetime) -> None:
        await self._pool.execute(
            "UPDATE pending_charges SET due_at = $2 WHERE invoice_id = $1", invoice_id, until
        )
