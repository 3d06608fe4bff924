"""In-memory stand-ins for the portal's read side and command side, plus demo data.

For tests of the portal's pages (and demos without the other services): ``InMemoryPortalData``
answers ``PortalQueries`` like the gateway's projections would, scoped to (merchant,
customer), and ``InMemoryCommandGateway`` applies ``CancelSubscription`` to that data the way
the subscriptions service and the projection would, or refuses, times out, or fails on
request; it also attaches cards and switches a subscription's card (``AttachPaymentMethod``,
``UpdateSubscriptionPaymentMethod``) with the subscriptions service's rules. Nothing here
touches PostgreSQL or Kafka.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from billing_events.contract.commands import (
    AttachPaymentMethod,
    CancelSubscription,
    UpdateSubscriptionPaymentMethod,
)
from billing_events.envelope import EventData
from portal_gateway.application.ports import (
    CardView,
    CommandOutcome,
    CustomerView,
    InvoiceView,
    Merchant,
    PortalOverview,
    SubscriptionView,
)
from portal_gateway.domain.outcomes import TIMEOUT_CODE


@dataclass
class InMemoryPortalData:
    merchants: dict[str, Merchant] = field(default_factory=dict)
    customers: dict[tuple[str, str], CustomerView] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], SubscriptionView] = field(default_factory=dict)
    invoices: dict[tuple[str, str], list[InvoiceView]] = field(default_factory=dict)
    cards: dict[tuple[str, str], list[CardView]] = field(default_factory=dict)
    test_clocks: dict[str, datetime] = field(default_factory=dict)

    # -- PortalQueries ---------------------------------------------------------------

    async def overview(self, merchant_id: str, customer_id: str) -> PortalOverview | None:
        customer = self.customers.get((merchant_id, customer_id))
        merchant = self.merchants.get(merchant_id)
        if customer is None or merchant is None:
            return None
        subscriptions = [
            s
            for (m, _), s in self.subscriptions.items()
            if m == merchant_id and s.customer_id == customer_id
        ]
        invoices = list(self.invoices.get((merchant_id, customer_id), []))
        cards = list(self.cards.get((merchant_id, customer_id), []))
        test_clock = self.test_clocks.get(merchant_id)
        return PortalOverview(
            merchant=merchant,
            customer=customer,
            subscriptions=subscriptions,
            invoices=invoices,
            payment_methods=cards,
            test_clock=test_clock,
            # Every field of every view is in its repr: the same text, the same overview (as
            # the PostgreSQL adapter's revision), so the pages' tests run with the page cache.
            revision=repr((merchant, customer, subscriptions, invoices, cards, test_clock)),
        )

    async def subscription(
        self, merchant_id: str, customer_id: str, subscription_id: str
    ) -> SubscriptionView | None:
        found = self.subscriptions.get((merchant_id, subscription_id))
        return found if found is not None and found.customer_id == customer_id else None

    # -- set-up helpers --------------------------------------------------------------

    def add_merchant(self, merchant: Merchant) -> Merchant:
        self.merchants[merchant.merchant_id] = merchant
        return merchant

    def add_customer(self, customer: CustomerView) -> CustomerView:
        self.customers[(customer.merchant_id, customer.customer_id)] = customer
        return customer

    def add_subscription(self, merchant_id: str, subscription: SubscriptionView) -> None:
        self.subscriptions[(merchant_id, subscription.subscription_id)] = subscription

    def add_invoice(self, merchant_id: str, customer_id: str, invoice: InvoiceView) -> None:
        self.invoices.setdefault((merchant_id, customer_id), []).append(invoice)


Behaviour = Literal["apply", "reject", "timeout", "fail"]


@dataclass(frozen=True)
class SentCommand:
    command: EventData
    stream_id: str
    merchant_id: str
    correlation_id: uuid.UUID | None
    timeout: float


@dataclass
class InMemoryCommandGateway:
    data: InMemoryPortalData
    now: datetime
    behaviour: Behaviour = "apply"
    # The code a "reject" behaviour answers with, as the owning service would.
    reject_code: str = "rejected"
    # Commands of these types are rejected with ``reject_code`` while the others apply.
    reject_only: frozenset[str] = frozenset()
    sent: list[SentCommand] = field(default_factory=list)

    async def send(
        self,
        command: EventData,
        *,
        stream_id: str,
        merchant_id: str,
        correlation_id: uuid.UUID | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome:
        self.sent.append(SentCommand(command, stream_id, merchant_id, correlation_id, timeout))
        command_id = uuid.uuid4()
        if self.behaviour == "fail":
            raise ConnectionError("broker unavailable")
        if self.behaviour == "timeout":
            return CommandOutcome(
                command_id, accepted=False, code=TIMEOUT_CODE, message="no answer"
            )
        if self.behaviour == "reject" and (
            not self.reject_only or command.event_type in self.reject_only
        ):
            return CommandOutcome(command_id, False, self.reject_code, "refused by the test")
        match command:
            case CancelSubscription():
                return self._cancel(command_id, command, merchant_id)
            case AttachPaymentMethod():
                return self._attach(command_id, command, merchant_id)
            case UpdateSubscriptionPaymentMethod():
                return self._change_card(command_id, command, merchant_id)
        raise NotImplementedError(f"{command.event_type} is not simulated")

    def _attach(
        self, command_id: uuid.UUID, command: AttachPaymentMethod, merchant_id: str
    ) -> CommandOutcome:
        if (merchant_id, command.customer_id) not in self.data.customers:
            return CommandOutcome(command_id, False, "customer_not_found", "unknown")
        summary = command.card
        self.data.cards.setdefault((merchant_id, command.customer_id), []).insert(
            0,
            CardView(
                summary.payment_method_id,
                summary.brand,
                summary.last4,
                summary.exp_month,
                summary.exp_year,
            ),
        )
        return CommandOutcome(command_id, True, event_types=("PaymentMethodAttached",))

    def _change_card(
        self, command_id: uuid.UUID, command: UpdateSubscriptionPaymentMethod, merchant_id: str
    ) -> CommandOutcome:
        key = (merchant_id, command.subscription_id)
        current = self.data.subscriptions.get(key)
        if current is None:
            return CommandOutcome(command_id, False, "subscription_not_found", "unknown")
        owned = self.data.cards.get((merchant_id, current.customer_id), [])
        card = next((c for c in owned if c.payment_method_id == command.payment_method_id), None)
        if card is None:
            return CommandOutcome(command_id, False, "payment_method_not_found", "not theirs")
        now = self.data.test_clocks.get(merchant_id, self.now)
        if (card.exp_year, card.exp_month) < (now.year, now.month):
            return CommandOutcome(command_id, False, "payment_method_expired", "expired")
        if current.status in ("canceled", "incomplete_expired"):
            return CommandOutcome(command_id, False, "subscription_ended", "ended")
        if current.payment_method == card and current.status != "on_hold":
            return CommandOutcome(command_id, False, "payment_method_unchanged", "same card")
        self.data.subscriptions[key] = replace(
            current, payment_method=card, version=current.version + 1
        )
        return CommandOutcome(command_id, True, event_types=("PaymentMethodUpdated",))

    def _cancel(
        self, command_id: uuid.UUID, command: CancelSubscription, merchant_id: str
    ) -> CommandOutcome:
        key = (merchant_id, command.subscription_id)
        current = self.data.subscriptions.get(key)
        if current is None:
            return CommandOutcome(command_id, False, "subscription_not_found", "unknown")
        if current.status == "canceled" or current.cancel_at is not None:
            return CommandOutcome(command_id, False, "already_canceled", "already canceled")
        if command.at_period_end and current.current_period_end is not None:
            self.data.subscriptions[key] = replace(
                current,
                cancel_at=current.current_period_end,
                next_renewal_at=None,
                next_renewal_amount=None,
                cancellation_reason=command.reason,
                version=current.version + 1,
            )
            return CommandOutcome(command_id, True, event_types=("CancellationScheduled",))
        self.data.subscriptions[key] = replace(
            current,
            status="canceled",
            canceled_at=self.now,
            next_renewal_at=None,
            next_renewal_amount=None,
            cancellation_reason=command.reason,
            version=current.version + 1,
        )
        return CommandOutcome(command_id, True, event_types=("SubscriptionCanceled",))


# -- demo data -------------------------------------------------------------------------


def card(payment_method_id: str = "pm_visa", *, brand: str = "visa", last4: str = "4242",
         exp_month: int = 12, exp_year: int = 2030) -> CardView:  # fmt: skip
    return CardView(payment_method_id, brand, last4, exp_month, exp_year)


def subscription(
    subscription_id: str,
    customer_id: str,
    now: datetime,
    *,
    status: str = "active",
    plan_name: str = "Pro",
    amount: int = 2999,
    currency: str = "USD",
    interval: str = "month",
    payment_method: CardView | None = None,
) -> SubscriptionView:
    start = now - timedelta(days=10)
    end = start + (timedelta(days=365) if interval == "year" else timedelta(days=30))
    live = status in ("active", "on_hold")
    return SubscriptionView(
        subscription_id=subscription_id,
        customer_id=customer_id,
        status=status,
        plan_id=f"plan_{plan_name.lower().replace(' ', '_')}",
        plan_name=plan_name,
        plan_description=f"The {plan_name} plan, renewed automatically.",
        plan_image_url="https://cdn.example.com/plans/pro.png",
        amount=amount,
        currency=currency,
        interval=interval,
        current_period_start=start if live else None,
        current_period_end=end if live else None,
        next_renewal_at=end if status == "active" else None,
        next_renewal_amount=amount if status == "active" else None,
        cancel_at=None,
        canceled_at=now - timedelta(days=1) if status == "canceled" else None,
        cancellation_reason=None,
        payment_method=payment_method or card(),
        version=3,
    )


def demo_data(now: datetime) -> InMemoryPortalData:
    """Merchant ``m_acme`` with customers ``cus_alice`` (es, one active subscription, three
    paid invoices) and ``cus_bob`` (en, an active and a canceled subscription)."""
    data = InMemoryPortalData()
    data.add_merchant(
        Merchant(
            merchant_id="m_acme",
            slug="acme",
            name="Acme Cloud",
            logo_url="https://cdn.example.com/acme/logo.png",
            brand_color="#0a7d5a",
            support_email="billing@acme.example",
        )
    )
    alice = data.add_customer(
        CustomerView("cus_alice", "m_acme", "alice@example.com", "Alice Martín", None, "es")
    )
    bob = data.add_customer(
        CustomerView("cus_bob", "m_acme", "bob@example.com", "Bob Stone", "+1 555 0100", "en")
    )
    data.add_subscription(
        "m_acme",
        subscription("sub_alice", alice.customer_id, now, plan_name="Premium Mensual",
                     amount=2999, currency="EUR"),
    )  # fmt: skip
    data.cards[("m_acme", alice.customer_id)] = [card()]
    for month in range(3):
        issued = now - timedelta(days=10 + 30 * month)
        data.add_invoice(
            "m_acme",
            alice.customer_id,
            InvoiceView(
                invoice_id=f"in_alice_{month}",
                number=f"ACME-{1001 + month:04d}",
                issued_at=issued,
                amount=2999,
                currency="EUR",
                status="paid",
                plan_name="Premium Mensual",
                subscription_id="sub_alice",
            ),
        )
    data.add_subscription(
        "m_acme",
        subscription("sub_bob", bob.customer_id, now, plan_name="Team", amount=120000,
                     currency="JPY", interval="year",
                     payment_method=card("pm_mc", brand="mastercard", last4="4444")),
    )  # fmt: skip
    data.add_subscription(
        "m_acme", subscription("sub_bob_old", bob.customer_id, now, status="canceled")
    )
    return data
