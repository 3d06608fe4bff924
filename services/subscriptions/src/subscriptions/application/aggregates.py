"""Running a pure aggregate against its stream: load, decide, append, retry on conflict.

Close to ``billing_events.decider.execute``, with what this service needs on top: the
decision gets the merchant's ``now`` (the domain never reads a clock) and each event's
``occurred_at`` is when it took effect in the merchant's time; a stream is only visible to the
merchant that wrote it (ids are chosen by callers, so a merchant could name another merchant's
plan, customer or subscription; to it that stream does not exist); and the tables that follow
a stream are updated in the transaction of the append (``after_append``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from billing_events import topics
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.store import ConcurrencyConflict
from subscriptions.application.ports import EventStore
from subscriptions.domain import clock, customer, plan, subscription
from subscriptions.domain.rejection import (
    CUSTOMER_NOT_FOUND,
    INVALID_COMMAND,
    PLAN_NOT_FOUND,
    SUBSCRIPTION_NOT_FOUND,
    Rejected,
)

if TYPE_CHECKING:
    from asyncpg import Connection

S = TypeVar("S")
C = TypeVar("C")

MAX_ATTEMPTS = 5


def decided_at(_event: EventData, now: datetime) -> datetime:
    """Most events happen when they are decided."""
    return now


@dataclass(frozen=True)
class Aggregate(Generic[S, C]):
    """One aggregate of the domain and the stream category it lives in."""

    category: str
    initial: S
    evolve: Callable[[S, EventData], S]
    decide: Callable[[C, S, datetime], Sequence[EventData]]
    not_found: str  # rejection code when the stream is unknown to the merchant
    # When a decided event took effect in the merchant's time (its envelope's occurred_at).
    effective_at: Callable[[EventData, datetime], datetime] = decided_at

    def stream_id(self, entity_id: str) -> str:
        return topics.stream_id(self.category, entity_id)

    def fold(self, events: Sequence[Envelope], state: S | None = None) -> S:
        """``state`` (the initial state if None) with ``events`` applied in order."""
        current = self.initial if state is None else state
        for envelope in events:
            current = self.evolve(current, envelope.data)
        return current


@dataclass(frozen=True)
class Context:
    """Where a decision comes from: copied onto every event it produces."""

    merchant_id: str
    correlation_id: uuid.UUID
    # The command's id, or the id of the event that triggered it; None for what the passing
    # of time alone causes (a renewal found by a periodic scan).
    causation_id: uuid.UUID | None
    now: datetime  # the merchant's time (see MerchantClock)

    @classmethod
    def caused_by(cls, message: Envelope, now: datetime) -> Context:
        return cls(message.merchant_id, message.correlation_id, message.event_id, now)


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S
    version: int
    exists: bool


class ForeignStream(Exception):
    """The stream belongs to another merchant."""


AfterAppend = Callable[[str, S, int, "Connection"], Awaitable[None]]
"""``(merchant_id, state after the append, stream version, conn)``: keeps a table in step
with a stream, on the connection (and so in the transaction) of the append."""


async def load(
    store: EventStore,
    aggregate: Aggregate[S, C],
    stream_id: str,
    *,
    merchant_id: str,
    conn: Connection | None = None,
) -> Loaded[S]:
    history = await store.read_stream(stream_id, conn=conn)
    if history and history[0].merchant_id != merchant_id:
        raise ForeignStream(stream_id)
    return Loaded(aggregate.fold(history), len(history), bool(history))


async def state_of(
    store: EventStore,
    aggregate: Aggregate[S, C],
    entity_id: str,
    *,
    merchant_id: str,
    conn: Connection | None = None,
) -> S:
    """The entity's current state as seen by ``merchant_id``: another merchant's entity reads
    as one that does not exist (the initial state)."""
    try:
        loaded = await load(
            store, aggregate, aggregate.stream_id(entity_id), merchant_id=merchant_id, conn=conn
        )
    except ForeignStream:
        return aggregate.initial
    return loaded.state


async def execute(
    store: EventStore,
    aggregate: Aggregate[S, C],
    entity_id: str,
    command: C,
    context: Context,
    *,
    conn: Connection | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    after_append: AfterAppend[S] | None = None,
) -> list[Envelope]:
    """Decide ``command`` on the entity's current state and append the resulting events.

    A concurrent writer makes the append fail with ConcurrencyConflict; the stream is then read
    again and the command decided anew, so a decision always sees the state it is appended
    after (two cancellations race: the second one sees the first and is rejected). Raises
    :class:`Rejected` from the domain, or ConcurrencyConflict after ``max_attempts``.

    ``after_append`` runs right after a successful append, on ``conn``, which must then be the
    caller's open transaction: the append and what it does commit or roll back together.
    """
    if after_append is not None and conn is None:
        raise ValueError("after_append needs the caller's transaction (conn)")
    stream_id = aggregate.stream_id(entity_id)
    for attempt in range(1, max_attempts + 1):
        try:
            loaded = await load(
                store, aggregate, stream_id, merchant_id=context.merchant_id, conn=conn
            )
        except ForeignStream:
            raise Rejected(
                aggregate.not_found, f"{aggregate.category} {entity_id} does not exist"
            ) from None
        decided = aggregate.decide(command, loaded.state, context.now)
        if not decided:
            return []
        envelopes = [
            new_envelope(
                data,
                stream_id=stream_id,
                merchant_id=context.merchant_id,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
                occurred_at=aggregate.effective_at(data, context.now),
            )
            for data in decided
        ]
        try:
            appended = await store.append(stream_id, loaded.version, envelopes, conn=conn)
        except ConcurrencyConflict:
            if attempt == max_attempts:
                raise
            continue
        if after_append is not None:
            assert conn is not None  # checked on entry
            new_state = aggregate.fold(appended, loaded.state)
            await after_append(context.merchant_id, new_state, appended[-1].stream_version, conn)
        return appended
    raise AssertionError("unreachable")  # the loop returns or raises


# --- the aggregates of this service ----------------------------------------------------

PLANS: Aggregate[plan.PlanState, plan.PlanCommand] = Aggregate(
    "plan", plan.initial_state, plan.evolve, plan.decide, PLAN_NOT_FOUND
)
CUSTOMERS: Aggregate[customer.CustomerState, customer.CustomerCommand] = Aggregate(
    "customer", customer.initial_state, customer.evolve, customer.decide, CUSTOMER_NOT_FOUND
)
SUBSCRIPTIONS: Aggregate[subscription.SubscriptionState, subscription.SubscriptionCommand] = (
    Aggregate(
        "subscription",
        subscription.initial_state,
        subscription.evolve,
        subscription.decide,
        SUBSCRIPTION_NOT_FOUND,
        subscription.effective_at,
    )
)
# A merchant's test clock: stream ``clock-<merchant_id>``. It always "exists" for its
# merchant; another merchant's clock stream is refused as an invalid command.
CLOCKS: Aggregate[clock.ClockState, clock.ClockCommand] = Aggregate(
    "clock", clock.initial_state, clock.evolve, clock.decide, INVALID_COMMAND, clock.effective_at
)
