"""Unit tests of the merchant and admin HTTP API over in-memory fakes (no database, no broker).

The routers, middleware (auth, Idempotency-Key), error mapping and use cases are the real ones;
only the outbox/projection side is replaced by an in-memory "world" that answers commands the
way the subscriptions service and the gateway's projection would.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import orjson
import pytest

from billing_events.contract.commands import (
    AdvanceTestClock,
    AttachPaymentMethod,
    CancelSubscription,
    CreatePlan,
    CreateSubscription,
    RegisterCustomer,
    UpdateSubscriptionPaymentMethod,
)
from billing_events.envelope import EventData
from payments import CardInput, SimulatedProcessor, TokenizedCard
from portal_gateway.api.admin_routes import admin_router
from portal_gateway.api.merchant_routes import merchant_router
from portal_gateway.application.merchant_api import (
    CreatedPortalSession,
    MerchantApi,
    Timeouts,
)
from portal_gateway.application.merchants import Merchants
from portal_gateway.application.ports import (
    CardView,
    CommandOutcome,
    CustomerView,
    SubscriptionView,
)
from portal_gateway.application.test_clocks import TestClocks
from portal_gateway.application.views import (
    HistoryEntry,
    InvoiceDetail,
    PlanView,
    SubscriptionDetail,
    TestClockView,
)
from portal_gateway.domain import ids
from portal_gateway.domain.idempotency import (
    KeyState,
    StoredRequest,
    StoredResponse,
    Verdict,
    judge,
)
from portal_gateway.settings import Settings
from servicekit import Service, configure_logging

T = TypeVar("T")
NOW = datetime(2025, 5, 1, 12, tzinfo=UTC)
ADMIN_TOKEN = "admin-token-for-tests-0123456789"
CARD_NUMBER = "4242424242424242"
CVC = "987"


# --- the in-memory world ----------------------------------------------------------------


@dataclass
class World:
    """Reads (like the projections) and commands (like subscriptions + projection)."""

    plans: dict[tuple[str, str], PlanView] = field(default_factory=dict)
    customers: dict[tuple[str, str], CustomerView] = field(default_factory=dict)
    cards: dict[tuple[str, str, str], CardView] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], SubscriptionDetail] = field(default_factory=dict)
    invoice_rows: list[InvoiceDetail] = field(default_factory=list)
    merchant_ids: set[str] = field(default_factory=set)
    clocks: dict[str, TestClockView] = field(default_factory=dict)
    sent: list[tuple[EventData, str, str]] = field(default_factory=list)
    # What happens to the next commands: "accept", "reject:<code>", "timeout".
    mode: str = "accept"
    first_charge: str = "paid"  # paid | declined | pending
    gate: asyncio.Event | None = None  # holds commands until set

    # ReadModel
    async def plan(self, merchant_id: str, plan_id: str) -> PlanView | None:
        return self.plans.get((merchant_id, plan_id))

    async def customer(self, merchant_id: str, customer_id: str) -> CustomerView | None:
        return self.customers.get((merchant_id, customer_id))

    async def payment_method(
        self, merchant_id: str, customer_id: str, payment_method_id: str
    ) -> CardView | None:
        return self.cards.get((merchant_id, customer_id, payment_method_id))

    async def subscription_detail(
        self, merchant_id: str, subscription_id: str
    ) -> SubscriptionDetail | None:
        return self.subscriptions.get((merchant_id, subscription_id))

    async def subscription_exists(self, merchant_id: str, subscription_id: str) -> bool:
        return (merchant_id, subscription_id) in self.subscriptions

    async def history(self, stream_id: str, merchant_id: str | None = None) -> list[HistoryEntry]:
        return [
            HistoryEntry(
                stream_id=stream_id,
                version=1,
                event_id=uuid.uuid4(),
                event_type="SubscriptionCreated",
                schema_version=1,
                occurred_at=NOW,
                merchant_id=merchant_id or "?",
                correlation_id=uuid.uuid4(),
                causation_id=None,
                data={"subscription_id": stream_id},
            )
        ]

    async def invoice(self, merchant_id: str, invoice_id: str) -> InvoiceDetail | None:
        return next(
            (
                i
                for i in self.invoice_rows
                if (i.merchant_id, i.invoice_id) == (merchant_id, invoice_id)
            ),
            None,
        )

    async def invoices(
        self,
        merchant_id: str,
        *,
        subscription_id: str | None = None,
        customer_id: str | None = None,
        limit: int = 100,
    ) -> list[InvoiceDetail]:
        found = [
            i
            for i in self.invoice_rows
            if i.merchant_id == merchant_id
            and subscription_id in (None, i.subscription_id)
            and customer_id in (None, i.customer_id)
        ]
        found.sort(key=lambda i: (i.issued_at, i.number), reverse=True)
        return found[:limit]

    # ClockReads
    async def merchant(self, merchant_id: str) -> Any:
        return merchant_id if merchant_id in self.merchant_ids else None

    async def test_clock(self, merchant_id: str) -> TestClockView | None:
        return self.clocks.get(merchant_id)

    # CommandGateway
    async def send(
        self,
        command: EventData,
        *,
        stream_id: str,
        merchant_id: str,
        correlation_id: uuid.UUID | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome:
        self.sent.append((command, stream_id, merchant_id))
        command_id = uuid.uuid4()
        if self.gate is not None:
            await self.gate.wait()
        if self.mode == "timeout":
            return CommandOutcome(command_id, accepted=False, code="timeout", message="slow")
        if self.mode.startswith("reject:"):
            code = self.mode.removeprefix("reject:")
            return CommandOutcome(command_id, accepted=False, code=code, message=f"no: {code}")
        self._apply(command, merchant_id)
        return CommandOutcome(command_id, accepted=True, event_types=("Done",))

    async def send_to_subscription(
        self,
        command: EventData,
        *,
        subscription_id: str,
        merchant_id: str,
        timeout: float = 5.0,
    ) -> tuple[CommandOutcome, SubscriptionDetail | None] | None:
        if (merchant_id, subscription_id) not in self.subscriptions:
            return None  # like the outbox INSERT that finds no such subscription
        outcome = await self.send(
            command,
            stream_id=ids.subscription_stream(subscription_id),
            merchant_id=merchant_id,
            timeout=timeout,
        )
        return outcome, self.subscriptions.get((merchant_id, subscription_id))

    def _apply(self, command: EventData, merchant_id: str) -> None:
        match command:
            case CreatePlan():
                self.plans[(merchant_id, command.plan_id)] = PlanView(
                    plan_id=command.plan_id,
                    merchant_id=merchant_id,
                    name=command.name,
                    description=command.description,
                    image_url=command.image_url,
                    amount=command.amount,
                    currency=command.currency,
                    interval=command.interval,
                    created_at=NOW,
                )
            case RegisterCustomer():
                self.customers[(merchant_id, command.customer_id)] = CustomerView(
                    customer_id=command.customer_id,
                    merchant_id=merchant_id,
                    email=str(command.email),
                    name=command.name,
                    phone=command.phone,
                    locale=command.locale,
                )
            case AttachPaymentMethod():
                card = command.card
                self.cards[(merchant_id, command.customer_id, card.payment_method_id)] = CardView(
                    payment_method_id=card.payment_method_id,
                    brand=card.brand,
                    last4=card.last4,
                    exp_month=card.exp_month,
                    exp_year=card.exp_year,
                )
            case CreateSubscription():
                self._subscribe(command, merchant_id)
            case UpdateSubscriptionPaymentMethod():
                key = (merchant_id, command.subscription_id)
                current = self.subscriptions[key]
                chosen = self.cards[
                    (merchant_id, current.view.customer_id, command.payment_method_id)
                ]
                self.subscriptions[key] = replace(
                    current, view=replace(current.view, payment_method=chosen)
                )
            case AdvanceTestClock():
                previous = self.clocks.get(merchant_id)
                self.clocks[merchant_id] = TestClockView(
                    merchant_id=merchant_id,
                    frozen_time=command.advance_to,
                    advanced_at=command.advance_to,
                    version=previous.version + 1 if previous else 1,
                )
            case CancelSubscription():
                key = (merchant_id, command.subscription_id)
                current = self.subscriptions[key]
                self.subscriptions[key] = replace(
                    current,
                    view=replace(
                        current.view,
                        status="canceled",
                        canceled_at=NOW,
                        cancellation_reason=command.reason,
                    ),
                )

    def _subscribe(self, command: CreateSubscription, merchant_id: str) -> None:
        plan = self.plans[(merchant_id, command.plan_id)]
        card = self.cards[(merchant_id, command.customer_id, command.payment_method_id)]
        status = {"paid": "active", "declined": "incomplete_expired", "pending": "incomplete"}
        view = SubscriptionView(
            subscription_id=command.subscription_id,
            customer_id=command.customer_id,
            status=status[self.first_charge],
            plan_id=plan.plan_id,
            plan_name=plan.name,
            plan_description=plan.description,
            plan_image_url=plan.image_url,
            amount=plan.amount,
            currency=plan.currency,
            interval=plan.interval,
            current_period_start=NOW,
            current_period_end=NOW + timedelta(days=30),
            next_renewal_at=NOW + timedelta(days=30),
            next_renewal_amount=plan.amount,
            cancel_at=None,
            canceled_at=None,
            cancellation_reason=None,
            payment_method=card,
            version=3,
        )
        declined = self.first_charge == "declined"
        self.subscriptions[(merchant_id, command.subscription_id)] = SubscriptionDetail(
            view=view,
            merchant_id=merchant_id,
            created_at=NOW,
            cancellation_comment=None,
            activation_failure_code="insufficient_funds" if declined else None,
            activation_failure_message="Your card has insufficient funds." if declined else None,
            latest_invoice_id="in_1",
        )


class OnceWaiter:
    """Waiter without notifications: checks a few times (the world answers synchronously)."""

    async def wait_for(
        self, keys: Iterable[str], check: Callable[[], Awaitable[T | None]], timeout: float
    ) -> T | None:
        return await check()


class Sessions:
    async def create(
        self,
        *,
        merchant_id: str,
        customer_id: str,
        return_url: str | None,
        locale: str | None,
        now: datetime,
    ) -> CreatedPortalSession:
        return CreatedPortalSession(
            session_id="ps_1", url="http://gw.example/portal/s/tok", expires_at=now
        )


class MemoryIdempotency:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredRequest] = {}

    async def begin(
        self, merchant_id: str, key: str, fingerprint: bytes, now: datetime
    ) -> tuple[Verdict, StoredResponse | None]:
        existing = self.rows.get((merchant_id, key))
        verdict = judge(existing, fingerprint, now)
        if verdict is Verdict.EXECUTE:
            self.rows[(merchant_id, key)] = StoredRequest(
                fingerprint, KeyState.IN_PROGRESS, now, now
            )
        return verdict, existing.response if existing else None

    async def complete(
        self, merchant_id: str, key: str, fingerprint: bytes, response: StoredResponse
    ) -> None:
        row = self.rows[(merchant_id, key)]
        self.rows[(merchant_id, key)] = replace(row, state=KeyState.COMPLETED, response=response)

    async def release(self, merchant_id: str, key: str, fingerprint: bytes) -> None:
        self.rows.pop((merchant_id, key), None)


class MemoryMerchantStore:
    def __init__(self) -> None:
        self.by_digest: dict[bytes, Any] = {}

    async def create(self, merchant: Any, key: Any, registered: Any) -> None:
        self.by_digest[key.digest] = merchant

    async def by_key_digest(self, digest: bytes) -> Any:
        return self.by_digest.get(digest)


class CrashingProcessor:
    async def tokenize(self, card: CardInput) -> TokenizedCard:
        number = card.number  # a local holding the number, as a real adapter would
        raise RuntimeError(f"processor unreachable ({len(number)} digits)")

    async def charge(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


@dataclass
class Harness:
    client: httpx.AsyncClient
    world: World
    merchants: Merchants
    keys: dict[str, str]  # merchant name -> api key
    ids: dict[str, str]  # merchant name -> merchant id
    idempotency: MemoryIdempotency

    def auth(self, merchant: str = "acme", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[merchant]}", **extra}


def settings() -> Settings:
    return Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/unused",
        kafka_bootstrap_servers="127.0.0.1:9",
        admin_token=ADMIN_TOKEN,
    )


async def build(processor: Any = None, log_stream: io.StringIO | None = None) -> Harness:
    world = World()
    merchants = Merchants(MemoryMerchantStore())
    idempotency = MemoryIdempotency()
    api = MerchantApi(
        commands=world,
        reads=world,
        waiter=OnceWaiter(),
        processor=processor or SimulatedProcessor(b"unit-test-secret-0123456789", lambda: NOW),
        sessions=Sessions(),
        clock=lambda: NOW,
        timeouts=Timeouts(command=0.1, activation=0.1),
    )
    clocks = TestClocks(commands=world, reads=world, timeout=0.1)
    # servicekit's app shell: correlation ids, its logging of unhandled errors, our routers.
    service = Service(settings())
    service.add_routes(
        merchant_router(
            api=lambda: api,
            authenticate=lambda: merchants.authenticate,
            idempotency=lambda: idempotency,
        ),
        admin_router(
            admin_token=ADMIN_TOKEN,
            merchants=lambda: merchants,
            reads=lambda: world,
            rebuild=lambda: _no_rebuild,
            clocks=lambda: clocks,
        ),
    )
    if log_stream is not None:
        configure_logging(level="DEBUG", fmt="json", service="test", stream=log_stream)
    app = service.build_app(lifespan=[])
    app.on_startup.clear()
    # In this event loop (Litestar's AsyncTestClient runs the app in a thread of its own).
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),  # type: ignore[arg-type]
        base_url="http://testserver.local",
    )
    keys, ids = {}, {}
    from portal_gateway.application.merchants import NewMerchant

    for name in ("acme", "globex"):
        registered = await merchants.register(NewMerchant(name=name))
        keys[name] = registered.api_key
        ids[name] = registered.merchant.merchant_id
        world.merchant_ids.add(registered.merchant.merchant_id)
    return Harness(client, world, merchants, keys, ids, idempotency)


async def _no_rebuild() -> tuple[int, str]:
    return 2, "gateway.projections.r2"


@pytest.fixture
async def h() -> Harness:
    return await build()


PLAN = {
    "name": "Pro",
    "description": "Everything",
    "amount": 2999,
    "currency": "usd",
    "interval": "month",
}


async def create_customer(h: Harness, merchant: str = "acme") -> str:
    response = await h.client.post(
        "/v1/customers", json={"email": "ana@example.com", "name": "Ana"}, headers=h.auth(merchant)
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


def json_leaves(value: Any) -> Iterable[Any]:
    """Every scalar in a decoded JSON document."""
    if isinstance(value, dict):
        for item in value.values():
            yield from json_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_leaves(item)
    else:
        yield value


async def setup_customer_with_card(h: Harness, merchant: str = "acme") -> tuple[str, str, str]:
    plan = (await h.client.post("/v1/plans", json=PLAN, headers=h.auth(merchant))).json()
    customer = (
        await h.client.post(
            "/v1/customers",
            json={"email": "ana@example.com", "name": "Ana"},
            headers=h.auth(merchant),
        )
    ).json()
    card = (
        await h.client.post(
            "/v1/payment_methods",
            json={
                "customer": customer["id"],
                "card": {"number": CARD_NUMBER, "exp_month": 12, "exp_year": 2030, "cvc": CVC},
            },
            headers=h.auth(merchant),
        )
    ).json()
    return plan["id"], customer["id"], card["id"]


async def new_subscription(h: Harness) -> str:
    """An active subscription of acme's, its customer paying with a card."""
    plan, customer, card = await setup_customer_with_card(h)
    response = await h.client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "payment_method": card},
        headers=h.auth(),
    )
    assert response.status_code == 200, response.text
    subscription: str = response.json()["id"]
    return subscription


