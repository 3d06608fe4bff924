"""Running a pure aggregate against its stream: load, decide, append, retry on conflict.

Close to ``billing_events.decider.execute``, with two things this service needs on top:
the decision gets the clock's ``now`` (the domain never reads a clock), and a stream is only
visible to the merchant that wrote it. Ids are chosen by callers, so a merchant could name
another merchant's plan, customer or subscription; to it that stream does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from billing_events import topics
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.store import ConcurrencyConflict
from subscriptions.application.ports import EventStore
from subscriptions.domain import customer, plan, subscription
from subscriptions.domain.rejection import (
    CUSTOMER_NOT_FOUND,
    PLAN_NOT_FOUND,
    SUBSCRIPTION_NOT_FOUND,
    Rejected,
)

if TYPE_CHECKING:
    from asyncpg import Connection

S = TypeVar("S")
C = TypeVar("C")

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Aggregate(Generic[S, C]):
    """One aggregate of the domain and the stream category it lives in."""

    category: str
    initial: S
    evolve: Callable[[S, EventData], S]
    decide: Callable[[C, S, datetime], Sequence[EventData]]
    not_found: str  # rejection code when the stream is unknown to the merchant

    def stream_id(self, entity_id: str) -> str:
        return topics.stream_id(self.category, entity_id)

    def fold(self, events: Sequence[Envelope]) -> S:
        state = self.initial
        for envelope in events:
            state = self.evolve(state, envelope.data)
        return state


@dataclass(frozen=True)
class Context:
    """Where a decision comes from: copied onto every event it produces."""

    merchant_id: str
    correlation_id: uuid.UUID
    causation_id: uuid.UUID  # the command's id, or the id of the event that triggered it
    now: datetime

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
) -> list[Envelope]:
    """Decide ``command`` on the entity's current state and append the resulting events.

    A concurrent writer makes the append fail with ConcurrencyConflict; the stream is then read
    again and the command decided anew, so a decision always sees the state it is appended
    after (two cancellations race: the second one sees the first and is rejected). Raises
    :class:`Rejected` from the domain, or ConcurrencyConflict after ``max_attempts``.
    """
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
                occurred_at=context.now,
            )
            for data in decided
        ]
        try:
            return await store.append(stream_id, loaded.version, envelopes, conn=conn)
        except ConcurrencyConflict:
            if attempt == max_attempts:
                raise
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
    )
)
