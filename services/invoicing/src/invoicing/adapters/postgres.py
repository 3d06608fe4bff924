"""PostgreSQL adapters of the invoicing service: transactions, invoice number counters, pending
charges and the subscriptions' billing terms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.postgres import Migration
from invoicing.application.invoices import Context
from invoicing.application.ports import PendingCharge, TermsChange
from invoicing.domain.billing_terms import SubscriptionTerms

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
    Migration(
        "invoicing",
        3,
        """
        -- What renewals are billed with, as the subscription events told it (see
        -- invoicing.domain.billing_terms); each part with the stream version that set it.
        CREATE TABLE subscription_terms (
            merchant_id text NOT NULL,
            subscription_id text NOT NULL,
            customer_id text,
            plan jsonb,
            plan_version integer NOT NULL DEFAULT 0 CHECK (plan_version >= 0),
            -- the card's token and summary (CardSummary): never a card number or CVC
            payment_method jsonb,
            payment_method_version integer NOT NULL DEFAULT 0
                CHECK (payment_method_version >= 0),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (merchant_id, subscription_id)
        )
        """,
    ),
    Migration(
        "invoicing",
        4,
        """
        -- When the cause of the charge happened in its merchant's time (a test clock may run
        -- ahead), so that a recovered charge is dated as the worker would have dated it.
        ALTER TABLE pending_charges ADD COLUMN caused_at timestamptz
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
                (invoice_id, merchant_id, correlation_id, causation_id, caused_at,
                 payment_method, due_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (invoice_id) DO NOTHING
            """,
            pending.invoice_id,
            pending.context.merchant_id,
            pending.context.correlation_id,
            pending.context.causation_id,
            pending.context.caused_at,
            pending.payment_method.model_dump(mode="json"),
            pending.due_at,
        )

    async def remove(self, conn: asyncpg.Connection, invoice_id: str) -> None:
        await conn.execute("DELETE FROM pending_charges WHERE invoice_id = $1", invoice_id)

    async def find(self, invoice_id: str) -> PendingCharge | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM pending_charges WHERE invoice_id = $1", invoice_id
        )
        return None if row is None else _pending_charge(row)

    async def due(self, now: datetime, limit: int) -> list[PendingCharge]:
        rows = await self._pool.fetch(
            "SELECT * FROM pending_charges WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
            now,
            limit,
        )
        return [_pending_charge(row) for row in rows]

    async def postpone(self, invoice_id: str, until: datetime) -> None:
        await self._pool.execute(
            "UPDATE pending_charges SET due_at = $2 WHERE invoice_id = $1", invoice_id, until
        )


def _pending_charge(row: asyncpg.Record) -> PendingCharge:
    return PendingCharge(
        invoice_id=row["invoice_id"],
        payment_method=CardSummary.model_validate(row["payment_method"]),
        context=Context(
            row["merchant_id"], row["correlation_id"], row["causation_id"], row["caused_at"]
        ),
        due_at=row["due_at"],
    )


class PostgresSubscriptionTerms:
    """One row per (merchant, subscription); changed under a row lock in the caller's
    transaction, so two changes of one subscription never overwrite each other."""

    async def change(
        self,
        conn: asyncpg.Connection,
        merchant_id: str,
        subscription_id: str,
        change: TermsChange,
    ) -> SubscriptionTerms:
        if not conn.is_in_transaction():
            raise RuntimeError("terms are changed inside a transaction (the row lock)")
        # The row must exist to be locked: two first changes would otherwise both insert.
        await conn.execute(
            """
            INSERT INTO subscription_terms (merchant_id, subscription_id) VALUES ($1, $2)
            ON CONFLICT (merchant_id, subscription_id) DO NOTHING
            """,
            merchant_id,
            subscription_id,
        )
        row = await conn.fetchrow(
            "SELECT * FROM subscription_terms WHERE merchant_id = $1 AND subscription_id = $2 "
            "FOR UPDATE",
            merchant_id,
            subscription_id,
        )
        assert row is not None
        current = _terms(row)
        changed = change(current)
        if changed != current:
            await conn.execute(
                """
                UPDATE subscription_terms
                SET customer_id = $3, plan = $4, plan_version = $5, payment_method = $6,
                    payment_method_version = $7, updated_at = now()
                WHERE merchant_id = $1 AND subscription_id = $2
                """,
                merchant_id,
                subscription_id,
                changed.customer_id,
                None if changed.plan is None else changed.plan.model_dump(mode="json"),
                changed.plan_version,
                None
                if changed.payment_method is None
                else changed.payment_method.model_dump(mode="json"),
                changed.payment_method_version,
            )
        return changed

    async def find(
        self, conn: asyncpg.Connection, merchant_id: str, subscription_id: str
    ) -> SubscriptionTerms | None:
        row = await conn.fetchrow(
            "SELECT * FROM subscription_terms WHERE merchant_id = $1 AND subscription_id = $2",
            merchant_id,
            subscription_id,
        )
        return None if row is None else _terms(row)


def _terms(row: asyncpg.Record) -> SubscriptionTerms:
    plan, card = row["plan"], row["payment_method"]
    return SubscriptionTerms(
        subscription_id=row["subscription_id"],
        customer_id=row["customer_id"],
        plan=None if plan is None else PlanSnapshot.model_validate(plan),
        plan_version=row["plan_version"],
        payment_method=None if card is None else CardSummary.model_validate(card),
        payment_method_version=row["payment_method_version"],
    )
