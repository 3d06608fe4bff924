"""Issuing an invoice: step one of billing, committed before any money moves.

One transaction allocates the merchant's next invoice number, appends ``InvoiceIssued`` to the
invoice's stream and records the invoice as a pending charge (with the card to charge), then
commits. Charging follows in :mod:`invoicing.application.charging`.

Invoice ids say what an invoice bills, so issuing the same thing again finds the invoice
issued and returns it unchanged: no second invoice, no number used up. The number counter of
a merchant stays locked until the issuing transaction ends, so numbers follow the order in
which invoices are issued, without gaps (a rolled-back issue gives its number back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import structlog

from billing_events.contract.common import CardSummary
from billing_events.store import ConcurrencyConflict, TransactionTooOld
from invoicing.application.invoices import Context, InvoiceStore
from invoicing.application.ports import (
    Clock,
    InvoiceNumbers,
    PendingCharge,
    PendingCharges,
    Transactions,
)
from invoicing.domain.identity import invoice_number
from invoicing.domain.invoice import Invoice, IssueInvoice, Status, decide, fold

log = structlog.stdlib.get_logger(__name__)

ISSUE_ATTEMPTS: Final = 5
# How long the worker that issued an invoice has to charge it before recovery may take over.
RECOVERY_GRACE: Final = timedelta(minutes=2)

InvoiceDraft = Callable[[str], IssueInvoice]
"""Builds the issue command once the invoice's number is known."""


@dataclass(frozen=True)
class InvoiceIssuer:
    invoices: InvoiceStore
    transactions: Transactions
    numbers: InvoiceNumbers
    pending: PendingCharges
    clock: Clock

    async def issue(
        self,
        invoice_id: str,
        draft: InvoiceDraft,
        payment_method: CardSummary,
        context: Context,
    ) -> Invoice:
        """Issue ``invoice_id`` as ``draft`` describes it, unless it is issued already;
        returns the invoice's state. Raises ``Rejected`` for an invoice the aggregate refuses.
        """
        for attempt in range(1, ISSUE_ATTEMPTS + 1):
            try:
                async with self.transactions.transaction() as tx:
                    loaded = await self.invoices.load(invoice_id, tx)
                    if loaded.state.status is not Status.NOT_ISSUED:
                        return loaded.state
                    sequence = await self.numbers.next_sequence(tx, context.merchant_id)
                    command = draft(invoice_number(context.merchant_id, sequence))
                    if command.invoice_id != invoice_id:
                        raise ValueError(f"draft of {command.invoice_id} issued as {invoice_id}")
                    events = decide(command, loaded.state)
                    await self.invoices.append(
                        invoice_id, loaded.version, events, context, command.issued_at, tx
                    )
                    due_at = self.clock() + RECOVERY_GRACE
                    pending = PendingCharge(invoice_id, payment_method, context, due_at)
                    await self.pending.add(tx, pending)
                    invoice = fold(events, loaded.state)
            except (ConcurrencyConflict, TransactionTooOld):
                # Another worker issued it meanwhile (our number went back with the rollback),
                # or the stream moved under an older transaction: run it again, afresh.
                if attempt == ISSUE_ATTEMPTS:
                    raise
                continue
            log.info(
                "invoice issued",
                number=invoice.number,
                reason=invoice.reason,
                amount_due=invoice.amount_due,
                currency=invoice.currency,
            )
            return invoice
        raise AssertionError("unreachable")
