from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import pytest

from billing_events.decider import Decider, Rejected, execute
from billing_events.envelope import EventData
from billing_events.store import PostgresEventStore

from .conftest import Noted, noted, wait_until_blocked

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Closed:
    closed: bool = False


def evolve(state: Closed, event: EventData) -> Closed:
    return Closed(closed=True) if isinstance(event, Noted) and event.text == "close" else state


def decide(command: str, state: Closed) -> Sequence[EventData]:
    if state.closed:
        raise Rejected("already_closed", "the stream is closed")
    return [Noted(n=1, text=command)]


closer = Decider(Closed(), evolve, decide)


async def test_concurrent_commands_decide_on_fresh_state(store: PostgresEventStore) -> None:
    async def close() -> str:
        try:
            await execute(
                store,
                closer,
                "test-close",
                "close",
                merchant_id="m",
                correlation_id=uuid.uuid4(),
                causation_id=None,
                max_attempts=30,
            )
        except Rejected as rejection:
            return rejection.code
        return "ok"

    outcomes = await asyncio.gather(*(close() for _ in range(20)))
    assert outcomes.count("ok") == 1
    assert outcomes.count("already_closed") == 19
    assert len(await store.read_stream("test-close")) == 1


async def test_a_command_that_loses_a_race_inside_a_transaction_is_decided_again_in_it(
    store: PostgresEventStore, pg_pool: asyncpg.Pool
) -> None:
    """A consumer decides its commands inside the transaction of its batch: the stream is read
    again within that transaction, and the command decided on the winner's event."""
    stream = "test-race-close"
    await store.append(stream, 0, [noted(0, stream_id=stream)])
    async with store.acquire() as first, store.acquire() as second:
        winner = first.transaction()
        await winner.start()
        await store.append(stream, 1, [noted(1, stream_id=stream, text="close")], conn=first)
        batch = second.transaction()
        await batch.start()
        racing = asyncio.create_task(
            execute(
                store,
                closer,
                stream,
                "close",
                merchant_id="m",
                correlation_id=uuid.uuid4(),
                causation_id=None,
                conn=second,
            )
        )
        await wait_until_blocked(pg_pool, second)  # on the winner's version 2
        await winner.commit()
        with pytest.raises(Rejected, match="already_closed"):
            await racing
        # Still usable: the rest of the batch goes on and commits.
        await store.append(stream, 2, [noted(2, stream_id=stream)], conn=second)
        await batch.commit()
    assert [e.stream_version for e in await store.read_stream(stream)] == [1, 2, 3]
