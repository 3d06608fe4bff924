"""Run a command against an event-sourced aggregate: load, decide, append, retry on conflict.

An aggregate is a :class:`Decider`: pure ``decide(command, state) -> events`` and
``evolve(state, event) -> state`` functions over immutable state (no I/O). This module is the
only place that turns one into reads and writes of the event store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import asyncpg

from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.store import ConcurrencyConflict, PostgresEventStore

State = TypeVar("State")
Command = TypeVar("Command")


class Rejected(Exception):
    """A command the aggregate refuses; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Decider(Generic[State, Command]):
    initial: State
    evolve: Callable[[State, EventData], State]
    decide: Callable[[Command, State], Sequence[EventData]]

    def fold(self, events: Iterable[EventData], state: State | None = None) -> State:
        current = self.initial if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current


@dataclass(frozen=True)
class Loaded(Generic[State]):
    state: State
    version: int


async def load(
    store: PostgresEventStore,
    decider: Decider[State, Command],
    stream_id: str,
    *,
    conn: asyncpg.Connection | None = None,
) -> Loaded[State]:
    history = await store.read_payloads(stream_id, conn=conn)
    return Loaded(decider.fold(history.events), history.version)


async def execute(
    store: PostgresEventStore,
    decider: Decider[State, Command],
    stream_id: str,
    command: Command,
    *,
    merchant_id: str,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None,
    conn: asyncpg.Connection | None = None,
    max_attempts: int = 5,
    occurred_at: datetime | None = None,
) -> list[Envelope]:
    """Decide ``command`` on the stream's current state and append the result.

    On a concurrent write the stream is read again and the command decided anew, so the
    decision always sees the state it is appended after. Raises :class:`Rejected` from
    ``decide``, or :class:`ConcurrencyConflict` after ``max_attempts``.
    """
    if conn is None:
        # One connection for the read and the append: a pool round of acquire and release
        # costs as much Python as building the events.
        async with store.acquire() as own:
            return await _execute(
                store,
                decider,
                stream_id,
                command,
                merchant_id,
                correlation_id,
                causation_id,
                own,
                max_attempts,
                occurred_at,
            )
    return await _execute(
        store,
        decider,
        stream_id,
        command,
        merchant_id,
        correlation_id,
        causation_id,
        conn,
        max_attempts,
        occurred_at,
    )


async def _execute(
    store: PostgresEventStore,
    decider: Decider[State, Command],
    stream_id: str,
    command: Command,
    merchant_id: str,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None,
    conn: asyncpg.Connection,
    max_attempts: int,
    occurred_at: datetime | None,
) -> list[Envelope]:
    for attempt in range(1, max_attempts + 1):
        loaded = await load(store, decider, stream_id, conn=conn)
        decided = decider.decide(command, loaded.state)
        if not decided:
            return []
        envelopes = [
            new_envelope(
                data,
                stream_id=stream_id,
                merchant_id=merchant_id,
                correlation_id=correlation_id,
                causation_id=causation_id,
                # Numbered here so that the store has nothing to copy.
                stream_version=version,
                occurred_at=occurred_at,
            )
            for version, data in enumerate(decided, start=loaded.version + 1)
        ]
        try:
            return await store.append(stream_id, loaded.version, envelopes, conn=conn)
        except ConcurrencyConflict:
            if attempt == max_attempts:
                raise
    raise AssertionError("unreachable")
