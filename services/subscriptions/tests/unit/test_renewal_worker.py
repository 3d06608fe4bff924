"""The renewal worker's loop: a sweep at start and every interval, requests in between, a
failing scan survived, a prompt stop."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from subscriptions.adapters.renewal_worker import RenewalWorker
from subscriptions.application.renewals import ScanCause, ScanResult

CAUSE = ScanCause(uuid.uuid4(), uuid.uuid4())


class RecordingScan:
    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[str | None, ScanCause | None]] = []
        self.failures = failures

    async def run(
        self, merchant_id: str | None = None, *, cause: ScanCause | None = None
    ) -> ScanResult:
        self.calls.append((merchant_id, cause))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        return ScanResult()


async def wait_until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_sweeps_at_start_then_scans_requested_merchants() -> None:
    scan = RecordingScan()
    worker = RenewalWorker(scan, interval=60)  # type: ignore[arg-type]
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: worker.sweeps == 1)
    worker.request("mer_1", CAUSE)
    await wait_until(lambda: len(scan.calls) == 2)
    assert scan.calls == [(None, None), ("mer_1", CAUSE)]
    worker.stop()
    async with asyncio.timeout(5):
        await task


async def test_sweeps_again_every_interval_and_survives_a_failing_scan() -> None:
    scan = RecordingScan(failures=1)
    worker = RenewalWorker(scan, interval=0.05)  # type: ignore[arg-type]
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: worker.sweeps >= 3)
    assert not task.done()
    assert all(call == (None, None) for call in scan.calls)
    worker.stop()
    async with asyncio.timeout(5):
        await task


async def test_a_flow_of_requests_does_not_starve_the_sweep() -> None:
    scan = RecordingScan()
    worker = RenewalWorker(scan, interval=0.05)  # type: ignore[arg-type]
    task = asyncio.create_task(worker.run())
    async with asyncio.timeout(5):
        while worker.sweeps < 3:
            worker.request("mer_1", CAUSE)
            await asyncio.sleep(0.005)
    worker.stop()
    async with asyncio.timeout(5):
        await task


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RenewalWorker(RecordingScan(), interval=0)  # type: ignore[arg-type]
