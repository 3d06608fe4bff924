"""PostgreSQL connection pools and schema migrations shared by every service.

Each service owns one schema; its pool pins ``search_path`` to it so that SQL in the plumbing
and in the services never names a schema. Migrations are numbered per component, run inside
one transaction under an advisory lock, and recorded: running them again, or from several
processes starting at once, is safe.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def validate_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}: lower-case letters, digits and _ only")
    return schema


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _keep_session_state(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset-on-release query (RESET ALL, UNLISTEN, unlock...), which costs a
    round trip per pooled query. asyncpg still rolls back any open transaction; our code sets no
    session state on pooled connections (search_path comes from server_settings) and releases
    its advisory locks explicitly."""


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any
) -> asyncpg.Pool:
    """A pool whose connections use ``schema``; the schema is created if missing."""
    validate_schema_name(schema)
    conn = await asyncpg.connect(dsn)
    try:
        # Two processes may create it at the same instant; the loser sees a unique violation.
        with contextlib.suppress(asyncpg.UniqueViolationError):
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session_state,
        server_settings={
            "search_path": schema,
            "application_name": f"billing:{schema}",
            # Readers of the global order wait for the oldest open transaction in the cluster
            # (see store.py): a client stuck inside one must not stall every projection.
            "idle_in_transaction_session_timeout": "60000",
        },
        **kwargs,
    )
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    sql: str


async def migrate(pool: asyncpg.Pool, migrations: Sequence[Migration]) -> list[Migration]:
    """Apply the migrations not yet applied in the pool's schema; returns those applied."""
    applied: list[Migration] = []
    async with pool.acquire() as conn, conn.transaction():
        schema = await conn.fetchval("SELECT current_schema()")
        # One lock per schema serialises concurrent starters; the second sees the work done.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                component text NOT NULL,
                version integer NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """
        )
        done = {
            (r["component"], r["version"])
            for r in await conn.fetch("SELECT component, version FROM schema_migrations")
        }
        for migration in sorted(migrations, key=lambda m: (m.component, m.version)):
            if (migration.component, migration.version) in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
                migration.component,
                migration.version,
            )
            applied.append(migration)
    return applied
