"""Changing the card a subscription is charged to: a saved card, or a new one.

A new card is tokenized by the payment processor here, at the edge: its number and CVC exist
only in the :class:`~payments.CardInput` handed in and in the processor call. What goes on is
the card summary (token, brand, last4, expiry): ``AttachPaymentMethod`` to the customer's
stream, then, once the customer owns the card, ``UpdateSubscriptionPaymentMethod`` to the
subscription's stream. The two commands go to different streams (and Kafka partitions), so the
second is only sent once the first is seen accepted; otherwise the subscription could be asked
to use a card its customer does not own yet.

Every outcome is a value, not an exception, so that the portal can say precisely what
happened: updated, the card refused by the processor, the owner's rejection, or still pending.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from billing_events.contract.commands import AttachPaymentMethod, UpdateSubscriptionPaymentMethod
from billing_events.contract.common import CardSummary
from billing_events.topics import stream_id
from payments import CardError, CardInput, PaymentProcessor
from portal_gateway.application.ports import CardView, CommandGateway, CommandOutcome
from portal_gateway.domain.outcomes import TIMEOUT_CODE


@dataclass(frozen=True)
class CardUpdated:
    """The subscription is now charged to ``card`` (the projection shows it)."""

    card: CardView


@dataclass(frozen=True)
class CardRefused:
    """The processor refused the new card (invalid number, expiry or CVC, declined...).
    Nothing was sent; ``param`` names the card field at fault, if one is."""

    code: str
    param: str | None


@dataclass(frozen=True)
class ChangeRejected:
    """The owner refused a command: ``code`` is its rejection code. ``attached`` is the new
    card when it was attached to the customer before the change itself was refused."""

    code: str
    message: str | None
    attached: CardView | None = None


@dataclass(frozen=True)
class ChangePending:
    """An answer was not seen within the bounded wait; the commands are durably queued."""

    attached: CardView | None = None


ChangeOutcome = CardUpdated | CardRefused | ChangeRejected | ChangePending


def card_view(summary: CardSummary) -> CardView:
    return CardView(
        payment_method_id=summary.payment_method_id,
        brand=summary.brand,
        last4=summary.last4,
        exp_month=summary.exp_month,
        exp_year=summary.exp_year,
    )


class PaymentMethodChanges:
    def __init__(
        self,
        *,
        commands: CommandGateway,
        processor: PaymentProcessor | None,
        timeout: float = 5.0,
    ) -> None:
        self._commands = commands
        self._processor = processor
        self._timeout = timeout

    @property
    def can_add_cards(self) -> bool:
        """Whether new cards can be tokenized here (a processor is configured)."""
        return self._processor is not None

    async def use_saved_card(
        self,
        *,
        merchant_id: str,
        subscription_id: str,
        card: CardView,
        correlation_id: uuid.UUID | None = None,
    ) -> ChangeOutcome:
        """Charge the subscription to ``card``, one of its customer's cards."""
        command = UpdateSubscriptionPaymentMethod(
            subscription_id=subscription_id, payment_method_id=card.payment_method_id
        )
        outcome = await self._commands.send(
            command,
            stream_id=stream_id("subscription", subscription_id),
            merchant_id=merchant_id,
            correlation_id=correlation_id,
            timeout=self._timeout,
        )
        return _judge(outcome, on_accepted=CardUpdated(card))

    async def add_and_use_card(
        self,
        *,
        merchant_id: str,
        customer_id: str,
        subscription_id: str,
        card: CardInput,
        correlation_id: uuid.UUID | None = None,
    ) -> ChangeOutcome:
        """Tokenize ``card``, attach it to the customer, then charge the subscription to it."""
        if self._processor is None:
            return CardRefused(code="processing_error", param=None)
        try:
            tokenized = await self._processor.tokenize(card)
        except CardError as exc:
            return CardRefused(code=exc.code, param=exc.param)
        summary = CardSummary(
            payment_method_id=tokenized.payment_method_id,
            brand=tokenized.brand,
            last4=tokenized.last4,
            exp_month=tokenized.exp_month,
            exp_year=tokenized.exp_year,
        )
        attached = card_view(summary)
        # One correlation for both commands: support sees them as one customer action.
        correlation = correlation_id or uuid.uuid4()
        outcome = await self._commands.send(
            AttachPaymentMethod(customer_id=customer_id, card=summary),
            stream_id=stream_id("customer", customer_id),
            merchant_id=merchant_id,
            correlation_id=correlation,
            timeout=self._timeout,
        )
        if not outcome.accepted:
            if outcome.code == TIMEOUT_CODE:
                return ChangePending(attached=None)
            return ChangeRejected(code=outcome.code or "rejected", message=outcome.message)
        changed = await self.use_saved_card(
            merchant_id=merchant_id,
            subscription_id=subscription_id,
            card=attached,
            correlation_id=correlation,
        )
        match changed:
            case ChangeRejected():
                return ChangeRejected(changed.code, changed.message, attached=attached)
            case ChangePending():
                return ChangePending(attached=attached)
        return changed


def _judge(outcome: CommandOutcome, *, on_accepted: ChangeOutcome) -> ChangeOutcome:
    if outcome.accepted:
        return on_accepted
    if outcome.code == TIMEOUT_CODE:
        return ChangePending()
    return ChangeRejected(code=outcome.code or "rejected", message=outcome.message)
