"""The merchant and admin API on the real PostgreSQL, end to end inside the gateway.

The gateway runs for real (auth against its tables, idempotency keys, the outbox, LISTEN/NOTIFY,
its projections). The other services are played by ``Owner``: it reads the commands the
gateway queued in its outbox and feeds the events subscriptions and invoicing would write to
the gateway's projection handler, in a transaction as the projection consumer does. It charges
through the same simulated processor (same secret) that invoicing uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar

from billing_events import topics
from billing_events.contract.commands import (
    AdvanceTestClock,
    AttachPaymentMethod,
    CancelSubscription,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
    UpdateSubscriptionPaymentMethod,
    command_registry,
)
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationScheduled,
    ChargeFailed,
    ChargeSucceeded,
    CommandRejected,
    CustomerRegistered,
    InvoiceIssued,
    InvoiceLine,
    InvoicePaid,
    PaymentMethodAttached,
    PaymentMethodUpdated,
    PlanCreated,
    SubscriptionActivated,
    SubscriptionActivationFailed,
    SubscriptionCanceled,
    SubscriptionCreated,
    TestClockAdvanced,
)
from billing_events.envelope import Envelope, EventData, new_envelope, registry
from billing_events.postgres import migrate
from payments import SimulatedProcessor
from portal_gateway.adapters.postgres.projector import project
from portal_gateway.adapters.postgres.schema import MIGRATIONS
from portal_gateway.bootstrap import GatewayRuntime, gateway_routers
from portal_gateway.portal import PORTAL_MIGRATIONS, PortalSettings, portal_router
from portal_gateway.settings import Settings

pytestmark = pytest.mark.integration

ADMIN = "integration-admin-token-0123456789"
SECRET = b"integration-processor-secret-0123456789"
PUBLIC_URL = "https://billing.example"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Owner:
    """Plays subscriptions and invoicing: commands from the outbox, events to the projection."""

    pool: asyncpg.Pool
    processor: SimulatedProcessor
    paused: bool = False
    last_position: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    plans: dict[str, PlanCreated] = field(default_factory=dict)
    cards: dict[str, CardSummary] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)  # card id -> customer
    canceled: set[str] = field(default_factory=set)
    period_ends: dict[str, datetime] = field(default_factory=dict)
    clocks: dict[str, datetime] = field(default_factory=dict)  # merchant -> frozen time
    subscribers: dict[str, str] = field(default_factory=dict)  # subscription -> customer
    paying: dict[str, str] = field(default_factory=dict)  # subscription -> card
    handled: list[Envelope] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            if not self.paused:
                rows = await self.pool.fetch(
                    "SELECT position, value FROM outbox WHERE topic = $1 AND position > $2 "
                    "ORDER BY position",
                    topics.SUBSCRIPTIONS_COMMANDS.name,
                    self.last_position,
                )
                for row in rows:
                    self.last_position = row["position"]
                    command = command_registry.parse(bytes(row["value"]))
                    self.handled.append(command)
                    await self.handle(command)
            await asyncio.sleep(0.02)

    async def emit(
        self, stream: str, data: EventData, cause: Envelope, *, causation: uuid.UUID | None = None
    ) -> Envelope:
        stored = not isinstance(data, CommandRejected)
        version = self.versions.get(stream, 0) + 1 if stored else 0
        if stored:
            self.versions[stream] = version
        event = new_envelope(
            data,
            stream_id=stream,
            merchant_id=cause.merchant_id,
            correlation_id=cause.correlation_id,
            causation_id=causation or cause.event_id,
            stream_version=version,
        )
        # Through the JSON a Kafka consumer would parse, as the projection consumer gets it.
        event = registry.parse(event.to_json())
        async with self.pool.acquire() as conn, conn.transaction():
            await project(event, conn)
        return event

    async def handle(self, command: Envelope) -> None:
        data, stream = command.data, command.stream_id
        match data:
            case CreatePlan():
                plan = PlanCreated(**data.model_dump())
                self.plans[data.plan_id] = plan
                await self.emit(stream, plan, command)
            case RegisterCustomer():
                await self.emit(stream, CustomerRegistered(**data.model_dump()), command)
            case AttachPaymentMethod():
                self.cards[data.card.payment_method_id] = data.card
                self.customers[data.card.payment_method_id] = data.customer_id
                await self.emit(
                    stream,
                    PaymentMethodAttached(customer_id=data.customer_id, card=data.card),
                    command,
                )
            case CreateSubscription():
                await self.subscribe(command, data)
            case UpdateSubscriptionPaymentMethod():
                await self.change_card(command, data)
            case AdvanceTestClock():
                current = self.clocks.get(data.merchant_id)
                if current is not None and data.advance_to < current:
                    await self.reject(command, "clock_backwards", "The clock cannot go back.")
                else:
                    self.clocks[data.merchant_id] = data.advance_to
                    await self.emit(
                        stream,
                        TestClockAdvanced(
                            merchant_id=data.merchant_id, frozen_time=data.advance_to
                        ),
                        command,
                    )
            case CancelSubscription():
                if data.subscription_id in self.canceled:
                    await self.emit(
                        stream,
                        CommandRejected(
                            command_id=str(command.event_id),
                            command_type=command.event_type,
                            code="already_canceled",
                            message="The subscription is canceled.",
                        ),
                        command,
                    )
                elif data.at_period_end:
                    await self.emit(
                        stream,
                        CancellationScheduled(
                            subscription_id=data.subscription_id,
                            cancel_at=self.period_ends[data.subscription_id],
                            reason=data.reason,
                            comment=data.comment,
                        ),
                        command,
                    )
                else:
                    self.canceled.add(data.subscription_id)
                    await self.emit(
                        stream,
                        SubscriptionCanceled(
                            subscription_id=data.subscription_id,
                            customer_id="?",
                            canceled_at=now(),
                            reason=data.reason,
                            comment=data.comment,
                        ),
                        command,
                    )

    async def change_card(self, command: Envelope, data: UpdateSubscriptionPaymentMethod) -> None:
        customer = self.subscribers[data.subscription_id]
        card = self.cards.get(data.payment_method_id)
        if card is None or self.customers.get(data.payment_method_id) != customer:
            await self.reject(command, "payment_method_not_found", "Not the customer's card.")
        elif data.subscription_id in self.canceled:
            await self.reject(command, "subscription_ended", "The subscription has ended.")
        elif self.paying.get(data.subscription_id) == data.payment_method_id:
            await self.reject(command, "payment_method_unchanged", "That card already pays.")
        else:
            self.paying[data.subscription_id] = data.payment_method_id
            await self.emit(
                command.stream_id,
                PaymentMethodUpdated(
                    subscription_id=data.subscription_id, customer_id=customer, payment_method=card
                ),
                command,
            )

    async def reject(self, command: Envelope, code: str, message: str) -> None:
        rejection = CommandRejected(
            command_id=str(command.event_id),
            command_type=command.event_type,
            code=code,
            message=message,
        )
        await self.emit(command.stream_id, rejection, command)

    async def subscribe(self, command: Envelope, data: CreateSubscription) -> None:
        plan = self.plans[data.plan_id]
        card = self.cards[data.payment_method_id]
        self.subscribers[data.subscription_id] = data.customer_id
        self.paying[data.subscription_id] = data.payment_method_id
        snapshot = PlanSnapshot(**plan.model_dump())
        await self.emit(
            command.stream_id,
            SubscriptionCreated(
                subscription_id=data.subscription_id,
                customer_id=data.customer_id,
                plan=snapshot,
                payment_method=card,
            ),
            command,
        )
        invoice_id = f"in_{uuid.uuid4().hex[:12]}"
        invoice_stream = f"invoice-{invoice_id}"
        start, end = now(), now() + timedelta(days=30)
        self.period_ends[data.subscription_id] = end
        issued = await self.emit(
            invoice_stream,
            InvoiceIssued(
                invoice_id=invoice_id,
                number=f"INV-{len(self.versions):04d}",
                customer_id=data.customer_id,
                subscription_id=data.subscription_id,
                reason="subscription_create",
                lines=(
                    InvoiceLine(description=plan.name, amount=plan.amount, plan_id=plan.plan_id),
                ),
                amount_due=plan.amount,
                currency=plan.currency,
                period_start=start,
                period_end=end,
                issued_at=start,
                plan_name=plan.name,
            ),
            command,
        )
        charge = await self.processor.charge(
            card.payment_method_id, plan.amount, plan.currency, idempotency_key=invoice_id
        )
        if charge.succeeded:
            await self.emit(
                invoice_stream,
                ChargeSucceeded(
                    invoice_id=invoice_id,
                    charge_id=charge.charge_id,
                    amount=plan.amount,
                    currency=plan.currency,
                    payment_method=card,
                ),
                issued,
            )
            paid = await self.emit(
                invoice_stream,
                InvoicePaid(
                    invoice_id=invoice_id,
                    customer_id=data.customer_id,
                    subscription_id=data.subscription_id,
                    amount_paid=plan.amount,
                    currency=plan.currency,
                    paid_at=now(),
                ),
                issued,
            )
            await self.emit(
                command.stream_id,
                SubscriptionActivated(
                    subscription_id=data.subscription_id,
                    invoice_id=invoice_id,
                    current_period_start=start,
                    current_period_end=end,
                ),
                paid,
            )
        else:
            failed = await self.emit(
                invoice_stream,
                ChargeFailed(
                    invoice_id=invoice_id,
                    charge_id=charge.charge_id,
                    amount=plan.amount,
                    currency=plan.currency,
                    payment_method=card,
                    decline_code=charge.decline_code or "card_declined",
                    message=charge.message,
                ),
                issued,
            )
            await self.emit(
                command.stream_id,
                SubscriptionActivationFailed(
                    subscription_id=data.subscription_id,
                    invoice_id=invoice_id,
                    decline_code=charge.decline_code or "card_declined",
                    message=charge.message,
                ),
                failed,
            )


@dataclass
class Gateway:
    client: httpx.AsyncClient
    owner: Owner
    pool: asyncpg.Pool
    runtime: GatewayRuntime
    app: Litestar

    async def merchant(self, name: str) -> dict[str, Any]:
        response = await self.client.post(
            "/admin/merchants", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def auth(merchant: dict[str, Any], **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {merchant['api_key']}", **headers}


@contextlib.asynccontextmanager
async def running_gateway(
    pool: asyncpg.Pool, postgres_url: str, *, timeout: float = 5.0
) -> AsyncIterator[Gateway]:
    await migrate(pool, [*MIGRATIONS, *PORTAL_MIGRATIONS])
    settings = Settings(
        database_url=postgres_url,
        kafka_bootstrap_servers="127.0.0.1:9",  # nothing here talks to Kafka
        admin_token=ADMIN,
        public_base_url=PUBLIC_URL,
        command_timeout=timeout,
        activation_timeout=timeout,
    )
    processor = SimulatedProcessor(SECRET, now)
    runtime = GatewayRuntime(lambda: pool, settings, processor=processor)
    await runtime.start()
    portal = portal_router(
        runtime.read_model,
        runtime.commands,
        pool,
        PortalSettings.for_env("dev", command_timeout=timeout),
        processor=processor,
        visits=runtime.portal_visits,
    )
    app = Litestar(route_handlers=[*gateway_routers(runtime, settings), portal])
    owner = Owner(pool, processor)
    owner_task = asyncio.create_task(owner.run())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://gateway.test",
        timeout=30,
    )
    try:
        yield Gateway(client, owner, pool, runtime, app)
    finally:
        await client.aclose()
        owner_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await owner_task
        await runtime.stop()


@pytest.fixture
async def gw(pg_pool: asyncpg.Pool, postgres_url: str) -> AsyncIterator[Gateway]:
    async with running_gateway(pg_pool, postgres_url) as gateway:
        yield gateway


async def dump(pool: asyncpg.Pool, table: str) -> bytes:
    """Every value of every row of ``table``, as bytes (bytea as stored, the rest as text)."""
    rows = await pool.fetch(f'SELECT * FROM "{table}"')
    return b"".join(
        value if isinstance(value, bytes) else str(value).encode()
        for row in rows
        for value in row.values()
    )


PLAN = {
    "name": "Pro",
    "description": "Everything",
    "amount": 2999,
    "currency": "USD",
    "interval": "month",
    "image_url": "https://cdn.example/pro.png",
}


async def customer_with_card(
    gw: Gateway, merchant: dict[str, Any], number: str = "4242424242424242"
) -> tuple[str, str, str]:
    plan = await gw.client.post("/v1/plans", json=PLAN, headers=auth(merchant))
    assert plan.status_code == 201, plan.text
    customer = await gw.client.post(
        "/v1/customers",
        json={"email": "ana@example.com", "name": "Ana", "locale": "es"},
        headers=auth(merchant),
    )
    assert customer.status_code == 201, customer.text
    card = await gw.client.post(
        "/v1/payment_methods",
        json={
            "customer": customer.json()["id"],
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        },
        headers=auth(merchant),
    )
    assert card.status_code == 201, card.text
    return plan.json()["id"], customer.json()["id"], card.json()["id"]


async def test_creating_a_merchant_publishes_merchant_registered_and_keeps_only_a_digest(
    gw: Gateway,
) -> None:
    merchant = await gw.merchant("Acme Tools")
    assert merchant["slug"] == "acme-tools"
    rows = await gw.pool.fetch("SELECT topic, key, value FROM outbox")
    (registered,) = [r for r in rows if r["key"] == f"merchant-{merchant['id']}"]
    assert registered["topic"] == "billing.merchants.events"
    envelope = registry.parse(bytes(registered["value"]))
    assert envelope.event_type == "MerchantRegistered"
    assert envelope.data.model_dump()["slug"] == "acme-tools"
    keys = await gw.pool.fetch("SELECT * FROM api_keys WHERE merchant_id = $1", merchant["id"])
    assert len(keys) == 1
    for table in ("api_keys", "merchants", "outbox"):
        assert merchant["api_key"].encode() not in await dump(gw.pool, table)
    # The same slug again is a conflict, with nothing published.
    again = await gw.client.post(
        "/admin/merchants",
        json={"name": "Other", "slug": "acme-tools"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "slug_taken"
    assert len(await gw.pool.fetch("SELECT 1 FROM outbox")) == len(rows)


async def test_missing_or_wrong_keys_get_401(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    for headers in ({}, {"Authorization": "Bearer " + merchant["api_key"][:-2] + "zz"}):
        response = await gw.client.post("/v1/plans", json=PLAN, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] in ("authentication_required", "invalid_api_key")
    assert gw.owner.handled == []


async def test_a_subscription_from_creation_to_cancellation(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    plan, customer, card = await customer_with_card(gw, merchant)
    created = await gw.client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "payment_method": card},
        headers=auth(merchant),
    )
    assert created.status_code == 200, created.text
    subscription = created.json()
    assert subscription["status"] == "active"
    assert subscription["plan"]["name"] == "Pro"
    assert subscription["payment_method"]["last4"] == "4242"
    assert subscription["next_renewal_amount"] == 2999
    assert subscription["next_renewal_at"] == subscription["current_period_end"]
    sub_id = subscription["id"]

    fetched = await gw.client.get(f"/v1/subscriptions/{sub_id}", headers=auth(merchant))
    assert fetched.json() == subscription

    canceled = await gw.client.post(
        f"/v1/subscriptions/{sub_id}/cancel",
        json={"at_period_end": False, "reason": "too_expensive", "comment": "pricey"},
        headers=auth(merchant),
    )
    assert canceled.status_code == 200, canceled.text
    body = canceled.json()
    assert body["status"] == "canceled"
    assert body["cancellation_reason"] == "too_expensive"
    assert body["cancellation_comment"] == "pricey"
    assert body["next_renewal_at"] is None

    again = await gw.client.post(
        f"/v1/subscriptions/{sub_id}/cancel", json={}, headers=auth(merchant)
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_canceled"

    events = (
        await gw.client.get(f"/v1/subscriptions/{sub_id}/events", headers=auth(merchant))
    ).json()
    assert [(e["type"], e["version"]) for e in events["data"]] == [
        ("SubscriptionCreated", 1),
        ("SubscriptionActivated", 2),
        ("SubscriptionCanceled", 3),
    ]
    assert events["data"][2]["data"]["reason"] == "too_expensive"
    operator = await gw.client.get(
        f"/admin/streams/subscription-{sub_id}/events",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert operator.json()["data"] == events["data"]

    overview = await gw.runtime.read_model.overview(merchant["id"], customer)
    assert overview is not None
    assert overview.merchant.name == "Acme"
    assert overview.customer.locale == "es"
    assert [s.status for s in overview.subscriptions] == ["canceled"]
    (invoice,) = overview.invoices
    assert (invoice.status, invoice.amount, invoice.plan_name) == ("paid", 2999, "Pro")
    assert [c.last4 for c in overview.payment_methods] == ["4242"]


async def test_a_scheduled_cancellation_keeps_the_subscription_active(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    plan, customer, card = await customer_with_card(gw, merchant)
    sub_id = (
        await gw.client.post(
            "/v1/subscriptions",
            json={"customer": customer, "plan": plan, "payment_method": card},
            headers=auth(merchant),
        )
    ).json()["id"]
    response = await gw.client.post(
        f"/v1/subscriptions/{sub_id}/cancel",
        json={"at_period_end": True},
        headers=auth(merchant),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "active"
    assert body["cancel_at"] is not None
    assert body["next_renewal_at"] is None


@pytest.mark.parametrize(
    ("number", "code"),
    [("4000000000009995", "insufficient_funds"), ("4000000000000002", "card_declined")],
)
async def test_a_declined_first_charge_is_a_402_and_never_active(
    gw: Gateway, number: str, code: str
) -> None:
    merchant = await gw.merchant("Acme")
    plan, customer, card = await customer_with_card(gw, merchant, number)
    response = await gw.client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "payment_method": card},
        headers=auth(merchant),
    )
    assert response.status_code == 402, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    fetched = await gw.client.get(
        f"/v1/subscriptions/{error['subscription']}", headers=auth(merchant)
    )
    assert fetched.json()["status"] == "incomplete_expired"


async def test_another_merchants_ids_are_404(gw: Gateway) -> None:
    acme, globex = await gw.merchant("Acme"), await gw.merchant("Globex")
    plan, customer, card = await customer_with_card(gw, acme)
    sub_id = (
        await gw.client.post(
            "/v1/subscriptions",
            json={"customer": customer, "plan": plan, "payment_method": card},
            headers=auth(acme),
        )
    ).json()["id"]
    handled = len(gw.owner.handled)
    queued = await outbox_messages_ever_queued(gw.pool)
    assert queued > 0  # the subscription's creation went through the outbox
    for method, path, body in [
        ("GET", f"/v1/subscriptions/{sub_id}", None),
        ("GET", f"/v1/subscriptions/{sub_id}/events", None),
        ("POST", f"/v1/subscriptions/{sub_id}/cancel", {}),
        ("GET", f"/v1/customers/{customer}", None),
        ("GET", f"/v1/plans/{plan}", None),
        ("POST", "/v1/subscriptions", {"customer": customer, "plan": plan, "payment_method": card}),
        ("POST", "/v1/portal/sessions", {"customer": customer}),
    ]:
        response = await gw.client.request(method, path, json=body, headers=auth(globex))
        assert response.status_code == 404, (method, path, response.text)
    await asyncio.sleep(0.1)
    assert len(gw.owner.handled) == handled
    assert await outbox_messages_ever_queued(gw.pool) == queued
    assert await gw.runtime.read_model.overview(globex["id"], customer) is None


async def outbox_messages_ever_queued(pool: asyncpg.Pool) -> int:
    """Counted by the outbox's position sequence: the relay prunes published rows."""
    last: int | None = await pool.fetchval(
        "SELECT pg_sequence_last_value(pg_get_serial_sequence('outbox', 'position'))"
    )
    return last or 0