# --- authentication ---------------------------------------------------------------------


async def test_a_request_without_a_key_gets_401_json(h: Harness) -> None:
    response = await h.client.post("/v1/plans", json=PLAN)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_required"
    assert response.headers["www-authenticate"] == "Bearer"
    assert h.world.sent == []


@pytest.mark.parametrize(
    "header", ["Bearer sk_test_" + "x" * 43, "Bearer nonsense", "Basic abc", "Bearer "]
)
async def test_a_wrong_key_gets_401_json(h: Harness, header: str) -> None:
    response = await h.client.get("/v1/subscriptions/sub_1", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("invalid_api_key", "authentication_required")
    assert "sk_test_" not in response.json()["error"]["message"]


# --- validation and errors --------------------------------------------------------------


async def test_a_created_plan_is_returned_with_its_id(h: Harness) -> None:
    response = await h.client.post("/v1/plans", json=PLAN, headers=h.auth())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("plan_")
    assert body["object"] == "plan"
    assert (body["amount"], body["currency"], body["interval"]) == (2999, "USD", "month")
    (command, stream, merchant) = h.world.sent[0]
    assert isinstance(command, CreatePlan)
    assert stream == f"plan-{body['id']}"
    assert merchant == h.ids["acme"]
    fetched = await h.client.get(f"/v1/plans/{body['id']}", headers=h.auth())
    assert fetched.json() == body


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({k: v for k, v in PLAN.items() if k != "name"}, "parameter_missing", "name"),
        ({**PLAN, "currency": "dollars"}, "parameter_invalid", "currency"),
        ({**PLAN, "amount": -1}, "parameter_invalid", "amount"),
        ({**PLAN, "amount": "ten"}, "parameter_invalid", "amount"),
        ({**PLAN, "interval": "week"}, "parameter_invalid", "interval"),
        ({**PLAN, "colour": "red"}, "parameter_invalid", "colour"),
    ],
)
async def test_validation_errors_name_the_field(
    h: Harness, body: dict[str, Any], code: str, param: str
) -> None:
    response = await h.client.post("/v1/plans", json=body, headers=h.auth())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert error["message"]
    assert h.world.sent == []


