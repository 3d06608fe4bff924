"""Reacts to ``billing.invoices.events``: the first invoice's payment decides activation.

``InvoiceIssued`` is remembered (invoice -> subscription, reason); on ``InvoicePaid`` of a
``subscription_create`` invoice the subscription is activated, on its ``ChargeFailed`` the
activation fails. Invoicing publishes an invoice's events keyed by its stream, so the issue is
always seen before the payment outcome. Invoices of other reasons (renewals, plan changes,
arrears) belong to later issues and are only remembered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from billing_events.contract.events import ChargeFailed, InvoiceIssued, InvoicePaid
from billing_events.envelope import Envelope
from subscriptions.application.aggregates import SUBSCRIPTIONS, Context
from subscriptions.application.ports import InvoiceLink, InvoiceLinks, MerchantClock
from subscriptions.application.writer import Writer
from subscriptions.domain.rejection import Rejected
from subscriptions.domain.subscription import (
    ActivateSubscription,
    FailActivation,
    SubscriptionCommand,
)

if TYPE_CHECKING:
    from asyncpg import Connection

log = structlog.stdlib.get_logger(__name__)

FIRST_INVOICE = "subscription_create"


@dataclass
class InvoiceEventHandler:
    """``handle(envelope, conn)`` for the idempotent consumer of the invoice event topic."""

    writer: Writer
    links: InvoiceLinks
    clock: MerchantClock

    def acts_on(self, envelope: Envelope) -> bool:
        """The other invoice events (a charge that succeeded, a receipt...) change nothing
        here: the consumer settles them without a transaction."""
        return isinstance(envelope.data, InvoiceIssued | InvoicePaid | ChargeFailed)

    async def __call__(self, envelope: Envelope, conn: Connection) -> None:
        event = envelope.data
        if isinstance(event, InvoiceIssued):
            if event.subscription_id is not None:
                link = InvoiceLink(
                    event.invoice_id, event.subscription_id, event.reason, event.period_start
                )
                await self.links.remember(envelope.merchant_id, link, conn=conn)
        elif isinstance(event, InvoicePaid):
            await self._on_paid(envelope, event, conn)
        elif isinstance(event, ChargeFailed):
            await self._on_charge_failed(envelope, event, conn)

    async def _on_paid(self, envelope: Envelope, event: InvoicePaid, conn: Connection) -> None:
        link = await self.links.find(envelope.merchant_id, event.invoice_id, conn=conn)
        if link is not None:
            if link.reason != FIRST_INVOICE:
                return
            subscription_id = link.subscription_id
        elif event.subscription_id is not None:
            # The InvoiceIssued was not seen (dead-lettered, say). The subscription knows
            # whether it still waits for its first payment; if not, the domain refuses.
            subscription_id = event.subscription_id
        else:
            return
        period_start = link.period_start if link is not None else None
        command = ActivateSubscription(
            invoice_id=event.invoice_id, period_start=period_start or event.paid_at
        )
        await self._apply(envelope, subscription_id, command, conn)

    async def _on_charge_failed(
        self, envelope: Envelope, event: ChargeFailed, conn: Connection
    ) -> None:
        link = await self.links.find(envelope.merchant_id, event.invoice_id, conn=conn)
        if link is None:
            log.warning(
                "charge failed for an invoice never seen issued; ignored",
                invoice_id=event.invoice_id,
            )
            return
        if link.reason != FIRST_INVOICE:
            return
        command = FailActivation(
            invoice_id=event.invoice_id, decline_code=event.decline_code, message=event.message
        )
        await self._apply(envelope, link.subscription_id, command, conn)

    async def _apply(
        self,
        envelope: Envelope,
        subscription_id: str,
        command: SubscriptionCommand,
        conn: Connection,
    ) -> None:
        now = await self.clock.now(envelope.merchant_id, conn=conn)
        context = Context.caused_by(envelope, now)
        try:
            events = await self.writer.execute(
                SUBSCRIPTIONS, subscription_id, command, context, conn=conn
            )
        except Rejected as rejection:
            # Nobody waits for an answer to an event: the outcome is only worth a log line
            # (a payment arriving for a subscription canceled meanwhile, a duplicate outcome).
            log.warning(
                "invoice outcome not applied",
                subscription_id=subscription_id,
                invoice_event=envelope.event_type,
                code=rejection.code,
                reason=rejection.message,
            )
            return
        log.info(
            "subscription updated from invoice",
            subscription_id=subscription_id,
            events=[e.event_type for e in events],
        )
