from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from billing_events.decider import Decider, Rejected, execute
from billing_events.envelope import EventData
from billing_events.store import PostgresEventStore

from .conftest import Noted

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