async def test_malformed_json_is_a_clear_400(h: Harness) -> None:
    response = await h.client.post(
        "/v1/plans", content=b'{"name": ', headers=h.auth(**{"Content-Type": "application/json"})
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_request", "parameter_invalid")


async def test_a_rejected_command_answers_with_the_owner_code(h: Harness) -> None:
    h.world.mode = "reject:plan_exists"
    response = await h.client.post("/v1/plans", json=PLAN, headers=h.auth())
    assert response.status_code == 409
    assert response.json()["error"] == {"code": "plan_exists", "message": "no: plan_exists"}


async def test_an_outcome_not_seen_in_time_answers_202_with_the_id(h: Harness) -> None:
    h.world.mode = "timeout"
    response = await h.client.post("/v1/plans", json=PLAN, headers=h.auth())
    assert response.status_code == 202
    body = response.json()
    assert body["id"].startswith("plan_")
    assert body["object"] == "plan"
    assert (body["status"], body["code"]) == ("processing", "timeout")


# --- tenancy ------------------------------------------------------------------------------


async def test_another_merchants_ids_are_404(h: Harness) -> None:
    plan, customer, card = await setup_customer_with_card(h, "acme")
    created = await h.client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "payment_method": card},
        headers=h.auth("acme"),
    )
    subscription = created.json()["id"]
    sent_before = len(h.world.sent)
    for method, path, body in [
        ("GET", f"/v1/subscriptions/{subscription}", None),
        ("GET", f"/v1/subscriptions/{subscription}/events", None),
        ("POST", f"/v1/subscriptions/{subscription}/cancel", {}),
        ("GET", f"/v1/plans/{plan}", None),
        ("GET", f"/v1/customers/{customer}", None),
        ("POST", "/v1/portal/sessions", {"customer": customer}),
        ("POST", "/v1/subscriptions", {"customer": customer, "plan": plan, "payment_method": card}),
        (
            "POST",
            "/v1/payment_methods",
            {
                "customer": customer,
                "card": {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2030, "cvc": CVC},
            },
        ),
    ]:
        response = await h.client.request(method, path, json=body, headers=h.auth("globex"))
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "resource_missing"
    assert len(h.world.sent) == sent_before  # nothing was sent on globex's behalf


