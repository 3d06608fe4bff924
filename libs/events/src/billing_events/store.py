"""The PostgreSQL event store: streams with optimistic concurrency, and a gap-free global order.

Each event is a row keyed by (stream_id, stream_version): appending at a stale expected
version collides on that key and nothing is written. Every append also writes the events to
the transactional outbox in the same statement, so what is stored is what gets published.

Global order is (transaction_id, global_position). A plain identity column is not enough: a
transaction may take position 5, commit after the one holding position 6, and a reader that
already moved past 6 would skip it forever. Readers therefore only see transactions older
than the oldest one still running (``pg_snapshot_xmin``), in transaction-id order: once that
horizon has passed a transaction id, no event can appear behind the reader any more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import asyncpg

from billing_events.envelope import Envelope, EventData, EventRegistry, registry
from billing_events.postgres import Migration
from billing_events.topics import topic_for_stream


class ConcurrencyConflict(Exception):
    """The stream moved on since it was read; nothing was written."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(f"stream {stream_id!r} is not at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


class TransactionTooOld(Exception):
    """The stream was appended to by a transaction younger than the caller's.

    The global order follows transaction ids. A transaction that got its id (by writing
    anything) before another one appended to this stream would sort its events before that
    other transaction's, breaking the stream's order on Kafka. Nothing was written; roll back
    and run the whole transaction again: the retry gets a newer id. Retrying inside the same
    transaction cannot help.
    """

    def __init__(self, stream_id: str) -> None:
        super().__init__(
            f"stream {stream_id!r} was appended to by a newer transaction; retry the transaction"
        )
        self.stream_id = stream_id


class DuplicateEvent(Exception):
    """An event id that is already stored was appended again."""


@dataclass(frozen=True, order=True)
class Position:
    """A place in the global order; compare positions, never global_position alone."""

    transaction_id: int
    global_position: int

    START: ClassVar[Position]


Position.START = Position(0, 0)


@dataclass(frozen=True)
class RecordedEvent:
    position: Position
    envelope: Envelope


EVENT_STORE_SQL = """
CREATE TABLE IF NOT EXISTS events (
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id text NOT NULL,
    stream_version integer NOT NULL CHECK (stream_version > 0),
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    merchant_id text NOT NULL,
    correlation_id uuid NOT NULL,
    causation_id uuid,
    data jsonb NOT NULL,
    CONSTRAINT events_stream_version PRIMARY KEY (stream_id, stream_version),
    CONSTRAINT events_event_id UNIQUE (event_id)
);
CREATE INDEX IF NOT EXISTS events_global_order ON events (transaction_id, global_position);
"""

OUTBOX_SQL = """
CREATE TABLE IF NOT EXISTS outbox (
    position bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    topic text NOT NULL,
    key text,
    value bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (transaction_id, position)
);
CREATE TABLE IF NOT EXISTS outbox_checkpoints (
    relay text PRIMARY KEY,
    transaction_id xid8 NOT NULL,
    position bigint NOT NULL,
    published bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

# Wakes the relay (see ``outbox.OutboxRelay``) when a transaction that queued messages commits.
# Once per statement, not per row: a batch append pays for one call (a conditional insert
# that queued nothing costs the relay a few empty fetches). The payload names the transaction,
# so the relay can tell whether its rows are visible to it yet.
OUTBOX_WAKE_SQL = """
CREATE OR REPLACE FUNCTION outbox_wake_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_' || TG_RELID::text, pg_current_xact_id()::text);
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER outbox_wake_relay AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake_relay();
"""

MIGRATIONS = [
    Migration("event_store", 1, EVENT_STORE_SQL),
    Migration("outbox", 1, OUTBOX_SQL),
    Migration("outbox", 2, OUTBOX_WAKE_SQL),
]

_COLUMNS = (
    "stream_id, stream_version, event_id, event_type, schema_version, occurred_at, "
    "merchant_id, correlation_id, causation_id, data::text AS data"
)

# Data and headers travel as JSON text and are cast by the server: no per-value codec
# callback in the client, and the same SQL works on any pool.

# One statement, one round trip: check the version and that no younger transaction wrote the
# stream (see TransactionTooOld), insert the events, fill the outbox.
_APPEND_SQL = """
WITH last AS (
    SELECT stream_version, transaction_id FROM events WHERE stream_id = $1
    ORDER BY stream_version DESC LIMIT 1
), current AS (
    SELECT coalesce((SELECT stream_version FROM last), 0) AS version,
           coalesce((SELECT transaction_id FROM last) <= pg_current_xact_id(), true) AS in_order
), appended AS (
    INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                        occurred_at, merchant_id, correlation_id, causation_id, data)
    SELECT $1, $2 + e.n, e.event_id, e.event_type, e.schema_version, e.occurred_at,
           e.merchant_id, e.correlation_id, e.causation_id, e.data::jsonb
    FROM unnest($3::uuid[], $4::text[], $5::int[], $6::timestamptz[], $7::text[],
                $8::uuid[], $9::uuid[], $10::text[]) WITH ORDINALITY
         AS e(event_id, event_type, schema_version, occurred_at, merchant_id,
              correlation_id, causation_id, data, n)
    WHERE (SELECT version = $2 AND in_order FROM current)
    RETURNING stream_version
), published AS (
    INSERT INTO outbox (topic, key, value, headers)
    SELECT $11, $1, o.value, o.headers::jsonb
    FROM unnest($12::bytea[], $13::text[]) WITH ORDINALITY AS o(value, headers, n)
    WHERE EXISTS (SELECT 1 FROM appended)
    ORDER BY o.n
)
SELECT (SELECT count(*) FROM appended) AS appended, (SELECT version FROM current) AS version,
       (SELECT in_order FROM current) AS in_order
