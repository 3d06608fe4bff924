"""Periodic housekeeping: a job run every ``interval`` seconds until stopped.

Used for forgetting idempotency keys past their lifetime and purging ended portal sessions.
A failing round is logged and the next round retries: housekeeping never stops the service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.stdlib.get_logger(__name__)

Job = Callable[[], Awaitable[int]]  # returns how many rows it removed


class Periodic:
    def __init__(self, name: str, job: Job, *, interval: float, run_at_start: bool = False) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.name = name
        self._job = job
        self._interval = interval
        self._run_at_start = run_at_start
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Run the job every interval until :meth:`stop`; returns once stopped."""
        if self._run_at_start:
            await self.run_once()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._stopping.is_set():
                return
            await self.run_once()

    async def run_once(self) -> int | None:
        """One round; None if it failed (logged, and retried next round)."""
        try:
            removed = await self._job()
        except Exception as exc:
            log.warning("housekeeping failed", job=self.name, error=repr(exc))
            return None
        log.info("housekeeping done", job=self.name, removed=removed)
        return removed

    async def stop(self) -> None:
        self._stopping.set()
