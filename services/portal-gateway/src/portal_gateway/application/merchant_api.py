"""The merchant API's use cases: validate against the read model, send the command, wait for
the outcome, answer from the read model.

Everything is scoped to the authenticated merchant: an id of another merchant is looked up
with this merchant's id and is therefore missing (404), never revealed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from pydantic import ValidationError

from billing_events.contract.commands import (
    AttachPaymentMethod,
    CancelSubscription,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
    UpdateSubscriptionPaymentMethod,
)
from billing_events.contract.common import CardSummary
from billing_events.envelope import EventData
from payments import CardError, CardInput, PaymentProcessor
from portal_gateway.application.errors import (
    PaymentFailed,
    ResourceMissing,
    StillProcessing,
    rejection_error,
)
from portal_gateway.application.ports import (
    CardView,
    CommandGateway,
    CommandOutcome,
    CustomerView,
)
from portal_gateway.application.views import (
    HistoryEntry,
    InvoiceDetail,
    PlanView,
    SubscriptionDetail,
)
from portal_gateway.domain import ids
from portal_gateway.domain.outcomes import TIMEOUT_CODE, stream_key
from portal_gateway.domain.subscriptions import SubscriptionStatus

T = TypeVar("T")
Clock = Callable[[], datetime]


class ReadModel(Protocol):
    async def plan(self, merchant_id: str, plan_id: str) -> PlanView | None: ...

    async def customer(self, merchant_id: str, customer_id: str) -> CustomerView | None: ...

    async def payment_method(
        self, merchant_id: str, customer_id: str, payment_method_id: str
    ) -> CardView | None: ...

    async def subscription_detail(
        self, merchant_id: str, subscription_id: str
    ) -> SubscriptionDetail | None: ...

    async def subscription_exists(self, merchant_id: str, subscription_id: str) -> bool: ...

    async def history(
        self, stream_id: str, merchant_id: str | None = None
    ) -> list[HistoryEntry]: ...

    async def invoice(self, merchant_id: str, invoice_id: str) -> InvoiceDetail | None: ...

    async def invoices(
        self,
        merchant_id: str,
        *,
        subscription_id: str | None = None,
        customer_id: str | None = None,
        limit: int = 100,
    ) -> list[InvoiceDetail]: ...


class Commands(CommandGateway, Protocol):
    async def send_to_subscription(
        self,
        command: EventData,
        *,
        subscription_id: str,
        merchant_id: str,
        timeout: float = 5.0,
    ) -> tuple[CommandOutcome, SubscriptionDetail | None] | None:
        """Like ``send`` to the subscription's stream, also answering the subscription as
        the outcome left it; on a timeout, as it is meanwhile.

        Sends only if the merchant has the subscription: None, and nothing sent, if not.
        """
        ...


class Waiter(Protocol):
    async def wait_for(
        self,
        keys: Iterable[str],
        check: Callable[[], Awaitable[T | None]],
        timeout: float,
    ) -> T | None: ...


@dataclass(frozen=True)
class CreatedPortalSession:
    session_id: str
    url: str
    expires_at: datetime


class PortalSessions(Protocol):
    async def create(
        self,
        *,
        merchant_id: str,
        customer_id: str,
        return_url: str | None,
        locale: str | None,
        now: datetime,
    ) -> CreatedPortalSession: ...


@dataclass(frozen=True)
class AttachedCard:
    customer_id: str
    card: CardView


@dataclass(frozen=True)
class Timeouts:
    command: float = 5.0  # until the owner's answer is projected
    activation: float = 20.0  # until a new subscription's first charge is decided


class MerchantApi:
    def __init__(
        self,
        *,
        commands: Commands,
        reads: ReadModel,
        waiter: Waiter,
        processor: PaymentProcessor,
        sessions: PortalSessions,
        clock: Clock,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self._commands = commands
        self._reads = reads
        self._waiter = waiter
        self._processor = processor
        self._sessions = sessions
        self._clock = clock
        self._timeouts = timeouts

    # --- plans and customers ------------------------------------------------------------

    async def create_plan(
        self,
        merchant_id: str,
        *,
        name: str,
        description: str,
        image_url: str | None,
        amount: int,
        currency: str,
        interval: str,
    ) -> PlanView:
        plan_id = ids.new_plan_id()
        command = CreatePlan.model_validate(
            {
                "plan_id": plan_id,
                "name": name,
                "description": description,
                "image_url": image_url,
                "amount": amount,
                "currency": currency,
                "interval": interval,
            }
        )
        outcome = await self._send(command, ids.plan_stream(plan_id), merchant_id)
        return await self._created(
            outcome, "plan", plan_id, lambda: self._reads.plan(merchant_id, plan_id)
        )

    async def get_plan(self, merchant_id: str, plan_id: str) -> PlanView:
        return _found(await self._reads.plan(merchant_id, plan_id), "plan", plan_id)

    async def register_customer(
        self,
        merchant_id: str,
        *,
        email: str,
        name: str,
        phone: str | None,
        locale: str,
    ) -> CustomerView:
        customer_id = ids.new_customer_id()
        command = RegisterCustomer.model_validate(
            {
                "customer_id": customer_id,
                "email": email,
                "name": name,
                "phone": phone,
                "locale": locale,
            }
        )
        outcome = await self._send(command, ids.customer_stream(customer_id), merchant_id)
        return await self._created(
            outcome,
            "customer",
            customer_id,
            lambda: self._reads.customer(merchant_id, customer_id),
        )

    async def get_customer(self, merchant_id: str, customer_id: str) -> CustomerView:
        return _found(await self._reads.customer(merchant_id, customer_id), "customer", customer_id)

    # --- payment methods ----------------------------------------------------------------

    async def attach_payment_method(
        self, merchant_id: str, customer_id: str, card: CardInput
    ) -> AttachedCard:
        """Tokenize ``card`` and attach the token to the customer.

        The card number and CVC exist only in ``card`` and in the processor call: what leaves
        this function (command, response, log lines) is the token and the card summary.
        """
        await self._require_customer(merchant_id, customer_id)
        try:
            tokenized = await self._processor.tokenize(card)
        except CardError as exc:
            raise PaymentFailed(
                exc.message,
                code=exc.code,
                param=f"card.{exc.param}" if exc.param else None,
            ) from None
        summary = CardSummary(
            payment_method_id=tokenized.payment_method_id,
            brand=tokenized.brand,
            last4=tokenized.last4,
            exp_month=tokenized.exp_month,
            exp_year=tokenized.exp_year,
        )
        command = AttachPaymentMethod(customer_id=customer_id, card=summary)
        outcome = await self._send(command, ids.customer_stream(customer_id), merchant_id)
        view = CardView(
            payment_method_id=summary.payment_method_id,
            brand=summary.brand,
            last4=summary.last4,
            exp_month=summary.exp_month,
            exp_year=summary.exp_year,
        )
        attached = AttachedCard(customer_id=customer_id, card=view)
        _raise_unless_accepted(outcome, "payment_method", summary.payment_method_id, attached)
        return attached

    # --- subscriptions ------------------------------------------------------------------

    async def create_subscription(
        self, merchant_id: str, *, customer_id: str, plan_id: str, payment_method_id: str
    ) -> SubscriptionDetail:
        """Create the subscription and wait until its first charge is decided.

        Returns it active; raises :class:`PaymentFailed` (402) with the decline code when the
        first charge failed, :class:`StillProcessing` (202) when the wait ran out.
        """
        await self._require_customer(merchant_id, customer_id)
        if await self._reads.plan(merchant_id, plan_id) is None:
            raise ResourceMissing(f"No such plan: {plan_id!r}.", param="plan")
        card = await self._reads.payment_method(merchant_id, customer_id, payment_method_id)
        if card is None:
            raise ResourceMissing(
                f"No such payment method for customer {customer_id!r}.", param="payment_method"
            )
        subscription_id = ids.new_subscription_id()
        command = CreateSubscription(
            subscription_id=subscription_id,
            customer_id=customer_id,
            plan_id=plan_id,
            payment_method_id=payment_method_id,
        )
        stream = ids.subscription_stream(subscription_id)
        outcome = await self._send(command, stream, merchant_id)
        _raise_unless_accepted(outcome, "subscription", subscription_id)

        async def settled() -> SubscriptionDetail | None:
            detail = await self._reads.subscription_detail(merchant_id, subscription_id)
            if detail is None or not SubscriptionStatus(detail.view.status).settled:
                return None
            return detail

        # Activation is caused by the invoice's events, not by our command: wait on the
        # subscription's stream instead of the command's outcome.
        detail = await self._waiter.wait_for(
            [stream_key(stream)], settled, self._timeouts.activation
        )
        if detail is None:
            raise StillProcessing(
                "The subscription was created; its first payment is still being processed.",
                object_type="subscription",
                resource_id=subscription_id,
                resource=await self._reads.subscription_detail(merchant_id, subscription_id),
            )
        if detail.view.status == SubscriptionStatus.INCOMPLETE_EXPIRED:
            code = detail.activation_failure_code or "card_declined"
            raise PaymentFailed(
                detail.activation_failure_message or "The first payment failed.",
                code=code,
                param="payment_method",
                extra={"decline_code": code, "subscription": subscription_id},
            )
        return detail

    async def get_subscription(self, merchant_id: str, subscription_id: str) -> SubscriptionDetail:
        return _found(
            await self._reads.subscription_detail(merchant_id, subscription_id),
            "subscription",
            subscription_id,
        )

    async def subscription_events(
        self, merchant_id: str, subscription_id: str
    ) -> list[HistoryEntry]:
        await self._require_subscription(merchant_id, subscription_id)
        return await self._reads.history(ids.subscription_stream(subscription_id), merchant_id)

    async def cancel_subscription(
        self,
        merchant_id: str,
        subscription_id: str,
        *,
        at_period_end: bool,
        reason: str | None,
        comment: str | None,
    ) -> SubscriptionDetail:
        try:
            command = CancelSubscription.model_validate(
                {
                    "subscription_id": subscription_id,
                    "at_period_end": at_period_end,
                    "reason": reason,
                    "comment": comment,
                }
            )
        except ValidationError:
            # An unknown subscription is a 404 before anything about the request is judged.
            await self._require_subscription(merchant_id, subscription_id)
            raise
        # Sending checks that the subscription exists: no separate round trip for it.
        return await self._send_to_subscription(command, subscription_id, merchant_id)

    async def update_subscription_payment_method(
        self, merchant_id: str, subscription_id: str, *, payment_method_id: str
    ) -> SubscriptionDetail:
        """Charge the subscription to another of its customer's cards from now on."""
        current = await self.get_subscription(merchant_id, subscription_id)
        card = await self._reads.payment_method(
            merchant_id, current.view.customer_id, payment_method_id
        )
        if card is None:
            raise ResourceMissing(
                f"No such payment method for customer {current.view.customer_id!r}.",
                code="payment_method_not_found",
                param="payment_method",
            )
        command = UpdateSubscriptionPaymentMethod(
            subscription_id=subscription_id, payment_method_id=payment_method_id
        )
        return await self._send_to_subscription(command, subscription_id, merchant_id)

    # --- invoices -----------------------------------------------------------------------

    async def list_invoices(
        self,
        merchant_id: str,
        *,
        subscription_id: str | None,
        customer_id: str | None,
        limit: int,
    ) -> list[InvoiceDetail]:
        """Newest first; an unknown (or another merchant's) subscription or customer filter
        is a 404 rather than an empty list, so a typo does not read as "no invoices"."""
        if subscription_id is not None:
            await self._require_subscription(merchant_id, subscription_id, param="subscription")
        if customer_id is not None:
            await self._require_customer(merchant_id, customer_id)
        return await self._reads.invoices(
            merchant_id, subscription_id=subscription_id, customer_id=customer_id, limit=limit
        )

    async def get_invoice(self, merchant_id: str, invoice_id: str) -> InvoiceDetail:
        return _found(await self._reads.invoice(merchant_id, invoice_id), "invoice", invoice_id)

    # --- portal sessions ----------------------------------------------------------------

    async def create_portal_session(
        self,
        merchant_id: str,
        *,
        customer_id: str,
        return_url: str | None,
        locale: str | None,
    ) -> CreatedPortalSession:
        await self._require_customer(merchant_id, customer_id)
        return await self._sessions.create(
            merchant_id=merchant_id,
            customer_id=customer_id,
            return_url=return_url,
            locale=locale,
            now=self._clock(),
        )

    # --- helpers ------------------------------------------------------------------------

    async def _send(self, command: EventData, stream: str, merchant_id: str) -> CommandOutcome:
        return await self._commands.send(
            command, stream_id=stream, merchant_id=merchant_id, timeout=self._timeouts.command
        )

    async def _send_to_subscription(
        self, command: EventData, subscription_id: str, merchant_id: str
    ) -> SubscriptionDetail:
        """Send a command to an existing subscription; answer the subscription it left.

        A subscription the merchant does not have is a 404, and nothing is sent.
        """
        sent = await self._commands.send_to_subscription(
            command,
            subscription_id=subscription_id,
            merchant_id=merchant_id,
            timeout=self._timeouts.command,
        )
        if sent is None:
            raise _subscription_missing(subscription_id)
        outcome, after = sent
        _raise_unless_accepted(outcome, "subscription", subscription_id, after)
        return _found(after, "subscription", subscription_id)

    async def _require_subscription(
        self, merchant_id: str, subscription_id: str, *, param: str = "id"
    ) -> None:
        # Existence only: building the whole subscription would be thrown away.
        if not await self._reads.subscription_exists(merchant_id, subscription_id):
            raise _subscription_missing(subscription_id, param=param)

    async def _require_customer(self, merchant_id: str, customer_id: str) -> CustomerView:
        customer = await self._reads.customer(merchant_id, customer_id)
        if customer is None:
            raise ResourceMissing(f"No such customer: {customer_id!r}.", param="customer")
        return customer

    async def _created(
        self,
        outcome: CommandOutcome,
        object_type: str,
        resource_id: str,
        read: Callable[[], Awaitable[T | None]],
    ) -> T:
        _raise_unless_accepted(outcome, object_type, resource_id)
        # The outcome and the row are written by the same projection transaction.
        resource = await read()
        if resource is None:
            raise StillProcessing(
                f"The {object_type} was accepted but is not readable yet.",
                object_type=object_type,
                resource_id=resource_id,
            )
        return resource


def _raise_unless_accepted(
    outcome: CommandOutcome, object_type: str, resource_id: str, resource: object | None = None
) -> None:
    if outcome.accepted:
        return
    if outcome.code == TIMEOUT_CODE:
        raise StillProcessing(
            outcome.message or "Still processing.",
            object_type=object_type,
            resource_id=resource_id,
            resource=resource,
        )
    raise rejection_error(outcome.code, outcome.message)


def _subscription_missing(subscription_id: str, *, param: str = "id") -> ResourceMissing:
    return ResourceMissing(f"No such subscription: {subscription_id!r}.", param=param)


def _found(value: T | None, object_type: str, resource_id: str) -> T:
    if value is None:
        raise ResourceMissing(f"No such {object_type}: {resource_id!r}.", param="id")
    return value
