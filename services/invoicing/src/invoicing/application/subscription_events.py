"""Reacts to ``billing.subscriptions.events``: a new subscription gets its first invoice, charged.

The charge is a side effect outside the database, so the work is split in steps, each safe to
repeat:

1. issue: one transaction allocates the invoice number, appends ``InvoiceIssued`` to the
   invoice's stream and records the invoice as a pending charge, then commits. The invoice id
   is derived from the subscription, so a redelivered ``SubscriptionCreated`` finds the
   invoice issued and skips this step;
2. charge and record (:mod:`invoicing.application.charging`): through the processor with an
   idempotency key that a retry repeats, then ``ChargeSucceeded`` + ``InvoicePaid`` or
   ``ChargeFailed`` in a transaction that also clears the pending charge.

Steps commit in transactions of their own, not in the consumer's inbox transaction: the inbox
transaction started first, and the event store orders the outbox by transaction, so events
written in it would be published before the ``InvoiceIssued`` committed in between. The inbox
still turns an ordinary redelivery into a skip; a redelivery after a crash runs the steps
again and each finds its work done or finishes it. A delivery that never comes back (it was
dead-lettered) leaves its pending charge to :mod:`invoicing.application.recovery`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import asyncpg
import structlog

from billing_events.contract.events import SubscriptionCreated
from billing_events.envelope import Envelope
from billing_events.store import ConcurrencyConflict
from invoicing.application.charging import InvoiceCharger
from invoicing.application.invoices import Context, InvoiceStore
from invoicing.application.ports import (
    Clock,
    InvoiceNumbers,
    PendingCharge,
    PendingCharges,
    Transactions,
)
from invoicing.domain.identity import invoice_number
from invoicing.domain.invoice import Invoice, Status, decide, fold
from invoicing.domain.subscription_billing import first_invoice, first_invoice_id

log = structlog.stdlib.get_logger(__name__)

ISSUE_ATTEMPTS: Final = 5
# How long the worker that issued an invoice has to charge it before recovery may take over.
RECOVERY_GRACE: Final = timedelta(minutes=2)


@dataclass(frozen=True)
class SubscriptionEventHandler:
    """``handle(envelope, conn)`` for the idempotent consumer of the subscription event topic.

    ``conn`` is the consumer's inbox transaction; this handler writes in transactions of its
    own (see the module docstring) and only ignores ``conn``.
    """

    invoices: InvoiceStore
    transactions: Transactions
    numbers: InvoiceNumbers
    pending: PendingCharges
    charger: InvoiceCharger
    clock: Clock

    async def __call__(self, envelope: Envelope, conn: asyncpg.Connection) -> None:
        if isinstance(envelope.data, SubscriptionCreated):
            await self.bill_first_period(envelope, envelope.data)

    async def bill_first_period(self, envelope: Envelope, created: SubscriptionCreated) -> Invoice:
        """Issue, charge and settle the subscription's first invoice; returns its final state."""
        context = Context.caused_by(envelope)
        invoice_id = first_invoice_id(envelope.merchant_id, created.subscription_id)
        with structlog.contextvars.bound_contextvars(
            invoice_id=invoice_id, subscription_id=created.subscription_id
        ):
            invoice = await self._issue(invoice_id, envelope, created, context)
            return await self.charger.settle_first_charge(invoice, created.payment_method, context)

    async def _issue(
        self,
        invoice_id: str,
        envelope: Envelope,
        created: SubscriptionCreated,
        context: Context,
    ) -> Invoice:
        for attempt in range(1, ISSUE_ATTEMPTS + 1):
            try:
                async with self.transactions.transaction() as tx:
                    loaded = await self.invoices.load(invoice_id, tx)
                    if loaded.state.status is not Status.NOT_ISSUED:
                        return loaded.state
                    sequence = await self.numbers.next_sequence(tx, envelope.merchant_id)
                    now = self.clock()
                    command = first_invoice(
                        created,
                        merchant_id=envelope.merchant_id,
                        created_at=envelope.occurred_at,
                        number=invoice_number(envelope.merchant_id, sequence),
                        issued_at=now,
                    )
                    events = decide(command, loaded.state)
                    await self.invoices.append(invoice_id, loaded.version, events, context, now, tx)
                    pending = PendingCharge(
                        invoice_id, created.payment_method, context, now + RECOVERY_GRACE
                    )
                    await self.pending.add(tx, pending)
                    invoice = fold(events, loaded.state)
            except ConcurrencyConflict:
                # Another worker issued it meanwhile; our number went back with the rollback.
                if attempt == ISSUE_ATTEMPTS:
                    raise
                continue
            log.info(
                "invoice issued",
                number=invoice.number,
                amount_due=invoice.amount_due,
                currency=invoice.currency,
            )
            return invoice
        raise AssertionError("unreachable")
