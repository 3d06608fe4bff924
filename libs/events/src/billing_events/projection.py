"""Catch-up projections over an event store's global order, with tracking.

A projection applies a page of events and records the position it reached in the same
transaction, so after a crash it resumes exactly where its last commit ended: no event is
applied twice, none is skipped (the store's global order is gap-free).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from billing_events.postgres import Migration
from billing_events.store import Position, PostgresEventStore, RecordedEvent

TRACKING_SQL = """
CREATE TABLE IF NOT EXISTS projection_tracking (
    projection text PRIMARY KEY,
    transaction_id xid8 NOT NULL,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

MIGRATIONS = [Migration("projection_tracking", 1, TRACKING_SQL)]

Apply = Callable[[asyncpg.Connection, Sequence[RecordedEvent]], Awaitable[None]]


class TrackingProjection:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: PostgresEventStore,
        name: str,
        apply: Apply,
        page_size: int = 2000,
    ) -> None:
        self._pool = pool
        self._store = store
        self._name = name
        self._apply = apply
        self._page_size = page_size

    async def position(self) -> Position:
        row = await self._pool.fetchrow(
            "SELECT transaction_id::text AS txid, position FROM projection_tracking "
            "WHERE projection = $1",
            self._name,
        )
        return Position(int(row["txid"]), row["position"]) if row else Position.START

    async def catch_up(self) -> int:
        """Apply everything visible now; returns how many events were applied."""
        position = await self.position()
        applied = 0
        while page := await self._store.read_all(position, self._page_size):
            position = page[-1].position
            async with self._pool.acquire() as conn, conn.transaction():
                await self._apply(conn, page)
                await conn.execute(
                    """
                    INSERT INTO projection_tracking (projection, transaction_id, position)
                    VALUES ($1, $2::text::xid8, $3)
                    ON CONFLICT (projection) DO UPDATE SET transaction_id =
                        excluded.transaction_id, position = excluded.position, updated_at = now()
                    """,
                    self._name,
                    str(position.transaction_id),
                    position.global_position,
                )
            applied += len(page)
        return applied

    async def reset(self) -> None:
        """Forget the position: the next catch-up replays from the start (after the caller has
        cleared what the projection wrote)."""
        await self._pool.execute(
            "DELETE FROM projection_tracking WHERE projection = $1", self._name
        )
