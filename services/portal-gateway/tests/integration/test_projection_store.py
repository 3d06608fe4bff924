"""The projection handler and the read model on the real PostgreSQL (no broker).

Each event is projected the way the projection consumer does it: in one transaction. The
handler must be idempotent on its own (a rebuild may overlap an old consumer's last commits),
ignore what is older than a row, and keep every read scoped to (merchant, customer).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import orjson
import pytest

from billing_events.contract.common import Address, CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CancellationScheduled,
    CommandRejected,
    CustomerProfileUpdated,
    CustomerRegistered,
    InvoiceIssued,
    InvoiceLine,
    InvoicePaid,
    MerchantRegistered,
    PaymentMethodAttached,
    PaymentMethodUpdated,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionRenewed,
    TestClockAdvanced,
)
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.postgres import Migration, migrate
from portal_gateway.adapters.postgres.projector import channel_for, project
from portal_gateway.adapters.postgres.read_model import (
    PostgresReadModel,
    _card_row,
    _customer_view,
    _invoice_view,
    merchant_from_row,
    subscription_view,
)
from portal_gateway.adapters.postgres.records import subscription_from_row
from portal_gateway.adapters.postgres.schema import GATEWAY_MIGRATIONS, MIGRATIONS
from portal_gateway.application.ports import PortalOverview
from portal_gateway.domain.outcomes import wake_keys

pytestmark = pytest.mark.integration

T0 = datetime(2025, 4, 1, 10, tzinfo=UTC)
T1 = T0 + timedelta(days=30)
MERCHANT = "mer_a"
VISA = CardSummary(
    payment_method_id="pm_visa", brand="visa", last4="4242", exp_month=12, exp_year=2030
)
MASTERCARD = CardSummary(
    payment_method_id="pm_mc", brand="mastercard", last4="4444", exp_month=1, exp_year=2031
)
PLAN = PlanSnapshot(
    plan_id="plan_pro", name="Pro", description="All", amount=2999, currency="EUR", interval="month"
)


@pytest.fixture
async def reads(pg_pool: asyncpg.Pool) -> PostgresReadModel:
    await migrate(pg_pool, MIGRATIONS)
    await pg_pool.execute(
        "INSERT INTO merchants (merchant_id, slug, name) VALUES ($1, 'acme', 'Acme')", MERCHANT
    )
    return PostgresReadModel(pg_pool)


def event(
    data: EventData,
    stream: str,
    version: int,
    *,
    merchant: str = MERCHANT,
    at: datetime = T0,
) -> Envelope:
    return new_envelope(
        data,
        stream_id=stream,
        stream_version=version,
        merchant_id=merchant,
        correlation_id=uuid.uuid4(),
        occurred_at=at,
    )


async def feed(pool: asyncpg.Pool, *envelopes: Envelope) -> None:
    for envelope in envelopes:
        async with pool.acquire() as conn, conn.transaction():
            await project(envelope, conn)


def customer_events(customer: str = "cus_1", merchant: str = MERCHANT) -> list[Envelope]:
    stream = f"customer-{customer}"
    return [
        event(
            CustomerRegistered(
                customer_id=customer, email="ana@example.com", name="Ana", locale="pt"
            ),
            stream,
            1,
            merchant=merchant,
        ),
        event(PaymentMethodAttached(customer_id=customer, card=VISA), stream, 2, merchant=merchant),
    ]


def subscription_events(sub: str = "sub_1", customer: str = "cus_1") -> list[Envelope]:
    stream = f"subscription-{sub}"
    return [
        event(
            SubscriptionCreated(
                subscription_id=sub, customer_id=customer, plan=PLAN, payment_method=VISA
            ),
            stream,
            1,
        ),
        event(
            SubscriptionActivated(
                subscription_id=sub,
                invoice_id="in_1",
                current_period_start=T0,
                current_period_end=T1,
            ),
            stream,
            2,
        ),
    ]


def invoice_events(invoice: str = "in_1", customer: str = "cus_1") -> list[Envelope]:
    stream = f"invoice-{invoice}"
    return [
        event(
            InvoiceIssued(
                invoice_id=invoice,
                number="A-0001",
                customer_id=customer,
                subscription_id="sub_1",
                reason="subscription_create",
                lines=(InvoiceLine(description="Pro", amount=2999),),
                amount_due=2999,
                currency="EUR",
                issued_at=T0,
                plan_name="Pro",
            ),
            stream,
            1,
        ),
        event(
            InvoicePaid(
                invoice_id=invoice,
                customer_id=customer,
                subscription_id="sub_1",
                amount_paid=2999,
                currency="EUR",
                paid_at=T0,
            ),
            stream,
            2,
        ),
    ]


async def test_the_portal_overview_is_built_from_the_projections(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events(), *invoice_events())
    overview = await reads.overview(MERCHANT, "cus_1")
    assert overview is not None
    assert (overview.merchant.name, overview.merchant.cancel_mode) == ("Acme", "at_period_end")
    assert (overview.customer.email, overview.customer.locale) == ("ana@example.com", "pt")
    (subscription,) = overview.subscriptions
    assert subscription.status == "active"
    assert (subscription.plan_name, subscription.amount, subscription.currency) == (
        "Pro",
        2999,
        "EUR",
    )
    assert subscription.next_renewal_at == T1
    assert subscription.next_renewal_amount == 2999
    assert subscription.payment_method is not None
    assert subscription.payment_method.last4 == "4242"
    (invoice,) = overview.invoices
    assert (invoice.number, invoice.status, invoice.amount) == ("A-0001", "paid", 2999)
    assert [card.payment_method_id for card in overview.payment_methods] == ["pm_visa"]
    view = await reads.subscription(MERCHANT, "cus_1", "sub_1")
    assert view == subscription


async def test_reads_are_scoped_to_the_merchant_and_the_customer(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events())
    await feed(pg_pool, *customer_events("cus_2"))
    assert await reads.overview("mer_other", "cus_1") is None
    assert await reads.subscription(MERCHANT, "cus_2", "sub_1") is None  # not cus_2's
    assert await reads.subscription("mer_other", "cus_1", "sub_1") is None
    assert await reads.subscription_detail("mer_other", "sub_1") is None
    assert await reads.customer("mer_other", "cus_1") is None
    assert await reads.payment_method(MERCHANT, "cus_2", "pm_visa") is not None
    assert await reads.payment_method("mer_other", "cus_2", "pm_visa") is None
    assert await reads.history("subscription-sub_1", "mer_other") == []
    other = await reads.overview(MERCHANT, "cus_2")
    assert other is not None
    assert other.subscriptions == []


async def test_projecting_the_same_events_twice_changes_nothing(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    events = [*customer_events(), *subscription_events(), *invoice_events()]
    await feed(pg_pool, *events)
    before = await reads.overview(MERCHANT, "cus_1")
    history = await reads.history("subscription-sub_1")
    await feed(pg_pool, *events)
    assert await reads.overview(MERCHANT, "cus_1") == before
    assert await reads.history("subscription-sub_1") == history
    assert [h.version for h in history] == [1, 2]


async def test_an_older_event_never_overwrites_a_newer_state(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    created, activated = subscription_events()
    canceled = event(
        SubscriptionCanceled(
            subscription_id="sub_1", customer_id="cus_1", canceled_at=T0, reason="unused"
        ),
        "subscription-sub_1",
        3,
    )
    await feed(pg_pool, *customer_events(), created, activated, canceled, activated)
    detail = await reads.subscription_detail(MERCHANT, "sub_1")
    assert detail is not None
    assert detail.view.status == "canceled"
    assert detail.view.version == 3


async def test_an_update_for_an_unknown_row_creates_nothing(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    _, activated = subscription_events()
    await feed(pg_pool, activated, invoice_events()[1])
    assert await reads.subscription_detail(MERCHANT, "sub_1") is None
    assert await pg_pool.fetchval("SELECT count(*) FROM invoices") == 0
    # ... but the history keeps what was consumed, for an operator to see.
    assert [h.event_type for h in await reads.history("subscription-sub_1")] == [
        "SubscriptionActivated"
    ]


async def test_profile_updates_and_new_cards(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events())
    await feed(
        pg_pool,
        event(
            CustomerProfileUpdated(
                customer_id="cus_1",
                name="Ana Lima",
                billing_address=Address(city="Lisboa", country="PT"),
            ),
            "customer-cus_1",
            3,
        ),
        event(
            PaymentMethodUpdated(
                subscription_id="sub_1", customer_id="cus_1", payment_method=MASTERCARD
            ),
            "subscription-sub_1",
            3,
        ),
    )
    customer = await reads.customer(MERCHANT, "cus_1")
    assert customer is not None
    assert (customer.name, customer.email) == ("Ana Lima", "ana@example.com")
    overview = await reads.overview(MERCHANT, "cus_1")
    assert overview is not None
    assert overview.subscriptions[0].payment_method is not None
    assert overview.subscriptions[0].payment_method.brand == "mastercard"
    assert {c.payment_method_id for c in overview.payment_methods} == {"pm_visa", "pm_mc"}


async def test_every_consumed_event_is_in_its_streams_history(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    registered = event(
        MerchantRegistered(merchant_id=MERCHANT, slug="acme", name="Acme"),
        f"merchant-{MERCHANT}",
        1,
    )
    await feed(pg_pool, registered, *invoice_events())
    (entry,) = await reads.history(f"merchant-{MERCHANT}")
    assert entry.event_type == "MerchantRegistered"
    assert entry.event_id == registered.event_id
    assert entry.data["slug"] == "acme"
    assert [h.event_type for h in await reads.history("invoice-in_1")] == [
        "InvoiceIssued",
        "InvoicePaid",
    ]


# --- test clocks and renewal invoices ----------------------------------------------------------


def clock_advanced(version: int, frozen: datetime, merchant: str = MERCHANT) -> Envelope:
    return new_envelope(
        TestClockAdvanced(merchant_id=merchant, frozen_time=frozen),
        stream_id=f"clock-{merchant}",
        stream_version=version,
        merchant_id=merchant,
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
        occurred_at=frozen,
    )


async def test_a_merchants_test_clock_is_its_latest_frozen_time(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    assert await reads.test_clock(MERCHANT) is None
    first, second = clock_advanced(1, T0), clock_advanced(2, T1)
    await feed(pg_pool, first, second, first)  # a redelivered older advance changes nothing
    clock = await reads.test_clock(MERCHANT)
    assert clock is not None
    assert (clock.frozen_time, clock.version) == (T1, 2)
    assert await reads.test_clock("mer_other") is None
    # The advance answers the command that caused it.
    assert second.causation_id is not None
    outcome = await reads.command_outcome(second.causation_id)
    assert outcome is not None
    assert (outcome.accepted, outcome.event_types) == (True, ("TestClockAdvanced",))
    assert [h.version for h in await reads.history(f"clock-{MERCHANT}")] == [1, 2]


async def test_clock_events_projected_before_the_clock_table_existed_are_recovered(
    pg_pool: asyncpg.Pool,
) -> None:
    # A gateway that consumed the clock topic with only the first two migrations...
    earlier: tuple[Migration, ...] = tuple(m for m in MIGRATIONS if m not in GATEWAY_MIGRATIONS[2:])
    await migrate(pg_pool, earlier)
    async with pg_pool.acquire() as conn, conn.transaction():
        for envelope in (clock_advanced(1, T0), clock_advanced(2, T1)):
            await conn.execute(
                "INSERT INTO stream_events (stream_id, stream_version, event_id, merchant_id, "
                "event_type, schema_version, occurred_at, correlation_id, data) "
                "VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)",
                envelope.stream_id,
                envelope.stream_version,
                envelope.event_id,
                envelope.merchant_id,
                envelope.event_type,
                envelope.occurred_at,
                envelope.correlation_id,
                envelope.data.model_dump(mode="json"),
            )
    # ... upgrades: the clock is read from the history.
    await migrate(pg_pool, MIGRATIONS)
    clock = await PostgresReadModel(pg_pool).test_clock(MERCHANT)
    assert clock is not None
    assert (clock.frozen_time, clock.version) == (T1, 2)


def renewal_invoice(n: int, *, subscription: str = "sub_1") -> Envelope:
    start = T0 + timedelta(days=30 * n)
    return event(
        InvoiceIssued(
            invoice_id=f"in_{n}",
            number=f"A-{n:04d}",
            customer_id="cus_1",
            subscription_id=subscription,
            reason="subscription_create" if n == 0 else "subscription_cycle",
            lines=(InvoiceLine(description="Pro", amount=2999),),
            amount_due=2999,
            currency="EUR",
            period_start=start,
            period_end=start + timedelta(days=30),
            issued_at=start,
            plan_name="Pro",
        ),
        f"invoice-in_{n}",
        1,
        at=start,
    )


async def test_renewal_invoices_are_listed_newest_first_per_subscription(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events())
    # Renewals arrive in any order across invoice streams (different partitions).
    await feed(pg_pool, *(renewal_invoice(n) for n in (2, 0, 6, 1, 4, 3, 5)))
    await feed(pg_pool, renewal_invoice(9, subscription="sub_2"))
    listed = await reads.invoices(MERCHANT, subscription_id="sub_1")
    assert [i.invoice_id for i in listed] == [f"in_{n}" for n in range(6, -1, -1)]
    assert listed[0].reason == "subscription_cycle"
    assert listed[0].period_start == T0 + timedelta(days=180)
    assert [i.invoice_id for i in await reads.invoices(MERCHANT, limit=2)] == ["in_9", "in_6"]
    assert len(await reads.invoices(MERCHANT, customer_id="cus_1")) == 8
    assert await reads.invoices("mer_other") == []
    assert await reads.invoice("mer_other", "in_1") is None
    found = await reads.invoice(MERCHANT, "in_1")
    assert found is not None
    assert found.number == "A-0001"
    overview = await reads.overview(MERCHANT, "cus_1")
    assert overview is not None
    assert [i.number for i in overview.invoices][:3] == ["A-0009", "A-0006", "A-0005"]


async def test_a_renewal_moves_the_next_renewal_date(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events())
    t2 = T1 + timedelta(days=30)
    await feed(
        pg_pool,
        event(
            SubscriptionRenewed(
                subscription_id="sub_1",
                current_period_start=T1,
                current_period_end=t2,
            ),
            "subscription-sub_1",
            3,
            at=T1,
        ),
    )
    view = await reads.subscription(MERCHANT, "cus_1", "sub_1")
    assert view is not None
    assert (view.current_period_start, view.next_renewal_at, view.status) == (T1, t2, "active")


async def overview_row_by_row(
    pool: asyncpg.Pool, merchant_id: str, customer_id: str
) -> PortalOverview | None:
    """The overview the way the read model read it before it was one statement: the
    reference its one-statement read must equal."""
    merchant = await pool.fetchrow("SELECT * FROM merchants WHERE merchant_id = $1", merchant_id)
    customer = await pool.fetchrow(
        "SELECT * FROM customers WHERE merchant_id = $1 AND customer_id = $2",
        merchant_id,
        customer_id,
    )
    if merchant is None or customer is None:
        return None
    scoped = "WHERE merchant_id = $1 AND customer_id = $2"
    subscriptions = await pool.fetch(
        f"SELECT * FROM subscriptions {scoped} ORDER BY created_at DESC, subscription_id",
        merchant_id,
        customer_id,
    )
    invoices = await pool.fetch(
        f"SELECT * FROM invoices {scoped} ORDER BY issued_at DESC, number DESC",
        merchant_id,
        customer_id,
    )
    cards = await pool.fetch(
        f"SELECT * FROM payment_methods {scoped} ORDER BY attached_at DESC, payment_method_id",
        merchant_id,
        customer_id,
    )
    return PortalOverview(
        merchant=merchant_from_row(merchant),
        customer=_customer_view(customer),
        subscriptions=[subscription_view(subscription_from_row(r)) for r in subscriptions],
        invoices=[_invoice_view(r) for r in invoices],
        payment_methods=[_card_row(r) for r in cards],
        test_clock=await pool.fetchval(
            "SELECT frozen_time FROM test_clocks WHERE merchant_id = $1", merchant_id
        ),
    )


def history_of_two_subscriptions() -> list[Envelope]:
    """Two subscriptions (one canceled), twelve invoices, two cards, a test clock."""
    events = [*customer_events(), *subscription_events(), *invoice_events()]
    events.append(
        event(
            PaymentMethodAttached(customer_id="cus_1", card=MASTERCARD),
            "customer-cus_1",
            3,
            at=T0 + timedelta(hours=1),
        )
    )
    old = subscription_events("sub_0")
    events += [
        *old,
        event(
            SubscriptionCanceled(
                subscription_id="sub_0",
                customer_id="cus_1",
                canceled_at=T0 + timedelta(minutes=5, microseconds=7),
                reason="too_expensive",
            ),
            "subscription-sub_0",
            3,
            at=T0 + timedelta(minutes=5),
        ),
    ]
    for month in range(11):
        issued = T0 + timedelta(days=31 * month, microseconds=123457 * month)
        events.append(
            event(
                InvoiceIssued(
                    invoice_id=f"in_m{month}",
                    number=f"A-1{month:03d}",
                    customer_id="cus_1",
                    subscription_id="sub_1",
                    reason="subscription_cycle",
                    lines=(InvoiceLine(description='Pro "quoted" ünï', amount=2999),),
                    amount_due=2999 + month,
                    currency="EUR",
                    issued_at=issued,
                    plan_name='Pro "quoted" ünï',
                ),
                f"invoice-in_m{month}",
                1,
            )
        )
    events.append(
        event(
            TestClockAdvanced(
                merchant_id=MERCHANT, frozen_time=T1 + timedelta(hours=3, microseconds=5)
            ),
            f"clock-{MERCHANT}",
            1,
        )
    )
    return events


async def test_the_overview_in_one_statement_equals_the_rows_read_one_by_one(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel, postgres_url: str, schema_name: str
) -> None:
    await feed(pg_pool, *history_of_two_subscriptions())
    expected = await overview_row_by_row(pg_pool, MERCHANT, "cus_1")
    assert expected is not None
    assert len(expected.subscriptions) == 2
    assert len(expected.invoices) == 12
    assert len(expected.payment_methods) == 2
    assert expected.test_clock is not None
    assert await reads.overview(MERCHANT, "cus_1") == expected
    # Times are written in the session's time zone in JSON; read back, they are the same
    # instants, in UTC.
    far_away = await asyncpg.create_pool(
        postgres_url,
        min_size=1,
        max_size=1,
        server_settings={"search_path": schema_name, "TimeZone": "Asia/Kathmandu"},
    )
    try:
        elsewhere = await PostgresReadModel(far_away).overview(MERCHANT, "cus_1")
    finally:
        await far_away.close()
    assert elsewhere == expected
    assert elsewhere is not None
    assert elsewhere.invoices[0].issued_at.tzinfo is UTC


async def test_the_overview_is_read_afresh_every_time(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events(), *invoice_events())
    first = await reads.overview(MERCHANT, "cus_1")
    assert first is not None
    assert first.revision is not None
    # Unchanged data: the same overview, not parsed again.
    assert await reads.overview(MERCHANT, "cus_1") is first
    await feed(
        pg_pool,
        event(
            SubscriptionCanceled(
                subscription_id="sub_1",
                customer_id="cus_1",
                canceled_at=T0 + timedelta(days=2),
                reason="too_expensive",
            ),
            "subscription-sub_1",
            3,
            at=T0 + timedelta(days=2),
        ),
    )
    after = await reads.overview(MERCHANT, "cus_1")
    assert after is not None
    assert after.revision != first.revision
    assert [s.status for s in after.subscriptions] == ["canceled"]
    await pg_pool.execute(
        "UPDATE merchants SET name = 'Acme GmbH' WHERE merchant_id = $1", MERCHANT
    )
    renamed = await reads.overview(MERCHANT, "cus_1")
    assert renamed is not None
    assert renamed.merchant.name == "Acme GmbH"
    assert renamed == await overview_row_by_row(pg_pool, MERCHANT, "cus_1")


# --- the merchant API's subscription commands ---------------------------------------------------


async def test_a_subscription_exists_only_for_its_merchant(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events())
    assert await reads.subscription_exists(MERCHANT, "sub_1")
    assert not await reads.subscription_exists("mer_other", "sub_1")
    assert not await reads.subscription_exists(MERCHANT, "sub_2")


async def test_a_commands_outcome_is_read_with_the_subscription_it_changed(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events())
    command_id = uuid.uuid4()
    assert await reads.command_outcome_and_subscription(command_id, MERCHANT, "sub_1") is None
    canceled = new_envelope(
        SubscriptionCanceled(
            subscription_id="sub_1", customer_id="cus_1", canceled_at=T1, reason="unused"
        ),
        stream_id="subscription-sub_1",
        stream_version=3,
        merchant_id=MERCHANT,
        correlation_id=uuid.uuid4(),
        causation_id=command_id,
    )
    await feed(pg_pool, canceled)
    found = await reads.command_outcome_and_subscription(command_id, MERCHANT, "sub_1")
    assert found is not None
    outcome, detail = found
    assert outcome == await reads.command_outcome(command_id)
    assert (outcome.command_id, outcome.accepted) == (command_id, True)
    assert outcome.event_types == ("SubscriptionCanceled",)
    assert detail == await reads.subscription_detail(MERCHANT, "sub_1")
    assert detail is not None
    assert (detail.view.status, detail.view.version) == ("canceled", 3)
    # Another merchant's subscription is not read along, however the command was answered.
    elsewhere = await reads.command_outcome_and_subscription(command_id, "mer_other", "sub_1")
    assert elsewhere is not None
    assert elsewhere[1] is None


# --- one statement for history, outcome and notification ------------------------------------


class CountingConnection:
    """A connection counting the statements sent through it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.statements = 0

    async def execute(self, *args: Any) -> Any:
        self.statements += 1
        return await self._conn.execute(*args)

    async def fetchval(self, *args: Any) -> Any:
        self.statements += 1
        return await self._conn.fetchval(*args)

    async def fetchrow(self, *args: Any) -> Any:
        self.statements += 1
        return await self._conn.fetchrow(*args)

    async def fetch(self, *args: Any) -> Any:
        self.statements += 1
        return await self._conn.fetch(*args)


