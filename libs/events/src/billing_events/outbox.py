"""The transactional outbox and its relay to Kafka.

Writers put messages in the ``outbox`` table in the same transaction as their state change
(the event store does it for every append). The relay reads the outbox in the same gap-free
order as the event store (see ``store``), publishes each message keyed by its stream id and
records how far it got only after the broker acknowledged. Killed at any instant, it restarts
from the last recorded point: messages may be published twice, never lost, and one key's
messages keep their order. A trigger on the outbox notifies the relay when a writer commits, so
it publishes at once and an idle relay polls only now and then. One relay per schema is active
at a time (an advisory lock); others wait as standbys.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from billing_events.envelope import Envelope
from billing_events.store import Position, default_topic

log = structlog.get_logger(__name__)


async def enqueue(
    conn: asyncpg.Connection,
    topic: str,
    key: str | None,
    value: bytes,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Queue one message for publication; commits or rolls back with ``conn``'s transaction."""
    await conn.execute(
        "INSERT INTO outbox (topic, key, value, headers) VALUES ($1, $2, $3, $4)",
        topic,
        key,
        value,
        dict(headers or {}),
    )


async def enqueue_envelope(
    conn: asyncpg.Connection, envelope: Envelope, topic: str | None = None
) -> None:
    """Queue an envelope (a command, or an event not stored in a stream) keyed by stream id."""
    await enqueue(
        conn,
        topic or default_topic(envelope.stream_id),
        envelope.stream_id,
        envelope.to_json(),
        envelope.kafka_headers(),
    )


# ``_ENQUEUE_IF_SQL`` has four parameters of its own; a condition's parameters follow them.
CONDITION_FIRST_PARAMETER = 5

_ENQUEUE_IF_SQL = """
INSERT INTO outbox (topic, key, value, headers)
SELECT $1::text, $2::text, $3::bytea, $4::jsonb
WHERE {condition}
RETURNING true
"""


@dataclass(frozen=True)
class OnlyIf:
    """A condition under which a message is queued, decided in the queueing statement itself.

    ``sql`` is a boolean SQL expression, typically ``EXISTS (SELECT FROM ... WHERE ...)``, and
    ``args`` its parameters. The parameters are numbered after the INSERT's own: the first is
    ``$5`` (:data:`CONDITION_FIRST_PARAMETER`). Checking in the INSERT costs no round trip of
    its own; as any check in a separate statement, it sees what was committed when the
    statement started (under READ COMMITTED), and it takes no lock.
    """

    sql: str
    args: tuple[Any, ...] = ()


