"""Delivers queued mail over SMTP, after the transaction that queued it has committed.

At least once, not exactly once: a mail is marked sent in the transaction that locked it,
after the mail server accepted it. If the process dies (or the database goes away) between the
server's acceptance and that commit, the lock is released with the row still queued and the
next delivery sends it again. The window is one SMTP exchange long; the mail carries a
Message-ID derived from its key, so a receiving system that deduplicates by Message-ID shows
it once. Every other failure is retried with backoff until it succeeds, except a permanent
refusal by the server (an address that does not exist), which is recorded as failed with the
reason instead of being retried forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from billing_events.consumer import exponential_backoff
from notifications.application.ports import (
    MailOutbox,
    MailSender,
    PermanentDeliveryError,
    WakeUp,
)

log = structlog.stdlib.get_logger(__name__)

# What a failed attempt records: enough to read an SMTP reply, bounded for the table.
_MAX_ERROR = 1_000


class MailDelivery:
    def __init__(
        self,
        outbox: MailOutbox,
        sender: MailSender,
        wake_up: WakeUp,
        *,
        poll_interval: float = 5.0,
        retry_backoff: float = 5.0,
        max_retry_backoff: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._outbox = outbox
        self._sender = sender
        self._wake_up = wake_up
        self._poll_interval = poll_interval
        self._retry_backoff = retry_backoff
        self._max_retry_backoff = max_retry_backoff
        self._clock = clock
        self._stopping = asyncio.Event()

    async def deliver_one(self) -> bool:
        """Send the next due mail, if any; whether there was one."""
        async with self._outbox.claim_due() as claim:
            if claim is None:
                return False
            queued = claim.queued
            with structlog.contextvars.bound_contextvars(
                mail=queued.key.kind.value, event_id=str(queued.key.event_id)
            ):
                try:
                    await self._sender.send(queued)
                except PermanentDeliveryError as exc:
                    log.error("mail refused for good; not retried", error=str(exc))
                    await claim.give_up(str(exc)[:_MAX_ERROR])
                except Exception as exc:
                    attempt = queued.attempts + 1
                    delay = exponential_backoff(
                        attempt, self._retry_backoff, self._max_retry_backoff
                    )
                    log.warning(
                        "mail delivery failed; will retry",
                        attempt=attempt,
                        retry_in=delay,
                        error=repr(exc),
                    )
                    await claim.retry_at(
                        self._clock() + timedelta(seconds=delay), repr(exc)[:_MAX_ERROR]
                    )
                else:
                    await claim.sent()
                    log.info("mail sent", attempts=queued.attempts + 1)
            return True

    async def deliver_due(self) -> int:
        """Send every mail due now; how many were handled."""
        handled = 0
        while not self._stopping.is_set() and await self.deliver_one():
            handled += 1
        return handled

    async def run(self) -> None:
        """Deliver until :meth:`stop`; a database outage is waited out, never fatal."""
        self._stopping.clear()
        failures = 0
        while not self._stopping.is_set():
            try:
                await self.deliver_due()
                failures = 0
                await self._until_stopped(self._wake_up(self._poll_interval))
            except Exception:
                failures += 1
                delay = exponential_backoff(failures, 1.0, 30.0)
                log.exception("mail delivery loop failed; retrying", retry_in=delay)
                await self._until_stopped(asyncio.sleep(delay))

    async def stop(self) -> None:
        """Ask :meth:`run` to return after the mail in hand, without waiting for the next one."""
        self._stopping.set()

    async def _until_stopped(self, pause: Awaitable[object]) -> None:
        """Await ``pause``, cut short by :meth:`stop`."""
        paused = asyncio.ensure_future(pause)
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({paused, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (paused, stopped):
                task.cancel()
            await asyncio.gather(paused, stopped, return_exceptions=True)
        # A wake-up that failed (its connection lost) is the loop's to report and back off.
        error = paused.exception() if paused.done() and not paused.cancelled() else None
        if error is not None:
            raise error