async def test_the_same_idempotency_key_replays_and_sends_one_command(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    body = {"email": "bo@example.com", "name": "Bo"}
    headers = auth(merchant, **{"Idempotency-Key": "customer-bo"})
    responses = await asyncio.gather(
        *(gw.client.post("/v1/customers", json=body, headers=headers) for _ in range(5))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    replay = await gw.client.post("/v1/customers", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["id"] in ids
    assert replay.headers["idempotent-replayed"] == "true"
    await asyncio.sleep(0.1)
    registered = [c for c in gw.owner.handled if c.event_type == "RegisterCustomer"]
    assert len(registered) == 1
    reused = await gw.client.post(
        "/v1/customers", json={**body, "name": "Someone else"}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


async def test_an_owner_that_does_not_answer_in_time_gets_a_202(
    pg_pool: asyncpg.Pool, postgres_url: str
) -> None:
    async with running_gateway(pg_pool, postgres_url, timeout=0.5) as gw:
        await _answer_late(gw)


async def _answer_late(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    gw.owner.paused = True
    headers = auth(merchant, **{"Idempotency-Key": "slow-plan"})
    response = await gw.client.post("/v1/plans", json=PLAN, headers=headers)
    assert response.status_code == 202
    pending = response.json()
    assert pending["object"] == "plan"
    assert pending["status"] == "processing"
    plan_id = pending["id"]
    assert (await gw.client.get(f"/v1/plans/{plan_id}", headers=auth(merchant))).status_code == 404
    gw.owner.paused = False
    for _ in range(100):
        found = await gw.client.get(f"/v1/plans/{plan_id}", headers=auth(merchant))
        if found.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert found.status_code == 200  # the queued command was processed after all
    replay = await gw.client.post("/v1/plans", json=PLAN, headers=headers)
    assert replay.json()["id"] == plan_id  # a retry does not create a second plan


async def test_portal_sessions_link_to_the_portal(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    _, customer, _ = await customer_with_card(gw, merchant)
    response = await gw.client.post(
        "/v1/portal/sessions",
        json={"customer": customer, "return_url": "https://shop.example/account", "locale": "fr"},
        headers=auth(merchant),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["url"].startswith(f"{PUBLIC_URL}/portal/s/")
    assert body["id"].startswith("ps_")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=4) < expires - now() <= timedelta(minutes=5)
    token = body["url"].rsplit("/", 1)[-1]
    stored = await gw.pool.fetchval(
        "SELECT count(*) FROM portal_sessions WHERE customer_id = $1", customer
    )
    assert stored == 1
    assert token.encode() not in await dump(gw.pool, "portal_sessions")  # only its digest
    bad = await gw.client.post(
        "/v1/portal/sessions",
        json={"customer": customer, "return_url": "javascript:alert(1)"},
        headers=auth(merchant),
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "return_url"


async def test_card_numbers_never_reach_the_database(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    await customer_with_card(gw, merchant, "5555555555554444")
    tables = await gw.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    assert len(tables) > 10
    for table in tables:
        dumped = await dump(gw.pool, table["table_name"])
        assert b"555555555555" not in dumped, table["table_name"]


async def test_an_operator_moves_a_merchants_test_clock_forward_only(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    path = f"/admin/merchants/{merchant['id']}/test_clock"
    assert (await gw.client.get(path, headers=admin)).json()["frozen_time"] is None

    # The first setting may lie in the past, like creating a Stripe test clock.
    set_back = await gw.client.post(
        path, json={"advance_to": "2024-01-15T00:00:00Z"}, headers=admin
    )
    assert set_back.status_code == 200, set_back.text
    assert set_back.json() == {
        "object": "test_clock",
        "merchant_id": merchant["id"],
        "frozen_time": "2024-01-15T00:00:00Z",
    }
    forward = await gw.client.post(
        path, json={"advance_to": "2024-07-15T10:00:00+02:00"}, headers=admin
    )
    assert forward.status_code == 200, forward.text
    assert forward.json()["frozen_time"] == "2024-07-15T08:00:00Z"

    backwards = await gw.client.post(
        path, json={"advance_to": "2024-02-01T00:00:00Z"}, headers=admin
    )
    assert backwards.status_code == 409, backwards.text
    assert backwards.json()["error"]["code"] == "clock_backwards"
    assert (await gw.client.get(path, headers=admin)).json()["frozen_time"] == (
        "2024-07-15T08:00:00Z"
    )
    history = await gw.client.get(f"/admin/streams/clock-{merchant['id']}/events", headers=admin)
    assert [e["type"] for e in history.json()["data"]] == ["TestClockAdvanced"] * 2
    assert (
        await gw.client.get("/admin/merchants/mer_none/test_clock", headers=admin)
    ).status_code == 404


async def test_a_subscriptions_invoices_are_listed_through_the_api(gw: Gateway) -> None:
    merchant = await gw.merchant("Acme")
    plan, customer, card = await customer_with_card(gw, merchant)
    created = await gw.client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "payment_method": card},
        headers=auth(merchant),
    )
    sub_id = created.json()["id"]
    listed = await gw.client.get(
        "/v1/invoices", params={"subscription": sub_id}, headers=auth(merchant)
    )
    assert listed.status_code == 200, listed.text
    (invoice,) = listed.json()["data"]
    assert invoice["id"] == created.json()["latest_invoice"]
    assert (invoice["status"], invoice["amount_paid"], invoice["reason"]) == (
        "paid",
        2999,
        "subscription_create",
    )
    by_customer = await gw.client.get(
        "/v1/invoices", params={"customer": customer}, headers=auth(merchant)
    )
    assert [i["id"] for i in by_customer.json()["data"]] == [invoice["id"]]
    other = await gw.merchant("Globex")
    assert (
        await gw.client.get("/v1/invoices", params={"subscription": sub_id}, headers=auth(other))
    ).status_code == 404
    assert (await gw.client.get("/v1/invoices", headers=auth(other))).json()["data"] == []
    assert (
        await gw.client.get(f"/v1/invoices/{invoice['id']}", headers=auth(other))
    ).status_code == 404


async def test_a_subscription_is_switched_to_another_card_and_the_portal_shows_it(
    gw: Gateway,
) -> None:
    merchant = await gw.merchant("Acme")
    plan, customer, card = await customer_with_card(gw, merchant)
    sub_id = (
        await gw.client.post(
            "/v1/subscriptions",
            json={"customer": customer, "plan": plan, "payment_method": card},
            headers=auth(merchant),
        )
    ).json()["id"]
    path = f"/v1/subscriptions/{sub_id}/payment_method"
    unchanged = await gw.client.post(path, json={"payment_method": card}, headers=auth(merchant))
    assert unchanged.status_code == 409, unchanged.text
    assert unchanged.json()["error"]["code"] == "payment_method_unchanged"

    # The customer adds a card in the portal: tokenized, attached, chosen, shown at once.
    session = await gw.client.post(
        "/v1/portal/sessions", json={"customer": customer, "locale": "en"}, headers=auth(merchant)
    )
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gw.app),  # type: ignore[arg-type]
        base_url="http://gateway.test",
        follow_redirects=True,
    )
    async with browser:
        opened = await browser.get(session.json()["url"].removeprefix(PUBLIC_URL))
        assert opened.status_code == 200, opened.text
        form = await browser.get(f"/portal/subscriptions/{sub_id}/payment_method")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        changed = await browser.post(
            f"/portal/subscriptions/{sub_id}/payment_method",
            data={
                "csrf_token": token.group(1),
                "source": "new",
                "card_number": "5555 5555 5555 4444",
                "exp_month": "7",
                "exp_year": "2033",
                "cvc": "321",
            },
        )
        assert changed.status_code == 200, changed.text
        assert str(changed.url).endswith("/portal")
        assert "will now be charged to your Mastercard card ending in 4444" in changed.text
        assert "Mastercard ending in 4444 · Expires 07/2033" in changed.text

    detail = (await gw.client.get(f"/v1/subscriptions/{sub_id}", headers=auth(merchant))).json()
    assert (detail["payment_method"]["brand"], detail["payment_method"]["last4"]) == (
        "mastercard",
        "4444",
    )
    events = await gw.client.get(f"/v1/subscriptions/{sub_id}/events", headers=auth(merchant))
    assert [e["type"] for e in events.json()["data"]][-1] == "PaymentMethodUpdated"
    # Back to the first card through the API.
    back = await gw.client.post(path, json={"payment_method": card}, headers=auth(merchant))
    assert back.status_code == 200, back.text
    assert back.json()["payment_method"]["id"] == card
    # Nowhere in the gateway's tables is the number.
    tables = await gw.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    for table in tables:
        assert b"555555555555" not in await dump(gw.pool, table["table_name"]), table