async def statements_to_project(pool: asyncpg.Pool, envelope: Envelope) -> int:
    async with pool.acquire() as conn, conn.transaction():
        counting = CountingConnection(conn)
        await project(envelope, cast(asyncpg.Connection, counting))
    return counting.statements


def caused_by(command_id: uuid.UUID, data: EventData, stream: str, version: int) -> Envelope:
    return new_envelope(
        data,
        stream_id=stream,
        stream_version=version,
        merchant_id=MERCHANT,
        correlation_id=uuid.uuid4(),
        causation_id=command_id,
    )


def rejection(command_id: uuid.UUID, code: str, stream: str = "subscription-sub_1") -> Envelope:
    return caused_by(
        command_id,
        CommandRejected(
            command_id=str(command_id),
            command_type="CancelSubscription",
            code=code,
            message=f"refused: {code}",
        ),
        stream,
        0,
    )


async def test_an_event_takes_one_statement_besides_the_read_its_record_needs(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events())
    created, activated = subscription_events()
    # History, notification (no command caused it) and the new row.
    assert await statements_to_project(pg_pool, created) == 1
    command_id = uuid.uuid4()
    # The row read for update; then history, outcome, notification and the row's upsert.
    answered = caused_by(command_id, activated.data, activated.stream_id, 2)
    assert await statements_to_project(pg_pool, answered) == 2
    # A rejection is not history and changes no record: outcome and notification alone.
    assert await statements_to_project(pg_pool, rejection(uuid.uuid4(), "nope")) == 1
    assert [h.event_type for h in await reads.history("subscription-sub_1")] == [
        "SubscriptionCreated",
        "SubscriptionActivated",
    ]
    outcome = await reads.command_outcome(command_id)
    assert outcome is not None
    assert (outcome.accepted, outcome.event_types) == (True, ("SubscriptionActivated",))
    detail = await reads.subscription_detail(MERCHANT, "sub_1")
    assert detail is not None
    assert (detail.view.status, detail.view.version) == ("active", 2)


