"""Delivers queued mail over SMTP, after the transaction that queued it has committed.

Mail is leased in batches: one statement leases up to ``batch_size`` due mails, they are sent
one after another over the same SMTP connection, and those the server accepted are marked
sent together, in one statement at the end of the batch (sooner when sending takes long, so
that "sent" is not recorded much later than it happened). A failure is recorded for its mail
alone, at once; the rest of the batch goes on.

At least once, not exactly once: a mail is marked sent after the mail server accepted it. If
the process dies (or the database goes away) between the server's acceptance and that write,
the mail is still queued, leased to the dead deliverer, and is sent again when the lease ends;
so are the mails of the batch it had not sent yet. The window is about ``record_sent_within``
long; the mail carries a Message-ID derived from its key, so a receiving system that
deduplicates by Message-ID shows it once. Every other failure is retried with backoff until
it succeeds, except a permanent refusal by the server (an address that does not exist), which
is recorded as failed with the reason instead of being retried forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from billing_events.consumer import exponential_backoff
from notifications.application.ports import (
    ClaimedBatch,
    MailKey,
    MailOutbox,
    MailSender,
    PermanentDeliveryError,
    QueuedMail,
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
        batch_size: int = 32,
        record_sent_within: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self._outbox = outbox
        self._sender = sender
        self._wake_up = wake_up
        self._poll_interval = poll_interval
        self._retry_backoff = retry_backoff
        self._max_retry_backoff = max_retry_backoff
        self._batch_size = batch_size
        self._record_sent_within = record_sent_within
        self._clock = clock
        self._stopping = asyncio.Event()

    async def deliver_batch(self) -> int:
        """Lease the next due mails and send them; how many were handled (sent, retried or
        given up). Fewer than the batch when :meth:`stop` is asked for on the way."""
        return await self._deliver(await self._outbox.claim_due(self._batch_size))

    async def deliver_due(self) -> int:
        """Send every mail due now; how many were handled."""
        handled = 0
        while not self._stopping.is_set():
            batch = await self._outbox.claim_due(self._batch_size)
            handled += await self._deliver(batch)
            # A batch that was not full took every mail due: no need to ask again.
            if len(batch.mails) < self._batch_size:
                break
        return handled

    async def _deliver(self, batch: ClaimedBatch) -> int:
        not_attempted = list(batch.mails)
        unrecorded: list[MailKey] = []
        unrecorded_since = 0.0
        handled = 0
        try:
            while not_attempted and not self._stopping.is_set():
                # Out of the list before the attempt: a mail whose send was interrupted may
                # have reached the server, so it keeps its lease rather than being released.
                queued = not_attempted.pop(0)
                if await self._attempt(queued, batch):
                    if not unrecorded:
                        unrecorded_since = time.monotonic()
                    unrecorded.append(queued.key)
                handled += 1
                if unrecorded and time.monotonic() - unrecorded_since >= self._record_sent_within:
                    await batch.sent(unrecorded)
                    unrecorded = []
        finally:
            # Also when interrupted: what the server accepted is recorded, and what was never
            # tried is due again at once instead of when the lease ends.
            if unrecorded:
                await batch.sent(unrecorded)
            if not_attempted:
                await batch.release([queued.key for queued in not_attempted])
        return handled

    async def _attempt(self, queued: QueuedMail, batch: ClaimedBatch) -> bool:
        """Send one mail; whether the server accepted it. A failure is recorded here."""
        with structlog.contextvars.bound_contextvars(
            mail=queued.key.kind.value, event_id=str(queued.key.event_id)
        ):
            try:
                await self._sender.send(queued)
            except PermanentDeliveryError as exc:
                log.error("mail refused for good; not retried", error=str(exc))
                await batch.give_up(queued.key, str(exc)[:_MAX_ERROR])
                return False
            except Exception as exc:
                attempt = queued.attempts + 1
                delay = exponential_backoff(attempt, self._retry_backoff, self._max_retry_backoff)
                log.warning(
                    "mail delivery failed; will retry",
                    attempt=attempt,
                    retry_in=delay,
                    error=repr(exc),
                )
                await batch.retry_at(
                    queued.key, self._clock() + timedelta(seconds=delay), repr(exc)[:_MAX_ERROR]
                )
                return False
            log.info("mail sent", attempts=queued.attempts + 1)
            return True

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
        """Ask :meth:`run` to return after the mail in hand, without waiting for the next one;
        the rest of its batch is released, due again at once."""
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
