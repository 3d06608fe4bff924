"""Charging an issued invoice and recording the outcome, safely repeatable.

The charge is a side effect outside the database. Its idempotency key is
``<invoice id>:<attempt>``, the attempt counting the outcomes already recorded: a worker that
crashed after charging but before recording leaves the same attempt number behind, so whoever
finishes the job asks the processor with the same key and gets the same charge back instead
of making a second one. Recording is idempotent by charge id, so two workers finishing the
same job record it once.

The outcome is appended in a transaction of its own, which also removes the invoice from the
pending charges: after that commit nobody charges it again.

Times: the outcome is dated with the cause's :meth:`~Context.effect_time`, so with a
merchant's test clock ahead of the wall clock an invoice is never paid before it was issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import structlog

from billing_events.contract.common import CardSummary
from invoicing.application.invoices import Context, InvoiceStore
from invoicing.application.ports import Clock, PendingCharges, Transactions
from invoicing.domain.invoice import (
    Invoice,
    MarkPaidWithoutCharge,
    RecordChargeFailed,
    RecordChargeSucceeded,
    Status,
)
from payments import CardError, ChargeResult, PaymentProcessor

log = structlog.stdlib.get_logger(__name__)

# A charge refused before it reached the card (the token is not this account's) has no
# processor charge id; this prefix marks the one recorded in its place.
REFUSED_CHARGE_PREFIX: Final = "refused_"

_Settlement = RecordChargeSucceeded | RecordChargeFailed | MarkPaidWithoutCharge


def idempotency_key(invoice_id: str, attempt: int) -> str:
    return f"{invoice_id}:{attempt}"


@dataclass(frozen=True)
class InvoiceCharger:
    invoices: InvoiceStore
    transactions: Transactions
    pending: PendingCharges
    processor: PaymentProcessor
    clock: Clock

    async def settle_pending(self, invoice: Invoice) -> Invoice:
        """Settle the first charge of a just issued ``invoice`` with the card and context
        recorded when it was issued; returns the new state (unchanged when nothing is pending:
        its outcome was recorded already)."""
        pending = await self.pending.find(invoice.invoice_id)
        if pending is None:
            return invoice
        return await self.settle_first_charge(invoice, pending.payment_method, pending.context)

    async def settle_first_charge(
        self, invoice: Invoice, card: CardSummary, context: Context
    ) -> Invoice:
        """Charge ``invoice`` once unless its outcome is recorded; returns the new state.

        A failed first charge is final here: a first invoice's subscription does not start, a
        renewal's goes to dunning, whose job retrying a failed charge is.
        """
        free = invoice.status is Status.OPEN and invoice.amount_due == 0
        if not (free or invoice.awaiting_first_charge):
            # Paid, or its first charge's outcome is recorded: nothing left to do.
            await self._forget(invoice.invoice_id)
            return invoice
        if free:
            at = context.effect_time(self.clock())
            return await self._record(invoice, MarkPaidWithoutCharge(paid_at=at), context, at)
        result = await self._charge(invoice, card)
        at = context.effect_time(self.clock())
        command: _Settlement
        if result.succeeded:
            command = RecordChargeSucceeded(
                charge_id=result.charge_id,
                amount=invoice.amount_due,
                currency=invoice.currency,
                payment_method=card,
                paid_at=at,
            )
        else:
            command = RecordChargeFailed(
                charge_id=result.charge_id,
                amount=invoice.amount_due,
                currency=invoice.currency,
                payment_method=card,
                decline_code=result.decline_code or "card_declined",
                message=result.message or "The card was declined.",
            )
        settled = await self._record(invoice, command, context, at)
        log.info(
            "invoice charged",
            number=invoice.number,
            charge_id=result.charge_id,
            succeeded=result.succeeded,
            decline_code=result.decline_code,
            card_brand=card.brand,
            card_last4=card.last4,
        )
        return settled

    async def _charge(self, invoice: Invoice, card: CardSummary) -> ChargeResult:
        key = idempotency_key(invoice.invoice_id, invoice.next_attempt)
        try:
            return await self.processor.charge(
                card.payment_method_id,
                invoice.amount_due,
                invoice.currency,
                key,
                description=f"Invoice {invoice.number}",
            )
        except CardError as refused:
            # Not a bug to retry: the processor will never accept this payment method, which
            # to the customer is a declined payment like any other.
            return ChargeResult.declined(REFUSED_CHARGE_PREFIX + key, refused.code, refused.message)

    async def _record(
        self, invoice: Invoice, command: _Settlement, context: Context, at: datetime
    ) -> Invoice:
        async with self.transactions.transaction() as tx:
            await self.invoices.execute(invoice.invoice_id, command, context, at, tx)
            await self.pending.remove(tx, invoice.invoice_id)
            loaded = await self.invoices.load(invoice.invoice_id, tx)
        return loaded.state

    async def _forget(self, invoice_id: str) -> None:
        async with self.transactions.transaction() as tx:
            await self.pending.remove(tx, invoice_id)
