"""Looks at waiting mail again from time to time, so that none waits forever by accident.

A waiting mail is normally released by the event that completes its facts (see
:meth:`Mailer.on_update`). That can miss: two replicas may handle, at the same instant, the
payment (which parks its receipt, not seeing the customer yet) and the customer (which looks
for parked mail, not seeing the receipt yet); both commit and the receipt waits for an event
that already happened. A periodic re-check closes that gap, and reports mail that has waited
suspiciously long (an event that never came: a customer registered under another merchant, a
topic a producer never published to).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from notifications.application.mailer import Mailer
from notifications.application.ports import UnitOfWork

log = structlog.stdlib.get_logger(__name__)


class WaitingMailRecheck:
    def __init__(
        self,
        unit_of_work: UnitOfWork,
        mailer: Mailer,
        *,
        interval: float = 30.0,
        batch: int = 100,
        stale_after: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._unit_of_work = unit_of_work
        self._mailer = mailer
        self._interval = interval
        self._batch = batch
        self._stale_after = stale_after
        self._clock = clock
        self._stopping = asyncio.Event()

    async def recheck_once(self) -> int:
        """Re-compose the oldest waiting mails; how many could now be queued."""
        released = 0
        async with self._unit_of_work() as repositories:
            for parked in await repositories.mail_log.oldest_waiting(self._batch):
                if await self._mailer.retry(parked, repositories):
                    released += 1
                elif self._clock() - parked.since > self._stale_after:
                    log.warning(
                        "mail has waited long for its facts",
                        mail=parked.key.kind.value,
                        event_id=str(parked.key.event_id),
                        waiting_since=parked.since.isoformat(),
                        missing=list(parked.missing),
                    )
        if released:
            log.info("waiting mail released by the periodic re-check", released=released)
        return released

    async def run(self) -> None:
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                await self.recheck_once()
            except Exception:
                log.exception("re-checking waiting mail failed; will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)

    async def stop(self) -> None:
        self._stopping.set()