"""

# The same statement for the common case of one event (a command usually decides one): scalar
# parameters instead of arrays are cheaper to encode, to send and to plan. A version that a
# concurrent transaction took meanwhile is skipped, not an error (ON CONFLICT on the stream's
# key), and comes back as a conflict: a transaction that the append joins stays usable without
# a savepoint, whose two round trips cost more than the append itself.
_APPEND_ONE_SQL = """
WITH last AS (
    SELECT stream_version, transaction_id FROM events WHERE stream_id = $1
    ORDER BY stream_version DESC LIMIT 1
), current AS (
    SELECT coalesce((SELECT stream_version FROM last), 0) AS version,
           coalesce((SELECT transaction_id FROM last) <= pg_current_xact_id(), true) AS in_order
), appended AS (
    INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                        occurred_at, merchant_id, correlation_id, causation_id, data)
    SELECT $1, $2::int + 1, $3::uuid, $4::text, $5::int, $6::timestamptz, $7::text, $8::uuid,
           $9::uuid, $10::text::jsonb
    FROM current WHERE version = $2 AND in_order
    ON CONFLICT ON CONSTRAINT events_stream_version DO NOTHING
    RETURNING stream_version
), published AS (
    INSERT INTO outbox (topic, key, value, headers)
    SELECT $11::text, $1, $12::bytea, $13::text::jsonb FROM appended
)
SELECT (SELECT count(*) FROM appended) AS appended, version, in_order FROM current
"""

_READ_STREAM_SQL = f"""
SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version >= $2
ORDER BY stream_version
"""

_READ_PAYLOADS_SQL = """
SELECT stream_version, event_type, schema_version, data::text AS data
FROM events WHERE stream_id = $1 ORDER BY stream_version
"""

_READ_ALL_SQL = f"""
SELECT transaction_id::text AS txid, global_position, {_COLUMNS}
FROM events
WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3
"""


@dataclass(frozen=True)
class StreamPayloads:
    """What deciding on a stream needs: its payloads in order and the version they reach."""

    version: int
    events: list[EventData]


TopicResolver = Callable[[str], str]


def default_topic(stream_id: str) -> str:
    return topic_for_stream(stream_id).name


class PostgresEventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        event_registry: EventRegistry = registry,
        topic_resolver: TopicResolver = default_topic,
    ) -> None:
        self._pool = pool
        self._registry = event_registry
        self._topic_for = topic_resolver

    def acquire(self) -> asyncpg.pool.PoolAcquireContext:
        """A connection of the store's pool (``async with store.acquire() as conn``), to run
        several reads and appends on one connection."""
        return self._pool.acquire()

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Envelope],
        *,
        conn: asyncpg.Connection | None = None,
    ) -> list[Envelope]:
        """Append ``events`` after ``expected_version``; returns them with their versions.

        With ``conn`` inside a transaction the append joins it. A conflict, even with a
        transaction that was still running when the append began, leaves the caller's
        transaction usable: one event's statement skips a version taken meanwhile, several
        events are appended under a savepoint. A duplicate event id (a bug, not a race) fails
        the statement and, for one event, the caller's transaction. Otherwise the append is
        one statement, its own transaction."""
        if not events:
            return []
        if expected_version < 0:
            raise ValueError("expected_version must be >= 0")
        stored = [
            envelope
            if envelope.stream_id == stream_id and envelope.stream_version == version
            else envelope.model_copy(update={"stream_id": stream_id, "stream_version": version})
            for version, envelope in enumerate(events, start=expected_version + 1)
        ]
        if len(stored) == 1:
            sql, args = (
                _APPEND_ONE_SQL,
                self._append_one_args(stream_id, expected_version, stored[0]),
            )
        else:
            sql, args = _APPEND_SQL, self._append_args(stream_id, expected_version, stored)
        try:
            if conn is None:
                result = await self._pool.fetchrow(sql, *args)
            elif len(stored) > 1 and conn.is_in_transaction():
                # Several events are all appended or none: a version taken meanwhile fails the
                # statement, and a savepoint keeps the caller's transaction usable after it.
                async with conn.transaction():
                    result = await conn.fetchrow(sql, *args)
            else:
                result = await conn.fetchrow(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_event_id":
                raise DuplicateEvent(str(exc)) from exc
            raise ConcurrencyConflict(stream_id, expected_version) from exc
        assert result is not None
        if result["appended"] == len(stored):
            return stored
        if result["version"] == expected_version and not result["in_order"]:
            raise TransactionTooOld(stream_id)
        raise ConcurrencyConflict(stream_id, expected_version)

    def _append_one_args(self, stream_id: str, expected_version: int, e: Envelope) -> list[Any]:
        data_json = e.data.model_dump_json()
        return [
            stream_id,
            expected_version,
            e.event_id,
            e.event_type,
            e.schema_version,
            e.occurred_at,
            e.merchant_id,
            e.correlation_id,
            e.causation_id,
            data_json,
            self._topic_for(stream_id),
            e.to_json(data_json),
            e.kafka_headers_json().decode(),
        ]

    def _append_args(
        self, stream_id: str, expected_version: int, stored: Sequence[Envelope]
    ) -> list[Any]:
        # Versions are not sent: they are expected_version + 1, + 2... as ``stored`` says.
        data_json = [e.data.model_dump_json() for e in stored]
        return [
            stream_id,
            expected_version,
            [e.event_id for e in stored],
            [e.event_type for e in stored],
            [e.schema_version for e in stored],
            [e.occurred_at for e in stored],
            [e.merchant_id for e in stored],
            [e.correlation_id for e in stored],
            [e.causation_id for e in stored],
            data_json,
            self._topic_for(stream_id),
            [e.to_json(data) for e, data in zip(stored, data_json, strict=True)],
            [e.kafka_headers_json().decode() for e in stored],
        ]

    async def read_stream(
        self,
        stream_id: str,
        from_version: int = 1,
        *,
        conn: asyncpg.Connection | None = None,
    ) -> list[Envelope]:
        executor = conn if conn is not None else self._pool
        rows = await executor.fetch(_READ_STREAM_SQL, stream_id, from_version)
        return [self._envelope(row) for row in rows]

    async def read_payloads(
        self, stream_id: str, *, conn: asyncpg.Connection | None = None
    ) -> StreamPayloads:
        """The whole stream's payloads without their envelopes: what folding a state needs,
        for less to transfer and build than :meth:`read_stream`."""
        executor = conn if conn is not None else self._pool
        rows = await executor.fetch(_READ_PAYLOADS_SQL, stream_id)
        load = self._registry.load_data_json
        return StreamPayloads(
            rows[-1]["stream_version"] if rows else 0,
            [load(r["event_type"], r["schema_version"], r["data"]) for r in rows],
        )

    async def stream_version(
        self, stream_id: str, *, conn: asyncpg.Connection | None = None
    ) -> int:
        executor = conn if conn is not None else self._pool
        version = await executor.fetchval(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id
        )
        return int(version)

    async def read_all(
        self, after: Position = Position.START, limit: int = 1000
    ) -> list[RecordedEvent]:
        """Events after ``after`` in global order, only from transactions that can no longer
        be overtaken by one still running."""
        rows = await self._pool.fetch(
            _READ_ALL_SQL, str(after.transaction_id), after.global_position, limit
        )
        return [
            RecordedEvent(Position(int(r["txid"]), r["global_position"]), self._envelope(r))
            for r in rows
        ]

    def _envelope(self, row: asyncpg.Record) -> Envelope:
        data = self._registry.load_data_json(row["event_type"], row["schema_version"], row["data"])
        return Envelope(
            event_id=row["event_id"],
            event_type=row["event_type"],
            schema_version=data.schema_version,
            stream_id=row["stream_id"],
            stream_version=row["stream_version"],
            occurred_at=row["occurred_at"],
            merchant_id=row["merchant_id"],
            correlation_id=row["correlation_id"],
            causation_id=row["causation_id"],
            data=data,
        )