async def enqueue_if(
    conn: asyncpg.Connection,
    only_if: OnlyIf,
    topic: str,
    key: str | None,
    value: bytes,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """Queue one message if ``only_if`` holds; True when queued, False when nothing was.

    One statement; commits or rolls back with ``conn``'s transaction.
    """
    queued = await conn.fetchval(
        _ENQUEUE_IF_SQL.format(condition=only_if.sql),
        topic,
        key,
        value,
        dict(headers or {}),
        *only_if.args,
    )
    return queued is True


async def enqueue_envelope_if(
    conn: asyncpg.Connection, only_if: OnlyIf, envelope: Envelope, topic: str | None = None
) -> bool:
    """:func:`enqueue_envelope` if ``only_if`` holds (see :func:`enqueue_if`)."""
    return await enqueue_if(
        conn,
        only_if,
        topic or default_topic(envelope.stream_id),
        envelope.stream_id,
        envelope.to_json(),
        envelope.kafka_headers(),
    )


@dataclass(frozen=True)
class RelayLag:
    """How far the relay is behind: messages committed but not yet acknowledged by Kafka."""

    pending: int
    oldest_pending_age_seconds: float
    published_total: int


@dataclass(frozen=True)
class PendingMessage:
    position: Position
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    created_at: datetime


OnPublished = Callable[[Sequence[PendingMessage], datetime], None]


# What follows a position, in the global order; {after} and {limit} name the parameters.
_FETCH_AFTER_SQL = """
SELECT transaction_id::text AS txid, position, topic, key, value, headers, created_at
FROM outbox
WHERE (transaction_id, position) > ({after})
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT {limit}
"""

_FETCH_SQL = _FETCH_AFTER_SQL.format(after="$1::text::xid8, $2", limit="$3")

# The channel the outbox's trigger notifies (``store.OUTBOX_WAKE_SQL``): one per outbox table.
_WAKE_CHANNEL_SQL = "SELECT 'outbox_' || 'outbox'::regclass::oid::text"

# The checkpoint's commit does not wait for the disk (``synchronous_commit`` off for this one
# transaction; ``set_config(..., true)`` ends with it). A crash of the server can lose the last
# few hundred milliseconds of checkpoints, and the relay then publishes those messages again,
# which a restart from the last recorded point does anyway. What it saves is a WAL flush per
# published batch, in the relay's loop and in the flush queue every other commit waits in.
_SAVE_CHECKPOINT_SQL = """
INSERT INTO outbox_checkpoints (relay, transaction_id, position, published, updated_at)
SELECT $1::text, $2::text::xid8, $3::bigint, $4::bigint, now()
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS commit_without_waiting_for_disk
ON CONFLICT (relay) DO UPDATE SET transaction_id = excluded.transaction_id,
    position = excluded.position, published = outbox_checkpoints.published + $4,
    updated_at = now()
"""

# After a published batch: its checkpoint and the next fetch in one round trip. The fetch
# reads no row the checkpoint writes, and the snapshot it reads in is taken one round trip
# earlier than a fetch of its own would take it, so it sees at most what that would.
_SAVE_CHECKPOINT_AND_FETCH_SQL = (
    f"WITH saved AS ({_SAVE_CHECKPOINT_SQL.strip()})\n"
    + _FETCH_AFTER_SQL.format(after="$2::text::xid8, $3", limit="$5")
)


def kafka_producer(bootstrap_servers: str, client_id: str, **overrides: Any) -> AIOKafkaProducer:
    """A producer for durable publication. Not idempotent: Tansu rejects it, and the relay's
    own ordering (one in-flight batch per partition in aiokafka) and consumers' inboxes cover
    what idempotence would."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 15000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        *,
        name: str = "default",
        batch_size: int = 1000,
        idle_poll_interval: float = 1.0,
        first_retry_interval: float = 0.001,
        prune_interval: float = 5.0,
        producer: AIOKafkaProducer | None = None,
        on_published: OnPublished | None = None,
    ) -> None:
        self._pool = pool
        self._name = name
        self._batch_size = batch_size
        self._idle = idle_poll_interval
        self._first_retry = first_retry_interval
        self._woken = asyncio.Event()
        self._notified_transaction = 0
        self._prune_interval = prune_interval
        self._producer = producer or kafka_producer(bootstrap_servers, f"outbox-relay-{name}")
        self._stopping = asyncio.Event()
        self._active = False
        self._published = 0
        self._on_published = on_published
        self._lock_key = f"outbox-relay:{name}"

    @property
    def active(self) -> bool:
        """True once this instance holds the relay lock and publishes."""
        return self._active

    @property
    def published(self) -> int:
        return self._published

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()

    async def run(self) -> None:
        """Publish until :meth:`stop`; returns after the current batch is acknowledged."""
        await self._producer.start()
        try:
            async with self._pool.acquire() as lock_conn:
                # Advisory locks are per database; several services may share one database.
                schema = await lock_conn.fetchval("SELECT current_schema()")
                self._lock_key = f"outbox-relay:{schema}:{self._name}"
                if not await self._wait_for_lock(lock_conn):
                    return
                channel = await lock_conn.fetchval(_WAKE_CHANNEL_SQL)
                await lock_conn.add_listener(channel, self._on_notification)
                try:
                    self._active = True
                    await self._publish_loop()
                finally:
                    self._active = False
                    await lock_conn.remove_listener(channel, self._on_notification)
                    await lock_conn.execute(
                        "SELECT pg_advisory_unlock(hashtext($1))", self._lock_key
                    )
        finally:
            await self._producer.stop()

    async def _wait_for_lock(self, conn: asyncpg.Connection) -> bool:
        while not self._stopping.is_set():
            if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self._lock_key):
                return True
            await _wait_at_most(self._stopping, 1.0)
        return False

    def _on_notification(
        self, _conn: asyncpg.Connection, _pid: int, _channel: str, payload: str
    ) -> None:
        if payload.isdigit():
            self._notified_transaction = max(self._notified_transaction, int(payload))
        self._woken.set()

    async def _publish_loop(self) -> None:
        """Fetch and publish until stopped, waking when a writer commits.

        A committed transaction's rows become visible to the fetch only once every transaction
        older than it has ended (see ``_FETCH_SQL``), which can be a moment after its wake-up
        arrives. While a notified transaction is still ahead of the position, polls repeat at
        doubling intervals from ``first_retry_interval``; past ``idle_poll_interval`` the relay
        falls back to polling at that interval, which also covers a lost wake-up.

        A published batch's checkpoint is saved by the statement that fetches the next batch
        (one round trip, not two), or on the way out.
        """
        position = await self._load_checkpoint()
        unsaved = 0  # messages published after the saved checkpoint
        last_prune = time.monotonic()
        retry_in = 0.0
        given_up_on = 0  # a notified transaction left to the fallback poll
        try:
            while not self._stopping.is_set():
                self._woken.clear()
                if unsaved:
                    batch = await self._save_checkpoint_and_fetch(position, unsaved)
                    unsaved = 0
                else:
                    batch = await self._fetch(position)
                if time.monotonic() - last_prune > self._prune_interval:
                    await self._prune(position)  # only behind the saved checkpoint
                    last_prune = time.monotonic()
                if batch:
                    await self._publish(batch)
                    position, unsaved = batch[-1].position, len(batch)
                    self._published += unsaved
                    # Whatever was committed meanwhile goes out at once.
                    retry_in = 0.0
                elif self._notified_transaction > max(position.transaction_id, given_up_on):
                    retry_in = min(2 * retry_in or self._first_retry, self._idle)
                    if retry_in == self._idle:
                        given_up_on = self._notified_transaction
                    await _wait_at_most(self._woken, retry_in)
                else:
                    retry_in = 0.0
                    await _wait_at_most(self._woken, self._idle)
        finally:
            if unsaved:
                await self._save_last_checkpoint(position, unsaved)

    async def _load_checkpoint(self) -> Position:
        row = await self._pool.fetchrow(
            "SELECT transaction_id::text AS txid, position FROM outbox_checkpoints "
            "WHERE relay = $1",
            self._name,
        )
        return Position(int(row["txid"]), row["position"]) if row else Position.START

    async def _fetch(self, after: Position) -> list[PendingMessage]:
        rows = await self._pool.fetch(
            _FETCH_SQL, str(after.transaction_id), after.global_position, self._batch_size
        )
        return _pending(rows)

    async def _save_checkpoint_and_fetch(
        self, position: Position, count: int
    ) -> list[PendingMessage]:
        rows = await self._pool.fetch(
            _SAVE_CHECKPOINT_AND_FETCH_SQL,
            self._name,
            str(position.transaction_id),
            position.global_position,
            count,
            self._batch_size,
        )
        return _pending(rows)

    async def _publish(self, batch: list[PendingMessage]) -> None:
        # Sends are queued in order; aiokafka keeps one batch in flight per partition, so a
        # key's messages reach the broker in the order they were queued.
        futures = [
            await self._producer.send(m.topic, m.value, key=m.key, headers=m.headers) for m in batch
        ]
        await asyncio.gather(*futures)
        if self._on_published is not None:
            self._on_published(batch, datetime.now(UTC))

    async def _save_last_checkpoint(self, position: Position, count: int) -> None:
        """Record the last published batch on the way out (stopped, or the fetch after it
        failed). If that fails too, a restart publishes the batch again."""
        try:
            await self._pool.execute(
                _SAVE_CHECKPOINT_SQL,
                self._name,
                str(position.transaction_id),
                position.global_position,
                count,
            )
        except Exception as exc:
            log.warning(
                "relay checkpoint not saved; its last batch will be published again",
                relay=self._name,
                error=repr(exc),
            )

    async def _prune(self, upto: Position) -> None:
        deleted = await self._pool.execute(
            "DELETE FROM outbox WHERE (transaction_id, position) <= ($1::text::xid8, $2)",
            str(upto.transaction_id),
            upto.global_position,
        )
        log.debug("outbox pruned", result=deleted)

    async def lag(self) -> RelayLag:
        return await relay_lag(self._pool, self._name)


def _pending(rows: Sequence[asyncpg.Record]) -> list[PendingMessage]:
    return [
        PendingMessage(
            Position(int(r["txid"]), r["position"]),
            r["topic"],
            r["key"].encode() if r["key"] is not None else None,
            r["value"],
            [(k, v.encode()) for k, v in r["headers"].items()],
            r["created_at"],
        )
        for r in rows
    ]


async def _wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` have passed, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def relay_lag(pool: asyncpg.Pool, name: str = "default") -> RelayLag:
    row = await pool.fetchrow(
        """
        WITH cp AS (
            SELECT transaction_id, position, published FROM outbox_checkpoints WHERE relay = $1
        )
        SELECT count(o.*) AS pending,
               coalesce(extract(epoch FROM clock_timestamp() - min(o.created_at)), 0) AS age,
               coalesce((SELECT published FROM cp), 0) AS published
        FROM outbox o
        WHERE NOT EXISTS (SELECT 1 FROM cp)
           OR (o.transaction_id, o.position)
              > ((SELECT transaction_id FROM cp), (SELECT position FROM cp))
        """,
        name,
    )
    assert row is not None
    return RelayLag(int(row["pending"]), float(row["age"]), int(row["published"]))
