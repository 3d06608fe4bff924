"""Unit tests of the periodic housekeeping loop (no database: the job is a function)."""

from __future__ import annotations

import asyncio

import pytest

from portal_gateway.adapters.housekeeping import Periodic


async def test_the_job_runs_every_interval_until_stopped() -> None:
    runs: list[int] = []

    async def job() -> int:
        runs.append(len(runs))
        return 1

    periodic = Periodic("counting", job, interval=0.01)
    task = asyncio.create_task(periodic.run())
    for _ in range(200):
        if len(runs) >= 3:
            break
        await asyncio.sleep(0.01)
    await periodic.stop()
    await asyncio.wait_for(task, 1)
    assert len(runs) >= 3
    stopped_at = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == stopped_at


async def test_a_failing_round_is_logged_and_the_next_round_runs() -> None:
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database restarting")
        return 7

    periodic = Periodic("flaky", flaky, interval=60)
    assert await periodic.run_once() is None
    assert await periodic.run_once() == 7


async def test_run_at_start_runs_before_the_first_interval() -> None:
    ran = asyncio.Event()

    async def job() -> int:
        ran.set()
        return 0

    periodic = Periodic("eager", job, interval=3600, run_at_start=True)
    task = asyncio.create_task(periodic.run())
    await asyncio.wait_for(ran.wait(), 1)
    await periodic.stop()
    await asyncio.wait_for(task, 1)


def test_the_interval_must_be_positive() -> None:
    async def job() -> int:
        return 0

    with pytest.raises(ValueError, match="interval"):
        Periodic("never", job, interval=0)