# --- payment methods: card data stays in the adapter ----------------------------------------


@pytest.mark.parametrize(
    ("card", "code", "param"),
    [
        (
            {"number": "4242424242424241", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            "invalid_number",
            "card.number",
        ),
        (
            {"number": CARD_NUMBER, "exp_month": 13, "exp_year": 2030, "cvc": "123"},
            "invalid_expiry_month",
            "card.exp_month",
        ),
        (
            {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2020, "cvc": "123"},
            "expired_card",
            "card.exp_year",
        ),
        (
            {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2030, "cvc": "12"},
            "invalid_cvc",
            "card.cvc",
        ),
    ],
)
async def test_invalid_cards_are_refused_with_a_card_error(
    h: Harness, card: dict[str, Any], code: str, param: str
) -> None:
    _, customer, _ = await setup_customer_with_card(h)
    sent_before = len(h.world.sent)
    response = await h.client.post(
        "/v1/payment_methods", json={"customer": customer, "card": card}, headers=h.auth()
    )
    assert response.status_code == 402, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert card["number"] not in response.text
    assert len(h.world.sent) == sent_before


async def test_an_attached_card_is_summarised_and_the_command_carries_no_card_data(
    h: Harness,
) -> None:
    _, customer, _ = await setup_customer_with_card(h)
    response = await h.client.post(
        "/v1/payment_methods",
        json={
            "customer": customer,
            "card": {
                "number": "5555 5555 5555 4444",
                "exp_month": 3,
                "exp_year": 2031,
                "cvc": "321",
            },
        },
        headers=h.auth(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["brand"], body["last4"], body["exp_month"], body["exp_year"]) == (
        "mastercard",
        "4444",
        3,
        2031,
    )
    assert body["id"].startswith("pm_")
    assert body["customer"] == customer
    command = h.world.sent[-1][0]
    assert isinstance(command, AttachPaymentMethod)
    serialized = command.model_dump_json()
    assert "5555555555554444" not in serialized
    # The CVC as a value, not as a substring: three digits turn up in random ids by chance.
    assert set(command.card.model_dump()) == {
        "payment_method_id",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
    }
    assert "321" not in {str(value) for value in json_leaves(orjson.loads(serialized))}


async def test_card_numbers_and_cvcs_never_reach_logs_or_responses() -> None:
    logs = io.StringIO()
    h = await build(log_stream=logs)
    crashing = await build(processor=CrashingProcessor(), log_stream=logs)
    texts: list[str] = []
    _, customer, _ = await setup_customer_with_card(h)
    crash_customer = await create_customer(crashing)
    attempts = [
        (
            h,
            {
                "customer": customer,
                "card": {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2030, "cvc": CVC},
            },
        ),
        (
            h,
            {
                "customer": customer,
                "card": {"number": CARD_NUMBER, "exp_month": "jan", "exp_year": 2030, "cvc": CVC},
            },
        ),
        (
            h,
            {
                "customer": customer,
                "card": {
                    "number": CARD_NUMBER,
                    "exp_month": 1,
                    "exp_year": 2030,
                    "cvc": CVC,
                    "pin": CVC,
                },
            },
        ),
        (
            h,
            {
                "customer": customer,
                "card": {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2030},
            },
        ),
        (
            h,
            {
                "customer": customer,
                "card": {
                    "number": int(CARD_NUMBER),
                    "exp_month": 1,
                    "exp_year": 2030,
                    "cvc": int(CVC),
                },
            },
        ),
        (
            h,
            {
                "customer": "cus_nobody",
                "card": {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2030, "cvc": CVC},
            },
        ),
        (
            crashing,
            {
                "customer": crash_customer,
                "card": {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2030, "cvc": CVC},
            },
        ),
    ]
    statuses = []
    for harness, body in attempts:
        response = await harness.client.post(
            "/v1/payment_methods", json=body, headers=harness.auth()
        )
        statuses.append(response.status_code)
        texts.append(response.text)
    malformed = await h.client.post(
        "/v1/payment_methods",
        content=f'{{"customer": "{customer}", "card": {{"number": "{CARD_NUMBER}", '.encode(),
        headers=h.auth(**{"Content-Type": "application/json"}),
    )
    statuses.append(malformed.status_code)
    texts.append(malformed.text)
    assert statuses == [201, 400, 400, 400, 201, 404, 500, 400]
    log_text = logs.getvalue()
    assert "internal error" in log_text  # the crash was logged, with its traceback
    for text in [*texts, log_text]:
        assert CARD_NUMBER not in text
        assert CARD_NUMBER[:6] + "******" not in text
    assert f'"{CVC}"' not in log_text
    assert f"'{CVC}'" not in log_text
    for command, _, _ in [*h.world.sent, *crashing.world.sent]:
        assert CARD_NUMBER not in command.model_dump_json()


# --- subscriptions -------------------------------------------------------------------------


async def test_a_paid_first_invoice_answers_200_active(h: Harness) -> None:
    plan, customer, card = await setup_customer_with_card(h)
    response = await h.client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "payment_method": card},
        headers=h.auth(),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "active"
    assert body["plan"]["id"] == plan
    assert body["payment_method"]["id"] == card
    assert body["next_renewal_amount"] == 2999


async def test_a_declined_first_charge_answers_402_with_the_decline_code(h: Harness) -> None:
    plan, customer, card = await setup_customer_with_card(h)
    h.world.first_charge = "declined"
    response = await h.client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "payment_method": card},
        headers=h.auth(),
    )
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "insufficient_funds"
    assert error["message"] == "Your card has insufficient funds."
    assert error["subscription"].startswith("sub_")


