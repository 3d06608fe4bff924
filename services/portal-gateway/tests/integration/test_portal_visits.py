"""A portal visit's two reads on the real PostgreSQL: the session behind the cookie and its
customer's overview, read one after the other (any ``PortalQueries``) or in one statement
(the gateway's own read model). Both must answer alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest

from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CustomerRegistered,
    PaymentMethodAttached,
    SubscriptionCreated,
)
from billing_events.envelope import EventData, new_envelope
from billing_events.postgres import migrate
from portal_gateway.adapters.postgres.portal_visits import SessionWithOverview
from portal_gateway.adapters.postgres.projector import project
from portal_gateway.adapters.postgres.read_model import PostgresReadModel
from portal_gateway.adapters.postgres.schema import MIGRATIONS
from portal_gateway.portal import PORTAL_MIGRATIONS, create_portal_session
from portal_gateway.portal.access import IDLE_TTL, TOUCH_INTERVAL
from portal_gateway.portal.sessions import (
    BrowserSession,
    EndedSession,
    OpenedLink,
    end_session,
    open_link,
    resume_session,
)
from portal_gateway.portal.visits import ResumedVisit, SessionThenOverview, VisitReads

pytestmark = pytest.mark.integration

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
MERCHANT = "mer_visits"
VISA = CardSummary(
    payment_method_id="pm_visa", brand="visa", last4="4242", exp_month=12, exp_year=2030
)
PLAN = PlanSnapshot(
    plan_id="plan_pro", name="Pro", description="All", amount=2999, currency="EUR", interval="month"
)


class CountingPool:
    """The pool's statements, counted."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.statements = 0

    async def fetchrow(self, *args: Any) -> Any:
        self.statements += 1
        return await self._pool.fetchrow(*args)

    async def fetchval(self, *args: Any) -> Any:
        self.statements += 1
        return await self._pool.fetchval(*args)


Readers = Callable[[Any], VisitReads]  # from a pool (or a counting stand-in for one)


def joined(pool: Any) -> VisitReads:
    return SessionWithOverview(pool, PostgresReadModel(pool))


def two_steps(pool: Any) -> VisitReads:
    return SessionThenOverview(pool, PostgresReadModel(pool))


BOTH = pytest.mark.parametrize("readers", [joined, two_steps], ids=["one-statement", "two"])


async def _feed(pool: asyncpg.Pool, stream: str, *events: EventData) -> None:
    for version, data in enumerate(events, start=1):
        envelope = new_envelope(
            data,
            stream_id=stream,
            stream_version=version,
            merchant_id=MERCHANT,
            correlation_id=uuid.uuid4(),
            occurred_at=NOW,
        )
        async with pool.acquire() as conn, conn.transaction():
            await project(envelope, conn)


async def _customer(pool: asyncpg.Pool, customer: str, *, subscribed: bool) -> None:
    await _feed(
        pool,
        f"customer-{customer}",
        CustomerRegistered(customer_id=customer, email=f"{customer}@example.com", name=customer),
        PaymentMethodAttached(customer_id=customer, card=VISA),
    )
    if subscribed:
        await _feed(
            pool,
            f"subscription-sub_{customer}",
            SubscriptionCreated(
                subscription_id=f"sub_{customer}",
                customer_id=customer,
                plan=PLAN,
                payment_method=VISA,
            ),
        )


