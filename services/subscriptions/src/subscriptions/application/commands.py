"""Handles the commands of ``billing.subscriptions.commands``.

Each command names its target stream (``plan-…``, ``customer-…``, ``subscription-…``,
``clock-…``); it is decided against that stream's current state, at the merchant's current
time, and the events are appended with the version that was read. A refused command leaves
the stream unchanged and is answered with a ``CommandRejected`` on the target's event topic
(through the outbox, in the same transaction as the inbox record), so the sender always hears
back, exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from billing_events import topics
from billing_events.contract.commands import (
    AdvanceTestClock,
    AttachPaymentMethod,
    CancelSubscription,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
    UpdateSubscriptionPaymentMethod,
)
from billing_events.contract.events import CommandRejected
from billing_events.envelope import Envelope, EventData, new_envelope
from subscriptions.application.aggregates import (
    CLOCKS,
    CUSTOMERS,
    PLANS,
    SUBSCRIPTIONS,
    Context,
    state_of,
)
from subscriptions.application.ports import MerchantClock, Outbox
from subscriptions.application.writer import Writer
from subscriptions.domain.rejection import INVALID_COMMAND, TEST_CLOCKS_DISABLED, Rejected
from subscriptions.domain.subscription import prepare_payment_method_update, prepare_start

if TYPE_CHECKING:
    from asyncpg import Connection

log = structlog.stdlib.get_logger(__name__)


def target_stream(command: EventData) -> str:
    """The stream a command acts on, from its payload."""
    if isinstance(command, CreatePlan):
        return PLANS.stream_id(command.plan_id)
    if isinstance(command, RegisterCustomer | AttachPaymentMethod):
        return CUSTOMERS.stream_id(command.customer_id)
    if isinstance(command, CreateSubscription | CancelSubscription):
        return SUBSCRIPTIONS.stream_id(command.subscription_id)
    if isinstance(command, UpdateSubscriptionPaymentMethod):
        return SUBSCRIPTIONS.stream_id(command.subscription_id)
    if isinstance(command, AdvanceTestClock):
        return CLOCKS.stream_id(command.merchant_id)
    raise Rejected(INVALID_COMMAND, f"{command.event_type} is not a subscriptions command")


@dataclass
class CommandHandler:
    """``handle(envelope, conn)`` for the idempotent consumer of the command topic."""

    writer: Writer
    outbox: Outbox
    clock: MerchantClock
    # Test clocks move a merchant's time; a production deployment turns them off.
    test_clocks_enabled: bool = True

    async def __call__(self, envelope: Envelope, conn: Connection) -> None:
        now = await self.clock.now(envelope.merchant_id, conn=conn)
        context = Context.caused_by(envelope, now)
        try:
            target = target_stream(envelope.data)
            if envelope.stream_id != target:
                raise Rejected(
                    INVALID_COMMAND,
                    f"{envelope.event_type} for {target} was addressed to {envelope.stream_id}",
                )
            events = await self._decide(envelope.data, context, conn)
        except Rejected as rejection:
            await self._reject(envelope, rejection, context, conn)
            return
        log.info(
            "command accepted",
            command_type=envelope.event_type,
            stream_id=envelope.stream_id,
            events=[e.event_type for e in events],
        )

    async def _decide(
        self, command: EventData, context: Context, conn: Connection
    ) -> list[Envelope]:
        write = self.writer.execute
        if isinstance(command, CreatePlan):
            return await write(PLANS, command.plan_id, command, context, conn=conn)
        if isinstance(command, RegisterCustomer | AttachPaymentMethod):
            return await write(CUSTOMERS, command.customer_id, command, context, conn=conn)
        if isinstance(command, CreateSubscription):
            return await self._create_subscription(command, context, conn)
        if isinstance(command, CancelSubscription):
            return await write(SUBSCRIPTIONS, command.subscription_id, command, context, conn=conn)
        if isinstance(command, UpdateSubscriptionPaymentMethod):
            return await self._update_payment_method(command, context, conn)
        if isinstance(command, AdvanceTestClock):
            return await self._advance_clock(command, context, conn)
        raise Rejected(INVALID_COMMAND, f"{command.event_type} is not a subscriptions command")

    async def _create_subscription(
        self, command: CreateSubscription, context: Context, conn: Connection
    ) -> list[Envelope]:
        merchant = context.merchant_id
        store = self.writer.store
        # Plans and customers are never deleted and a card, once attached, stays: what is
        # read here cannot become false before the subscription is appended.
        plan = await state_of(store, PLANS, command.plan_id, merchant_id=merchant, conn=conn)
        customer = await state_of(
            store, CUSTOMERS, command.customer_id, merchant_id=merchant, conn=conn
        )
        start = prepare_start(command, plan, customer, context.now)
        return await self.writer.execute(
            SUBSCRIPTIONS, command.subscription_id, start, context, conn=conn
        )

    async def _update_payment_method(
        self, command: UpdateSubscriptionPaymentMethod, context: Context, conn: Connection
    ) -> list[Envelope]:
        merchant = context.merchant_id
        store = self.writer.store
        subscription = await state_of(
            store, SUBSCRIPTIONS, command.subscription_id, merchant_id=merchant, conn=conn
        )
        # A subscription's customer never changes, and cards are never detached: the check
        # stays true until the append, which decides on the then current subscription.
        customer = (
            await state_of(
                store, CUSTOMERS, subscription.customer_id, merchant_id=merchant, conn=conn
            )
            if subscription is not None
            else None
        )
        change = prepare_payment_method_update(command, subscription, customer, context.now)
        return await self.writer.execute(
            SUBSCRIPTIONS, command.subscription_id, change, context, conn=conn
        )

    async def _advance_clock(
        self, command: AdvanceTestClock, context: Context, conn: Connection
    ) -> list[Envelope]:
        if not self.test_clocks_enabled:
            raise Rejected(TEST_CLOCKS_DISABLED, "test clocks are disabled in this deployment")
        if command.merchant_id != context.merchant_id:
            raise Rejected(
                INVALID_COMMAND,
                f"merchant {context.merchant_id} cannot advance the test clock of merchant "
                f"{command.merchant_id}",
            )
        return await self.writer.execute(CLOCKS, command.merchant_id, command, context, conn=conn)

    async def _reject(
        self, command: Envelope, rejection: Rejected, context: Context, conn: Connection
    ) -> None:
        log.info(
            "command rejected",
            command_type=command.event_type,
            stream_id=command.stream_id,
            code=rejection.code,
            reason=rejection.message,
        )
        answer = new_envelope(
            CommandRejected(
                command_id=str(command.event_id),
                command_type=command.event_type,
                code=rejection.code,
                message=rejection.message,
            ),
            stream_id=_reply_stream(command),
            merchant_id=context.merchant_id,
            correlation_id=context.correlation_id,
            causation_id=context.causation_id,
            occurred_at=context.now,
        )
        await self.outbox.publish(answer, conn=conn)


def _reply_stream(command: Envelope) -> str:
    """Where the sender listens for the answer: the stream it addressed, when that stream has
    an event topic; otherwise the stream the command's payload names."""
    try:
        topics.topic_for_stream(command.stream_id)
    except ValueError:
        return target_stream(command.data)
    return command.stream_id
