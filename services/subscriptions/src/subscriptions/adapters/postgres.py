"""PostgreSQL adapters: this service's own tables and the transactional outbox port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from billing_events.envelope import Envelope
from billing_events.outbox import enqueue_envelope
from billing_events.postgres import Migration
from subscriptions.application.ports import DueSubscription, InvoiceLink
from subscriptions.domain.clock import TestClock
from subscriptions.domain.subscription import Subscription, due_at

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
    # Each merchant's test clock as of its stream's latest version (see PostgresFrozenClocks).
    Migration(
        "subscriptions",
        3,
        """
        CREATE TABLE test_clocks (
            merchant_id text PRIMARY KEY,
            frozen_time timestamptz NOT NULL,
            stream_version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
    ),
    # When each subscription next falls due (see PostgresRenewalSchedule).
    Migration(
        "subscriptions",
        4,
        """
        CREATE TABLE renewal_schedule (
            subscription_id text PRIMARY KEY,
            merchant_id text NOT NULL,
            status text NOT NULL,
            current_period_end timestamptz,
            cancel_at timestamptz,
            due_at timestamptz,
            stream_version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX renewal_schedule_due ON renewal_schedule (due_at)
            WHERE due_at IS NOT NULL;
        CREATE INDEX renewal_schedule_merchant_due ON renewal_schedule (merchant_id, due_at)
            WHERE due_at IS NOT NULL
        """,
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


class PostgresFrozenClocks:
    """``test_clocks``: one row per merchant that ever advanced its clock."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def frozen_time(
        self, merchant_id: str, *, conn: asyncpg.Connection | None = None
    ) -> datetime | None:
        executor = conn if conn is not None else self._pool
        value = await executor.fetchval(
            "SELECT frozen_time FROM test_clocks WHERE merchant_id = $1", merchant_id
        )
        return value if isinstance(value, datetime) else None

    async def record(self, clock: TestClock, version: int, *, conn: asyncpg.Connection) -> None:
        await conn.execute(
            """
            INSERT INTO test_clocks (merchant_id, frozen_time, stream_version)
            VALUES ($1, $2, $3)
            ON CONFLICT (merchant_id) DO UPDATE
               SET frozen_time = EXCLUDED.frozen_time,
                   stream_version = EXCLUDED.stream_version,
                   updated_at = now()
             WHERE test_clocks.stream_version <= EXCLUDED.stream_version
            """,
            clock.merchant_id,
            clock.frozen_time,
            version,
        )


class PostgresRenewalSchedule:
    """``renewal_schedule``: each subscription's status, period end, scheduled cancellation
    and the moment it next falls due (``domain.subscription.due_at``).

    A row is written in the transaction of each append to its stream, tagged with the stream
    version it reflects; an older version never overwrites a newer one.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(
        self,
        merchant_id: str,
        subscription: Subscription,
        version: int,
        *,
        conn: asyncpg.Connection,
    ) -> None:
        await conn.execute(
            """
            INSERT INTO renewal_schedule (subscription_id, merchant_id, status,
                                          current_period_end, cancel_at, due_at, stream_version)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (subscription_id) DO UPDATE
               SET merchant_id = EXCLUDED.merchant_id,
                   status = EXCLUDED.status,
                   current_period_end = EXCLUDED.current_period_end,
                   cancel_at = EXCLUDED.cancel_at,
                   due_at = EXCLUDED.due_at,
                   stream_version = EXCLUDED.stream_version,
                   updated_at = now()
             WHERE renewal_schedule.stream_version <= EXCLUDED.stream_version
            """,
            subscription.subscription_id,
            merchant_id,
            subscription.status.value,
            subscription.current_period_end,
            subscription.cancel_at,
            due_at(subscription),
            version,
        )

    async def due(
        self,
        wall_clock_now: datetime,
        *,
        merchant_id: str | None = None,
        exclude: Sequence[str] = (),
        limit: int = 100,
    ) -> list[DueSubscription]:
        rows = await self._pool.fetch(
            """
            SELECT s.subscription_id, s.merchant_id, s.due_at
              FROM renewal_schedule s
              LEFT JOIN test_clocks c ON c.merchant_id = s.merchant_id
             WHERE s.due_at IS NOT NULL
               AND s.due_at <= coalesce(c.frozen_time, $1)
               AND ($2::text IS NULL OR s.merchant_id = $2)
               AND s.subscription_id <> ALL($3::text[])
             ORDER BY s.due_at, s.subscription_id
             LIMIT $4
            """,
            wall_clock_now,
            merchant_id,
            list(exclude),
            limit,
        )
        return [DueSubscription(r["subscription_id"], r["merchant_id"], r["due_at"]) for r in rows]

    async def is_empty(self) -> bool:
        return not await self._pool.fetchval("SELECT EXISTS (SELECT 1 FROM renewal_schedule)")


class PoolTransactions:
    """A transaction on a connection of its own from the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn


async def unscheduled_subscriptions(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    """``(subscription_id, merchant_id)`` of the subscription streams the renewal schedule
    does not know: those written before it existed. Reads the whole event store: run it once,
    when the schedule is still empty."""
    prefix = "subscription-"
    rows = await pool.fetch(
        """
        SELECT substr(e.stream_id, length($1) + 1) AS subscription_id, e.merchant_id
          FROM events e
         WHERE e.stream_version = 1 AND starts_with(e.stream_id, $1)
           AND NOT EXISTS (SELECT 1 FROM renewal_schedule s
                            WHERE s.subscription_id = substr(e.stream_id, length($1) + 1))
         ORDER BY e.stream_id
        """,
        prefix,
    )
    return [(r["subscription_id"], r["merchant_id"]) for r in rows]