async def test_a_first_charge_still_pending_answers_202_with_the_subscription(
    h: Harness,
) -> None:
    plan, customer, card = await setup_customer_with_card(h)
    h.world.first_charge = "pending"
    response = await h.client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "payment_method": card},
        headers=h.auth(),
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "incomplete"
    assert body["code"] == "timeout"
    assert body["id"].startswith("sub_")


async def test_unknown_references_are_404_with_the_param(h: Harness) -> None:
    plan, customer, card = await setup_customer_with_card(h)
    for body, param in [
        ({"customer": "cus_x", "plan": plan, "payment_method": card}, "customer"),
        ({"customer": customer, "plan": "plan_x", "payment_method": card}, "plan"),
        ({"customer": customer, "plan": plan, "payment_method": "pm_x"}, "payment_method"),
    ]:
        response = await h.client.post("/v1/subscriptions", json=body, headers=h.auth())
        assert response.status_code == 404
        assert response.json()["error"]["param"] == param


async def _subscribed(h: Harness) -> tuple[str, str]:
    plan, customer, card = await setup_customer_with_card(h)
    subscription = (
        await h.client.post(
            "/v1/subscriptions",
            json={"customer": customer, "plan": plan, "payment_method": card},
            headers=h.auth(),
        )
    ).json()["id"]
    other = (
        await h.client.post(
            "/v1/payment_methods",
            json={
                "customer": customer,
                "card": {
                    "number": "5555555555554444",
                    "exp_month": 1,
                    "exp_year": 2031,
                    "cvc": CVC,
                },
            },
            headers=h.auth(),
        )
    ).json()["id"]
    return subscription, other


