"""Rebuilding the projections: truncate them and replay every event topic from the start.

A rebuild bumps the projection generation, truncates the projection tables and forgets the
old generation's inbox, in one transaction. The next generation consumes with a new Kafka
consumer group (``gateway.projections.r<N>``), which has no committed offsets and therefore
starts at the beginning of each topic (``auto_offset_reset=earliest``), and with a new inbox
name, so no event is skipped as "already processed". Every gateway process is told through a
PostgreSQL notification and restarts its consumer in the new group.

What can be replayed is what the topics retain: run Kafka with unlimited retention on the
event topics (``retention.ms=-1``) for a complete rebuild.
"""

from __future__ import annotations

import asyncpg

from portal_gateway.adapters.postgres.schema import PROJECTION_TABLES
from portal_gateway.adapters.postgres.signals import send_control

BASE_GROUP = "gateway.projections"
REBUILD_SIGNAL = "rebuild:"


def consumer_group(generation: int, base: str = BASE_GROUP) -> str:
    """The consumer group (also the inbox consumer name) of a projection generation."""
    return base if generation <= 1 else f"{base}.r{generation}"


def generation_of_signal(message: str) -> int | None:
    if not message.startswith(REBUILD_SIGNAL):
        return None
    value = message.removeprefix(REBUILD_SIGNAL)
    return int(value) if value.isdigit() else None


async def current_generation(pool: asyncpg.Pool) -> int:
    value = await pool.fetchval("SELECT generation FROM projection_state WHERE name = 'gateway'")
    return int(value or 1)


async def rebuild_projections(pool: asyncpg.Pool, base_group: str = BASE_GROUP) -> int:
    """Start a new projection generation with empty tables; returns its number."""
    async with pool.acquire() as conn, conn.transaction():
        # The row lock serialises concurrent rebuilds; TRUNCATE waits for in-flight projection
        # transactions, whose writes are idempotent if they commit just before it.
        generation = await conn.fetchval(
            "UPDATE projection_state SET generation = generation + 1, rebuilt_at = now() "
            "WHERE name = 'gateway' RETURNING generation"
        )
        await conn.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")
        await conn.execute(
            "DELETE FROM inbox WHERE consumer = $1 OR consumer LIKE $2",
            base_group,
            f"{base_group}.r%",
        )
        await send_control(conn, f"{REBUILD_SIGNAL}{generation}")
    return int(generation)
