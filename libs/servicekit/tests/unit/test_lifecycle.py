"""Components start in order and stop in reverse, within a budget; tasks are supervised."""

from __future__ import annotations

import asyncio

import pytest

from servicekit.lifecycle import BackgroundTask, ComponentFailed, Lifecycle, StartFn, StopFn


def recording(events: list[str], name: str) -> tuple[StartFn, StopFn]:
    async def start() -> None:
        events.append(f"start {name}")

    async def stop() -> None:
        events.append(f"stop {name}")

    return start, stop


async def test_start_in_order_stop_in_reverse() -> None:
    events: list[str] = []
    lifecycle = Lifecycle()
    for name in ("pool", "producer", "relay", "consumers"):
        start, stop = recording(events, name)
        lifecycle.add(name, start, stop)
    await lifecycle.start()
    await lifecycle.stop(timeout=5)
    assert events == [
        "start pool", "start producer", "start relay", "start consumers",
        "stop consumers", "stop relay", "stop producer", "stop pool",
    ]  # fmt: skip


async def test_a_failed_start_stops_what_started_and_names_the_culprit() -> None:
    events: list[str] = []
    lifecycle = Lifecycle()
    start, stop = recording(events, "pool")
    lifecycle.add("pool", start, stop)

    async def broken() -> None:
        raise ConnectionRefusedError("kafka:9092")

    lifecycle.add("kafka", broken)
    with pytest.raises(ComponentFailed) as caught:
        await lifecycle.start()
    assert caught.value.component == "kafka"
    assert "kafka failed to start: ConnectionRefusedError" in str(caught.value)
    assert events == ["start pool", "stop pool"]


async def test_a_stuck_stop_does_not_hold_the_others() -> None:
    events: list[str] = []
    lifecycle = Lifecycle()
    start, stop = recording(events, "pool")
    lifecycle.add("pool", start, stop)

    async def stuck() -> None:
        await asyncio.sleep(60)

    async def nothing() -> None:
        return None

    lifecycle.add("stuck", nothing, stuck)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await lifecycle.start()
    await lifecycle.stop(timeout=0.3)
    assert events[-1] == "stop pool"
    assert loop.time() - began < 3


async def test_a_task_is_asked_to_stop_then_awaited() -> None:
    stopping = asyncio.Event()
    finished: list[str] = []

    async def relay() -> None:
        await stopping.wait()
        finished.append("batch flushed")

    task = BackgroundTask("relay", relay, stopping.set)
    await task.start()
    assert await task.check() == "running"
    await task.stop(timeout=1)
    assert finished == ["batch flushed"]


async def test_a_task_that_ignores_its_stop_request_is_cancelled() -> None:
    async def stubborn() -> None:
        await asyncio.sleep(60)

    task = BackgroundTask("stubborn", stubborn, lambda: None)
    await task.start()
    await asyncio.wait_for(task.stop(timeout=0.2), timeout=2)


async def test_a_task_that_dies_is_reported() -> None:
    crashed: list[tuple[str, str]] = []

    async def fragile() -> None:
        raise RuntimeError("lost the database")

    task = BackgroundTask("fragile", fragile)
    task.on_crash = lambda name, error: crashed.append((name, str(error)))
    await task.start()
    await asyncio.sleep(0.05)
    assert crashed == [("fragile", "lost the database")]
    with pytest.raises(RuntimeError, match="stopped unexpectedly"):
        await task.check()
    await task.stop(timeout=1)