async def test_a_subscription_is_switched_to_another_of_its_customers_cards(h: Harness) -> None:
    subscription, other = await _subscribed(h)
    response = await h.client.post(
        f"/v1/subscriptions/{subscription}/payment_method",
        json={"payment_method": other},
        headers=h.auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["payment_method"]["last4"] == "4444"
    command, stream, _ = h.world.sent[-1]
    assert command == UpdateSubscriptionPaymentMethod(
        subscription_id=subscription, payment_method_id=other
    )
    assert stream == f"subscription-{subscription}"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("payment_method_expired", 402),
        ("subscription_ended", 409),
        ("payment_method_unchanged", 409),
        ("payment_method_not_found", 404),
    ],
)
async def test_a_refused_card_switch_answers_with_the_owner_code(
    h: Harness, code: str, status: int
) -> None:
    subscription, other = await _subscribed(h)
    h.world.mode = f"reject:{code}"
    response = await h.client.post(
        f"/v1/subscriptions/{subscription}/payment_method",
        json={"payment_method": other},
        headers=h.auth(),
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_a_card_switch_to_a_card_the_customer_lacks_is_404_before_sending(
    h: Harness,
) -> None:
    subscription, _ = await _subscribed(h)
    sent = len(h.world.sent)
    for body in ({"payment_method": "pm_unknown"}, {"payment_method": ""}, {}):
        response = await h.client.post(
            f"/v1/subscriptions/{subscription}/payment_method", json=body, headers=h.auth()
        )
        assert response.status_code in (400, 404), response.text
    unknown = await h.client.post(
        f"/v1/subscriptions/{subscription}/payment_method",
        json={"payment_method": "pm_unknown"},
        headers=h.auth(),
    )
    assert unknown.json()["error"] == {
        "code": "payment_method_not_found",
        "message": unknown.json()["error"]["message"],
        "param": "payment_method",
    }
    elsewhere = await h.client.post(
        f"/v1/subscriptions/{subscription}/payment_method",
        json={"payment_method": "pm_unknown"},
        headers=h.auth("globex"),
    )
    assert elsewhere.status_code == 404
    assert len(h.world.sent) == sent


async def test_cancel_and_events(h: Harness) -> None:
    subscription = await new_subscription(h)
    response = await h.client.post(
        f"/v1/subscriptions/{subscription}/cancel",
        json={"at_period_end": False, "reason": "too_expensive"},
        headers=h.auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    command = h.world.sent[-1][0]
    assert isinstance(command, CancelSubscription)
    assert command.reason == "too_expensive"
    bad = await h.client.post(
        f"/v1/subscriptions/{subscription}/cancel", json={"reason": "bored"}, headers=h.auth()
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "reason"
    events = (
        await h.client.get(f"/v1/subscriptions/{subscription}/events", headers=h.auth())
    ).json()
    assert events["stream_id"] == f"subscription-{subscription}"
    assert [e["type"] for e in events["data"]] == ["SubscriptionCreated"]
    assert set(events["data"][0]) >= {"type", "version", "occurred_at", "data"}


async def test_a_cancel_reads_the_subscription_once_for_its_answer(h: Harness) -> None:
    subscription = await new_subscription(h)
    detail_reads = 0
    read_detail = h.world.subscription_detail

    async def counted(merchant_id: str, subscription_id: str) -> SubscriptionDetail | None:
        nonlocal detail_reads
        detail_reads += 1
        return await read_detail(merchant_id, subscription_id)

    h.world.subscription_detail = counted  # type: ignore[method-assign]
    response = await h.client.post(f"/v1/subscriptions/{subscription}/cancel", headers=h.auth())
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    # The 404 check asks only whether it exists; the answer comes with the outcome.
    assert detail_reads == 0


async def test_a_cancel_not_seen_in_time_answers_202_with_the_subscription(h: Harness) -> None:
    subscription = await new_subscription(h)
    h.world.mode = "timeout"
    response = await h.client.post(f"/v1/subscriptions/{subscription}/cancel", headers=h.auth())
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["id"], body["status"], body["code"]) == (subscription, "active", "timeout")
    h.world.mode = "reject:subscription_canceled"
    rejected = await h.client.post(f"/v1/subscriptions/{subscription}/cancel", headers=h.auth())
    assert rejected.status_code == 409, rejected.text
    assert rejected.json()["error"]["code"] == "subscription_canceled"


async def test_a_cancel_asks_no_separate_existence_question(h: Harness) -> None:
    subscription = await new_subscription(h)

    async def not_asked(merchant_id: str, subscription_id: str) -> bool:
        raise AssertionError("sending the cancel decides whether the subscription exists")

    h.world.subscription_exists = not_asked  # type: ignore[method-assign]
    response = await h.client.post(f"/v1/subscriptions/{subscription}/cancel", headers=h.auth())
    assert response.status_code == 200, response.text


async def test_a_cancel_of_an_unknown_subscription_is_404_and_sends_nothing(h: Harness) -> None:
    sent_before = len(h.world.sent)
    for subscription in ("sub_missing", "s" * 101):  # the second could not even be sent
        for body in (None, {"at_period_end": True, "reason": "too_expensive"}):
            response = await h.client.post(
                f"/v1/subscriptions/{subscription}/cancel", json=body, headers=h.auth()
            )
            assert response.status_code == 404, (subscription, response.text)
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("resource_missing", "id")
            assert error["message"] == f"No such subscription: {subscription!r}."
    assert len(h.world.sent) == sent_before


async def test_portal_sessions(h: Harness) -> None:
    _, customer, _ = await setup_customer_with_card(h)
    response = await h.client.post(
        "/v1/portal/sessions",
        json={"customer": customer, "return_url": "https://shop.example/account"},
        headers=h.auth(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["url"].startswith("http")
    assert body["id"] == "ps_1"
    assert body["return_url"] == "https://shop.example/account"


# --- Idempotency-Key -------------------------------------------------------------------------


async def test_the_same_key_and_body_replays_the_first_response(h: Harness) -> None:
    headers = h.auth(**{"Idempotency-Key": "plan-1"})
    first = await h.client.post("/v1/plans", json=PLAN, headers=headers)
    second = await h.client.post("/v1/plans", json=dict(reversed(PLAN.items())), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert len(h.world.sent) == 1


async def test_the_same_key_with_another_body_is_refused(h: Harness) -> None:
    headers = h.auth(**{"Idempotency-Key": "plan-1"})
    assert (await h.client.post("/v1/plans", json=PLAN, headers=headers)).status_code == 201
    other = await h.client.post("/v1/plans", json={**PLAN, "amount": 1}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(h.world.sent) == 1


async def test_keys_are_per_merchant(h: Harness) -> None:
    key = {"Idempotency-Key": "same"}
    a = await h.client.post("/v1/plans", json=PLAN, headers=h.auth("acme", **key))
    b = await h.client.post("/v1/plans", json=PLAN, headers=h.auth("globex", **key))
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_errors_are_replayed_too(h: Harness) -> None:
    headers = h.auth(**{"Idempotency-Key": "k"})
    h.world.mode = "reject:nope"
    first = await h.client.post("/v1/plans", json=PLAN, headers=headers)
    h.world.mode = "accept"
    second = await h.client.post("/v1/plans", json=PLAN, headers=headers)
    assert first.status_code == second.status_code == 409
    assert second.json() == first.json()
    assert len(h.world.sent) == 1


@pytest.mark.timeout(30)
async def test_a_concurrent_request_with_the_same_key_is_told_to_retry(h: Harness) -> None:
    h.world.gate = asyncio.Event()
    headers = h.auth(**{"Idempotency-Key": "slow"})
    first = asyncio.create_task(h.client.post("/v1/plans", json=PLAN, headers=headers))
    for _ in range(500):  # until the first request holds the key
        if h.world.sent:
            break
        await asyncio.sleep(0.01)
    assert h.world.sent, "the first request never reached the command gateway"
    second = await h.client.post("/v1/plans", json=PLAN, headers=headers)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "idempotency_key_in_use"
    h.world.gate.set()
    assert (await first).status_code == 201
    third = await h.client.post("/v1/plans", json=PLAN, headers=headers)
    assert third.headers.get("idempotent-replayed") == "true"
    assert len(h.world.sent) == 1


async def test_a_server_error_releases_the_key_for_a_retry() -> None:
    h = await build(processor=CrashingProcessor())
    customer = await create_customer(h)
    body = {
        "customer": customer,
        "card": {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2030, "cvc": CVC},
    }
    headers = h.auth(**{"Idempotency-Key": "card-1"})
    assert (
        await h.client.post("/v1/payment_methods", json=body, headers=headers)
    ).status_code == 500
    assert (h.ids["acme"], "card-1") not in h.idempotency.rows
    again = await h.client.post("/v1/payment_methods", json=body, headers=headers)
    assert again.status_code == 500
    assert again.headers.get("idempotent-replayed") is None


async def test_an_oversized_body_with_a_key_is_refused_before_anything_runs(h: Harness) -> None:
    response = await h.client.post(
        "/v1/plans",
        json={**PLAN, "description": "x" * 1_100_000},
        headers=h.auth(**{"Idempotency-Key": "big"}),
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert h.world.sent == []
    assert h.idempotency.rows == {}


async def test_a_cancel_without_a_body_cancels_now(h: Harness) -> None:
    subscription = await new_subscription(h)
    response = await h.client.post(f"/v1/subscriptions/{subscription}/cancel", headers=h.auth())
    assert response.status_code == 200, response.text
    command = h.world.sent[-1][0]
    assert isinstance(command, CancelSubscription)
    assert command.at_period_end is False


async def test_an_invalid_key_is_refused(h: Harness) -> None:
    response = await h.client.post(
        "/v1/plans", json=PLAN, headers=h.auth(**{"Idempotency-Key": "x" * 300})
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"


# --- admin -------------------------------------------------------------------------------------


async def test_the_admin_api_needs_the_operator_token(h: Harness) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, h.auth()):
        response = await h.client.post("/admin/merchants", json={"name": "X"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_admin_token"


async def test_an_operator_creates_a_merchant_whose_key_works(h: Harness) -> None:
    response = await h.client.post(
        "/admin/merchants",
        json={"name": "Initech", "slug": "initech"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["slug"], body["name"]) == ("initech", "Initech")
    assert body["id"].startswith("mer_")
    assert body["api_key"].startswith("sk_test_")
    created = await h.client.post(
        "/v1/plans", json=PLAN, headers={"Authorization": f"Bearer {body['api_key']}"}
    )
    assert created.status_code == 201
    assert h.world.sent[-1][2] == body["id"]


async def test_a_bad_slug_is_a_400(h: Harness) -> None:
    response = await h.client.post(
        "/admin/merchants",
        json={"name": "X", "slug": "Not A Slug"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "slug"


# --- test clocks -------------------------------------------------------------------------------

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_a_merchant_without_a_test_clock_lives_in_wall_clock_time(h: Harness) -> None:
    merchant = h.ids["acme"]
    response = await h.client.get(f"/admin/merchants/{merchant}/test_clock", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"object": "test_clock", "merchant_id": merchant, "frozen_time": None}


async def test_advancing_a_test_clock_sends_the_command_to_the_clock_stream(h: Harness) -> None:
    merchant = h.ids["acme"]
    response = await h.client.post(
        f"/admin/merchants/{merchant}/test_clock",
        json={"advance_to": "2031-03-01T09:30:00+02:00"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    assert response.json()["frozen_time"] == "2031-03-01T07:30:00Z"
    command, stream, sent_for = h.world.sent[-1]
    assert isinstance(command, AdvanceTestClock)
    assert (stream, sent_for, command.merchant_id) == (f"clock-{merchant}", merchant, merchant)
    assert command.advance_to == datetime(2031, 3, 1, 7, 30, tzinfo=UTC)
    shown = await h.client.get(f"/admin/merchants/{merchant}/test_clock", headers=ADMIN)
    assert shown.json()["frozen_time"] == "2031-03-01T07:30:00Z"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("clock_backwards", 409),
        ("test_clocks_disabled", 409),
        ("clock_advance_too_far", 422),
    ],
)
async def test_a_refused_clock_advance_answers_with_the_rejection_code(
    h: Harness, code: str, status: int
) -> None:
    h.world.mode = f"reject:{code}"
    response = await h.client.post(
        f"/admin/merchants/{h.ids['acme']}/test_clock",
        json={"advance_to": "2020-01-01T00:00:00Z"},
        headers=ADMIN,
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == {"code": code, "message": f"no: {code}"}


async def test_a_clock_that_does_not_answer_in_time_is_a_202(h: Harness) -> None:
    h.world.mode = "timeout"
    response = await h.client.post(
        f"/admin/merchants/{h.ids['acme']}/test_clock",
        json={"advance_to": "2030-01-01T00:00:00Z"},
        headers=ADMIN,
    )
    assert response.status_code == 202, response.text
    assert response.json()["code"] == "timeout"


@pytest.mark.parametrize(
    "body",
    [
        {"advance_to": "2030-01-01T00:00:00"},  # no timezone
        {"advance_to": "next tuesday"},
        {},
        {"advance_to": "2030-01-01T00:00:00Z", "extra": 1},
    ],
)
async def test_a_bad_advance_is_a_400_and_sends_nothing(h: Harness, body: dict[str, Any]) -> None:
    response = await h.client.post(
        f"/admin/merchants/{h.ids['acme']}/test_clock", json=body, headers=ADMIN
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"].startswith("parameter_")
    assert h.world.sent == []


async def test_an_unknown_merchants_clock_is_404_and_the_clock_needs_the_admin_token(
    h: Harness,
) -> None:
    path = "/admin/merchants/mer_nope/test_clock"
    assert (await h.client.get(path, headers=ADMIN)).status_code == 404
    posted = await h.client.post(path, json={"advance_to": "2030-01-01T00:00:00Z"}, headers=ADMIN)
    assert posted.status_code == 404
    assert posted.json()["error"]["code"] == "resource_missing"
    refused = await h.client.post(
        f"/admin/merchants/{h.ids['acme']}/test_clock",
        json={"advance_to": "2030-01-01T00:00:00Z"},
        headers=h.auth(),
    )
    assert refused.status_code == 401
    assert h.world.sent == []


# --- invoices ----------------------------------------------------------------------------------


def _invoice(merchant_id: str, n: int, *, subscription: str = "sub_1") -> InvoiceDetail:
    issued = NOW + timedelta(days=30 * n)
    return InvoiceDetail(
        invoice_id=f"in_{n}",
        merchant_id=merchant_id,
        customer_id="cus_1",
        subscription_id=subscription,
        number=f"ACME-{n:06d}",
        reason="subscription_create" if n == 0 else "subscription_cycle",
        status="paid",
        amount_due=2999,
        amount_paid=2999,
        currency="USD",
        plan_name="Pro",
        issued_at=issued,
        period_start=issued,
        period_end=issued + timedelta(days=30),
        paid_at=issued,
        failed_attempts=0,
        last_decline_code=None,
        last_decline_message=None,
    )


async def _subscription_with_invoices(h: Harness, count: int) -> str:
    plan = (await h.client.post("/v1/plans", json=PLAN, headers=h.auth())).json()["id"]
    customer = (
        await h.client.post(
            "/v1/customers", json={"email": "a@example.com", "name": "A"}, headers=h.auth()
        )
    ).json()["id"]
    card = (
        await h.client.post(
            "/v1/payment_methods",
            json={
                "customer": customer,
                "card": {"number": CARD_NUMBER, "exp_month": 1, "exp_year": 2040, "cvc": CVC},
            },
            headers=h.auth(),
        )
    ).json()["id"]
    subscription: str = (
        await h.client.post(
            "/v1/subscriptions",
            json={"customer": customer, "plan": plan, "payment_method": card},
            headers=h.auth(),
        )
    ).json()["id"]
    merchant = h.ids["acme"]
    h.world.invoice_rows.extend(
        _invoice(merchant, n, subscription=subscription) for n in (3, 0, 5, 1, 4, 2)[:count]
    )
    h.world.invoice_rows.append(_invoice(merchant, 9, subscription="sub_other"))
    h.world.invoice_rows.append(_invoice(h.ids["globex"], 7, subscription=subscription))
    return subscription


async def test_a_subscriptions_invoices_are_listed_newest_first(h: Harness) -> None:
    subscription = await _subscription_with_invoices(h, 6)
    response = await h.client.get(
        "/v1/invoices", params={"subscription": subscription}, headers=h.auth()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    assert body["has_more"] is False
    assert [i["id"] for i in body["data"]] == ["in_5", "in_4", "in_3", "in_2", "in_1", "in_0"]
    first = body["data"][-1]
    assert first["reason"] == "subscription_create"
    assert (first["subscription"], first["amount_due"], first["currency"]) == (
        subscription,
        2999,
        "USD",
    )
    assert first["issued_at"] == "2025-05-01T12:00:00Z"
    page = await h.client.get(
        "/v1/invoices", params={"subscription": subscription, "limit": 2}, headers=h.auth()
    )
    assert [i["id"] for i in page.json()["data"]] == ["in_5", "in_4"]
    assert page.json()["has_more"] is True


async def test_an_invoice_is_retrieved_by_id_within_its_merchant_only(h: Harness) -> None:
    await _subscription_with_invoices(h, 1)
    found = await h.client.get("/v1/invoices/in_3", headers=h.auth())
    assert found.status_code == 200, found.text
    assert found.json()["number"] == "ACME-000003"
    assert (await h.client.get("/v1/invoices/in_3", headers=h.auth("globex"))).status_code == 404


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"subscription": "sub_unknown"}, 404, "subscription"),
        ({"customer": "cus_unknown"}, 404, "customer"),
        ({"limit": "0"}, 400, "limit"),
        ({"limit": "101"}, 400, "limit"),
        ({"limit": "many"}, 400, "limit"),
    ],
)
async def test_bad_invoice_filters_are_clear_errors(
    h: Harness, params: dict[str, str], status: int, param: str
) -> None:
    response = await h.client.get("/v1/invoices", params=params, headers=h.auth())
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
