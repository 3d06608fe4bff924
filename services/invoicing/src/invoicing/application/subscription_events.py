"""Reacts to ``billing.subscriptions.events``: invoices for a subscription's periods, charged.

* ``SubscriptionCreated``: the first invoice (reason ``subscription_create``), for the plan's
  first period;
* ``SubscriptionRenewed``: a cycle invoice (reason ``subscription_cycle``) for the period that
  began, issued at the renewal's time (the merchant's clock), charged to the subscription's
  current card at its current plan's price;
* ``SubscriptionCreated``, ``PaymentMethodUpdated`` and ``PlanChanged`` also update invoicing's
  copy of the subscription's terms (customer, plan, card), which renewals are billed with.

The charge is a side effect outside the database, so billing is split in steps, each safe to
repeat:

1. terms (when the event changes them): one transaction, guarded by the subscription stream
   version, so a repeated or late event never overwrites a newer one;
2. issue (:mod:`invoicing.application.issuing`): number, ``InvoiceIssued`` and the pending
   charge in one transaction. The invoice id says what it bills, so a redelivery finds the
   invoice issued and skips this step;
3. charge and record (:mod:`invoicing.application.charging`): with the card recorded at issue,
   through the processor with an idempotency key that a retry repeats, then ``ChargeSucceeded``
   + ``InvoicePaid`` or ``ChargeFailed`` in a transaction that also clears the pending charge.

Steps commit in transactions of their own, not in the consumer's inbox transaction: the inbox
transaction started first, and the event store orders the outbox by transaction, so events
written in it would be published before the ``InvoiceIssued`` committed in between; and the
terms of a new subscription must stay recorded even when its first charge keeps failing. The
inbox still turns an ordinary redelivery into a skip; a redelivery after a crash runs the
steps again and each finds its work done or finishes it. A delivery that never comes back (it
was dead-lettered) leaves its pending charge to :mod:`invoicing.application.recovery`.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import structlog

from billing_events.contract.events import (
    SubscriptionCreated,
    SubscriptionRenewed,
)
from billing_events.envelope import Envelope
from invoicing.application.charging import InvoiceCharger
from invoicing.application.invoices import Context
from invoicing.application.issuing import InvoiceIssuer
from invoicing.application.ports import Clock, SubscriptionTermsRepository, Transactions
from invoicing.domain.billing_terms import (
    BillableTerms,
    SubscriptionTerms,
    TermsEvent,
    observe,
)
from invoicing.domain.invoice import Invoice, IssueInvoice
from invoicing.domain.subscription_billing import (
    cycle_invoice,
    cycle_invoice_id,
    first_invoice,
    first_invoice_id,
)

log = structlog.stdlib.get_logger(__name__)

# What changes the terms or starts a period to bill: every event the handler acts on.
_BILLING_EVENTS = TermsEvent | SubscriptionRenewed


class UnknownSubscription(LookupError):
    """A renewal of a subscription whose creation invoicing never saw: there is no plan or
    card to bill. Nothing is written; the message is retried, then dead-lettered with this
    error, and can be replayed once the subscription's history has been."""

    def __init__(self, merchant_id: str, subscription_id: str) -> None:
        super().__init__(
            f"cannot bill the renewal of subscription {subscription_id} (merchant "
            f"{merchant_id}): its SubscriptionCreated has not been seen, so its plan and "
            "payment method are unknown"
        )
        self.merchant_id = merchant_id
        self.subscription_id = subscription_id


@dataclass(frozen=True)
class SubscriptionEventHandler:
    """``handle(envelope, conn)`` for the idempotent consumer of the subscription event topic.

    ``conn`` is the consumer's inbox transaction; this handler writes in transactions of its
    own (see the module docstring) and only ignores ``conn``.
    """

    transactions: Transactions
    terms: SubscriptionTermsRepository
    issuer: InvoiceIssuer
    charger: InvoiceCharger
    clock: Clock

    def acts_on(self, envelope: Envelope) -> bool:
        """Most subscription events (a cancellation, say) bill nothing: the consumer settles
        them without a transaction."""
        return isinstance(envelope.data, _BILLING_EVENTS)

    async def __call__(self, envelope: Envelope, conn: asyncpg.Connection) -> None:
        event = envelope.data
        if isinstance(event, TermsEvent):
            await self.remember_terms(envelope, event)
        if isinstance(event, SubscriptionCreated):
            await self.bill_first_period(envelope, event)
        elif isinstance(event, SubscriptionRenewed):
            await self.bill_renewal(envelope, event)

    async def remember_terms(self, envelope: Envelope, event: TermsEvent) -> None:
        def change(terms: SubscriptionTerms) -> SubscriptionTerms:
            return observe(terms, event, envelope.stream_version)

        async with self.transactions.transaction() as tx:
            await self.terms.change(tx, envelope.merchant_id, event.subscription_id, change)

    async def bill_first_period(self, envelope: Envelope, created: SubscriptionCreated) -> Invoice:
        """Issue, charge and settle the subscription's first invoice; returns its final state."""
        context = Context.caused_by(envelope)
        invoice_id = first_invoice_id(envelope.merchant_id, created.subscription_id)
        with structlog.contextvars.bound_contextvars(
            invoice_id=invoice_id, subscription_id=created.subscription_id
        ):
            # Dated when the subscription began in its merchant's time, as renewals are: with a
            # test clock set in the past the first invoice must precede its renewals.
            def draft(number: str) -> IssueInvoice:
                return first_invoice(
                    created,
                    merchant_id=envelope.merchant_id,
                    created_at=envelope.occurred_at,
                    number=number,
                    issued_at=envelope.occurred_at,
                )

            invoice = await self.issuer.issue(invoice_id, draft, created.payment_method, context)
            return await self.charger.settle_pending(invoice)

    async def bill_renewal(self, envelope: Envelope, renewed: SubscriptionRenewed) -> Invoice:
        """Issue, charge and settle the invoice of the period ``renewed`` began; returns its
        final state. Raises :class:`UnknownSubscription` when there are no terms to bill."""
        context = Context.caused_by(envelope)
        invoice_id = cycle_invoice_id(
            envelope.merchant_id, renewed.subscription_id, renewed.current_period_start
        )
        with structlog.contextvars.bound_contextvars(
            invoice_id=invoice_id, subscription_id=renewed.subscription_id
        ):
            terms = await self._billable_terms(envelope.merchant_id, renewed.subscription_id)

            def draft(number: str) -> IssueInvoice:
                return cycle_invoice(
                    renewed,
                    terms,
                    merchant_id=envelope.merchant_id,
                    number=number,
                    # The renewal's own time: the merchant's clock, test clock included.
                    issued_at=envelope.occurred_at,
                )

            invoice = await self.issuer.issue(invoice_id, draft, terms.payment_method, context)
            return await self.charger.settle_pending(invoice)

    async def _billable_terms(self, merchant_id: str, subscription_id: str) -> BillableTerms:
        async with self.transactions.transaction() as tx:
            terms = await self.terms.find(tx, merchant_id, subscription_id)
        billable = terms.billable() if terms is not None else None
        if billable is None:
            raise UnknownSubscription(merchant_id, subscription_id)
        return billable
