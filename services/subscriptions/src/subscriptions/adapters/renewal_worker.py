"""The background loop that runs renewal scans: on request, and every ``interval`` seconds.

Requests come from test clock advances (one merchant each); the periodic sweep covers every
merchant and is what renews subscriptions living in wall-clock time. It also runs once at
start, catching up whatever fell due while the service was down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from subscriptions.application.renewals import RenewalScan, ScanCause

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class _Request:
    merchant_id: str
    cause: ScanCause


_STOP = object()


class RenewalWorker:
    """Implements ``RenewalRequests``; ``run`` and ``stop`` suit ``Service.add_task``."""

    def __init__(self, scan: RenewalScan, *, interval: float) -> None:
        if interval <= 0:
            raise ValueError("the renewal scan interval must be positive")
        self._scan = scan
        self._interval = interval
        self._queue: asyncio.Queue[_Request | object] = asyncio.Queue()
        self._stopping = False
        self.sweeps = 0  # completed periodic sweeps, for tests and operators

    def request(self, merchant_id: str, cause: ScanCause) -> None:
        self._queue.put_nowait(_Request(merchant_id, cause))

    def stop(self) -> None:
        self._stopping = True
        self._queue.put_nowait(_STOP)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while not self._stopping:
            # Checked before waiting, so that a steady flow of requests cannot starve it.
            if loop.time() >= next_sweep:
                await self._run_scan(None, None)
                self.sweeps += 1
                next_sweep = loop.time() + self._interval
                continue
            item = await self._next(next_sweep - loop.time())
            if item is _STOP or self._stopping:
                return
            if isinstance(item, _Request):
                await self._run_scan(item.merchant_id, item.cause)

    async def _next(self, timeout: float) -> _Request | object | None:
        """The next request, or None when the next sweep is due first."""
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def _run_scan(self, merchant_id: str | None, cause: ScanCause | None) -> None:
        try:
            result = await self._scan.run(merchant_id, cause=cause)
        except Exception:
            # The database may be away; the next request or sweep tries again. Ending the
            # task would stop the whole process.
            log.exception("renewal scan failed", merchant_id=merchant_id)
            return
        if result.renewed or result.failed:
            log.info(
                "renewal scan done",
                merchant_id=merchant_id,
                renewed=len(result.renewed),
                events=result.events,
                failed=len(result.failed),
            )