async def test_a_commands_outcome_accumulates_its_events_and_stays_accepted(
    pg_pool: asyncpg.Pool, reads: PostgresReadModel
) -> None:
    await feed(pg_pool, *customer_events(), *subscription_events())
    rejected_first, accepted_later = uuid.uuid4(), uuid.uuid4()
    await feed(pg_pool, rejection(rejected_first, "busy"))
    outcome = await reads.command_outcome(rejected_first)
    assert outcome is not None
    assert (outcome.accepted, outcome.code, outcome.message) == (False, "busy", "refused: busy")
    scheduled = caused_by(
        rejected_first,
        CancellationScheduled(subscription_id="sub_1", cancel_at=T1),
        "subscription-sub_1",
        3,
    )
    canceled = caused_by(
        accepted_later,
        SubscriptionCanceled(subscription_id="sub_1", customer_id="cus_1", canceled_at=T1),
        "subscription-sub_1",
        4,
    )
    # Redelivered events and a stray rejection after the command was decided.
    await feed(pg_pool, scheduled, scheduled, canceled, rejection(accepted_later, "late"), canceled)
    first = await reads.command_outcome(rejected_first)
    assert first is not None
    assert (first.accepted, first.code, first.message) == (True, None, None)
    assert first.event_types == ("CommandRejected", "CancellationScheduled")
    later = await reads.command_outcome(accepted_later)
    assert later is not None
    assert (later.accepted, later.code, later.message) == (True, None, None)
    assert later.event_types == ("SubscriptionCanceled", "CommandRejected")
    assert [h.version for h in await reads.history("subscription-sub_1")] == [1, 2, 3, 4]


async def test_the_notification_is_delivered_at_commit_only(pg_pool: asyncpg.Pool) -> None:
    await migrate(pg_pool, MIGRATIONS)
    received: asyncio.Queue[list[str]] = asyncio.Queue()
    schema = await pg_pool.fetchval("SELECT current_schema()")
    command_id = uuid.uuid4()
    created = caused_by(command_id, subscription_events()[0].data, "subscription-sub_1", 1)

    def on_notification(*args: Any) -> None:
        received.put_nowait(orjson.loads(args[-1]))

    async with pg_pool.acquire() as listener:
        await listener.add_listener(channel_for(schema), on_notification)
        try:
            async with pg_pool.acquire() as conn:
                rolled_back = conn.transaction()
                await rolled_back.start()
                await project(created, conn)
                await rolled_back.rollback()
                async with conn.transaction():
                    await project(created, conn)
                    await asyncio.sleep(0.2)
                    assert received.empty()  # not before the commit
            keys = await asyncio.wait_for(received.get(), 5)
        finally:
            await listener.remove_listener(channel_for(schema), on_notification)
    assert keys == wake_keys(created)
    assert f"command:{command_id}" in keys
    assert received.empty()  # nothing from the rolled back transaction