@pytest.fixture
async def pool(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate(pg_pool, MIGRATIONS)
    await migrate(pg_pool, PORTAL_MIGRATIONS)
    await pg_pool.execute(
        "INSERT INTO merchants (merchant_id, slug, name) VALUES ($1, 'visits', 'Visits Co')",
        MERCHANT,
    )
    await _customer(pg_pool, "cus_ana", subscribed=True)
    await _customer(pg_pool, "cus_bo", subscribed=False)
    return pg_pool


async def _signed_in(pool: asyncpg.Pool, customer: str, merchant: str = MERCHANT) -> str:
    created = await create_portal_session(pool, merchant_id=merchant, customer_id=customer, now=NOW)
    opened = await open_link(pool, created.url_token, now=NOW)
    assert isinstance(opened, OpenedLink), opened
    return opened.cookie_value


@BOTH
@pytest.mark.parametrize("customer", ["cus_ana", "cus_bo"])
async def test_a_live_session_comes_with_its_own_customers_overview(
    pool: asyncpg.Pool, readers: Readers, customer: str
) -> None:
    cookie = await _signed_in(pool, customer)
    visit = await readers(pool).resume(cookie, now=NOW, idle_ttl=IDLE_TTL)
    assert visit.session == await resume_session(pool, cookie, now=NOW)
    assert isinstance(visit.session, BrowserSession)
    assert visit.session.customer_id == customer
    assert visit.overview is not None
    assert visit.overview == await PostgresReadModel(pool).overview(MERCHANT, customer)
    assert visit.overview.customer.customer_id == customer
    subscribed = [s.subscription_id for s in visit.overview.subscriptions]
    assert subscribed == (["sub_cus_ana"] if customer == "cus_ana" else [])


@BOTH
async def test_the_overview_read_is_the_current_one(pool: asyncpg.Pool, readers: Readers) -> None:
    cookie = await _signed_in(pool, "cus_bo")
    visits = readers(pool)
    before = await visits.resume(cookie, now=NOW, idle_ttl=IDLE_TTL)
    assert before.overview is not None
    assert before.overview.subscriptions == []
    await _feed(
        pool,
        "subscription-sub_new",
        SubscriptionCreated(
            subscription_id="sub_new", customer_id="cus_bo", plan=PLAN, payment_method=VISA
        ),
    )
    after = await visits.resume(cookie, now=NOW, idle_ttl=IDLE_TTL)
    assert after.overview is not None
    assert [s.subscription_id for s in after.overview.subscriptions] == ["sub_new"]


@BOTH
async def test_no_overview_without_a_live_session(pool: asyncpg.Pool, readers: Readers) -> None:
    visits = readers(pool)
    assert await visits.resume(None, now=NOW, idle_ttl=IDLE_TTL) == ResumedVisit(None, None)
    never_issued = "x" * 43
    assert await visits.resume(never_issued, now=NOW, idle_ttl=IDLE_TTL) == (None, None)

    cookie = await _signed_in(pool, "cus_ana")
    live = await visits.resume(cookie, now=NOW, idle_ttl=IDLE_TTL)
    assert isinstance(live.session, BrowserSession)
    await end_session(pool, live.session, now=NOW)
    ended = await visits.resume(cookie, now=NOW, idle_ttl=IDLE_TTL)
    assert isinstance(ended.session, EndedSession)
    assert ended.overview is None

    idle = await _signed_in(pool, "cus_bo")
    later = NOW + IDLE_TTL + timedelta(seconds=1)
    timed_out = await visits.resume(idle, now=later, idle_ttl=IDLE_TTL)
    assert isinstance(timed_out.session, EndedSession)
    assert timed_out.overview is None


@BOTH
async def test_a_customer_the_read_model_does_not_know_has_no_overview(
    pool: asyncpg.Pool, readers: Readers
) -> None:
    for merchant, customer in [(MERCHANT, "cus_unknown"), ("mer_unknown", "cus_ana")]:
        cookie = await _signed_in(pool, customer, merchant)
        visit = await readers(pool).resume(cookie, now=NOW, idle_ttl=IDLE_TTL)
        assert isinstance(visit.session, BrowserSession)
        assert visit.overview is None


@BOTH
async def test_the_idle_deadline_is_still_pushed_back(pool: asyncpg.Pool, readers: Readers) -> None:
    cookie = await _signed_in(pool, "cus_ana")
    later = NOW + TOUCH_INTERVAL + timedelta(seconds=1)
    visit = await readers(pool).resume(cookie, now=later, idle_ttl=IDLE_TTL)
    assert isinstance(visit.session, BrowserSession)
    assert visit.session.expires_at == later + IDLE_TTL
    assert visit.overview is not None


@pytest.mark.parametrize(
    ("readers", "touched", "statements"),
    [(joined, False, 1), (joined, True, 2), (two_steps, False, 2), (two_steps, True, 3)],
    ids=["one-statement", "one-statement-touching", "two", "two-touching"],
)
async def test_what_each_visit_costs_in_statements(
    pool: asyncpg.Pool, readers: Readers, touched: bool, statements: int
) -> None:
    cookie = await _signed_in(pool, "cus_ana")
    counting = CountingPool(pool)
    now = NOW + TOUCH_INTERVAL + timedelta(seconds=1) if touched else NOW
    visit = await readers(cast(asyncpg.Pool, counting)).resume(cookie, now=now, idle_ttl=IDLE_TTL)
    assert visit.overview is not None
    assert counting.statements == statements
