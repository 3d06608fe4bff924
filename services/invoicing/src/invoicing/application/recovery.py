"""Finishing first charges that nobody finished: the worker crashed for good, or the delivery
was dead-lettered after the processor kept failing.

An invoice stays in the pending charges from its issue until its outcome is recorded. Recovery
takes those whose grace period has passed and runs the same charging step as the consumer
(same idempotency key, so a charge the lost worker made is returned, not repeated). One that
fails again is postponed by ``RETRY_DELAY`` and tried later; the rest go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import structlog

from invoicing.application.charging import InvoiceCharger
from invoicing.application.invoices import InvoiceStore
from invoicing.application.ports import Clock, PendingCharges, Transactions

log = structlog.stdlib.get_logger(__name__)

RETRY_DELAY: Final = timedelta(minutes=5)
BATCH_SIZE: Final = 50


@dataclass(frozen=True)
class StalledChargeRecovery:
    invoices: InvoiceStore
    transactions: Transactions
    pending: PendingCharges
    charger: InvoiceCharger
    clock: Clock

    async def run_once(self, limit: int = BATCH_SIZE) -> int:
        """Settle the pending charges that are due; returns how many were settled."""
        settled = 0
        for pending in await self.pending.due(self.clock(), limit):
            with structlog.contextvars.bound_contextvars(
                invoice_id=pending.invoice_id,
                correlation_id=str(pending.context.correlation_id),
            ):
                try:
                    async with self.transactions.transaction() as tx:
                        loaded = await self.invoices.load(pending.invoice_id, tx)
                    await self.charger.settle_first_charge(
                        loaded.state, pending.payment_method, pending.context
                    )
                except Exception as exc:
                    # The processor or the database is still failing: try again later and
                    # keep going with the others.
                    log.warning("stalled charge still failing; postponed", error=repr(exc))
                    await self.pending.postpone(pending.invoice_id, self.clock() + RETRY_DELAY)
                    continue
                log.info("stalled charge settled")
                settled += 1
        return settled
