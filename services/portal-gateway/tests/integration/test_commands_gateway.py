"""The command path on the real PostgreSQL and broker: outbox in, projection (NOTIFY) out."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from billing_events import topics
from billing_events.contract.commands import CancelSubscription, CreatePlan, command_registry
from billing_events.contract.common import CardSummary, PlanSnapshot
from billing_events.contract.events import (
    CommandRejected,
    PlanCreated,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionCreated,
)
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.outbox import OutboxRelay
from billing_events.postgres import migrate
from portal_gateway.adapters.command_gateway import OutboxCommandGateway
from portal_gateway.adapters.postgres.projector import NOTIFY_CHANNEL_PREFIX, project
from portal_gateway.adapters.postgres.read_model import PostgresReadModel
from portal_gateway.adapters.postgres.schema import MIGRATIONS
from portal_gateway.adapters.postgres.signals import ProjectionSignals
from portal_gateway.domain.outcomes import TIMEOUT_CODE

pytestmark = pytest.mark.integration


@pytest.fixture
async def signals(pg_pool: asyncpg.Pool) -> AsyncIterator[ProjectionSignals]:
    await migrate(pg_pool, MIGRATIONS)
    # A long recheck interval: a quick answer can only come from the notification.
    listener = ProjectionSignals(pg_pool, recheck_interval=30.0)
    await listener.start()
    assert listener.listening
    yield listener
    await listener.stop()


@pytest.fixture
def gateway(pg_pool: asyncpg.Pool, signals: ProjectionSignals) -> OutboxCommandGateway:
    return OutboxCommandGateway(pg_pool, signals, PostgresReadModel(pg_pool))


def create_plan(plan_id: str) -> CreatePlan:
    return CreatePlan(plan_id=plan_id, name="Pro", amount=2999, currency="USD", interval="month")


async def queued_commands(pool: asyncpg.Pool) -> list[tuple[str, str, Envelope]]:
    rows = await pool.fetch("SELECT topic, key, value FROM outbox ORDER BY position")
    return [
        (r["topic"], r["key"], command_registry.parse(bytes(r["value"])))
        for r in rows
        if r["topic"] == topics.SUBSCRIPTIONS_COMMANDS.name
    ]


async def wait_for_command(pool: asyncpg.Pool, count: int = 1) -> list[Envelope]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        commands = [e for _, _, e in await queued_commands(pool)]
        if len(commands) >= count:
            return commands
        await asyncio.sleep(0.02)
    pytest.fail("the command never reached the outbox")


async def answer(pool: asyncpg.Pool, command: Envelope, data: EventData, version: int) -> None:
    """What the owner's event does once the projection consumer handles it."""
    event = new_envelope(
        data,
        stream_id=command.stream_id,
        merchant_id=command.merchant_id,
        correlation_id=command.correlation_id,
        causation_id=command.event_id,
        stream_version=version,
    )
    async with pool.acquire() as conn, conn.transaction():
        await project(event, conn)


async def test_a_command_is_queued_for_its_owner_keyed_by_the_target_stream(
    pg_pool: asyncpg.Pool, gateway: OutboxCommandGateway
) -> None:
    correlation = uuid.uuid4()
    outcome = await gateway.send(
        create_plan("plan_a"),
        stream_id="plan-plan_a",
        merchant_id="mer_1",
        correlation_id=correlation,
        timeout=0.2,
    )
    assert outcome.code == "timeout"
    assert not outcome.accepted
    ((topic, key, envelope),) = await queued_commands(pg_pool)
    assert topic == "billing.subscriptions.commands"
    assert key == "plan-plan_a"
    assert envelope.event_type == "CreatePlan"
    assert envelope.event_id == outcome.command_id
    assert (envelope.merchant_id, envelope.correlation_id) == ("mer_1", correlation)
    assert envelope.stream_version == 0


async def test_the_projected_outcome_wakes_the_sender_at_once(
    pg_pool: asyncpg.Pool, gateway: OutboxCommandGateway
) -> None:
    send = asyncio.create_task(
        gateway.send(
            create_plan("plan_b"), stream_id="plan-plan_b", merchant_id="mer_1", timeout=20
        )
    )
    (command,) = await wait_for_command(pg_pool)
    started = time.monotonic()
    data = PlanCreated(plan_id="plan_b", name="Pro", amount=2999, currency="USD", interval="month")
    await answer(pg_pool, command, data, version=1)
    outcome = await asyncio.wait_for(send, 10)
    elapsed = time.monotonic() - started
    assert outcome.accepted
    assert outcome.command_id == command.event_id
    assert outcome.event_types == ("PlanCreated",)
    assert elapsed < 3.0, f"woken after {elapsed:.2f}s: the NOTIFY did not arrive"
    plan = await PostgresReadModel(pg_pool).plan("mer_1", "plan_b")
    assert plan is not None
    assert plan.name == "Pro"


async def test_a_rejection_is_the_outcome_with_its_code(
    pg_pool: asyncpg.Pool, gateway: OutboxCommandGateway
) -> None:
    send = asyncio.create_task(
        gateway.send(
            create_plan("plan_c"), stream_id="plan-plan_c", merchant_id="mer_1", timeout=20
        )
    )
    (command,) = await wait_for_command(pg_pool)
    rejected = CommandRejected(
        command_id=str(command.event_id),
        command_type="CreatePlan",
        code="plan_exists",
        message="A plan with this id exists.",
    )
    await answer(pg_pool, command, rejected, version=0)
    outcome = await asyncio.wait_for(send, 10)
    assert not outcome.accepted
    assert (outcome.code, outcome.message) == ("plan_exists", "A plan with this id exists.")
    history = await PostgresReadModel(pg_pool).history("plan-plan_c")
    assert history == []  # a rejection is not part of the stream


async def test_many_concurrent_senders_each_get_their_own_outcome(
    pg_pool: asyncpg.Pool, gateway: OutboxCommandGateway
) -> None:
    count = 20
    sends = [
        asyncio.create_task(
            gateway.send(
                create_plan(f"plan_{n}"),
                stream_id=f"plan-plan_{n}",
                merchant_id="mer_1",
                timeout=30,
            )
        )
        for n in range(count)
    ]
    commands = await wait_for_command(pg_pool, count)
    started = time.monotonic()
    for command in commands:
        data = command.data
        assert isinstance(data, CreatePlan)
        await answer(
            pg_pool,
            command,
            PlanCreated(
                plan_id=data.plan_id,
                name=data.name,
                amount=data.amount,
                currency=data.currency,
                interval=data.interval,
            ),
            version=1,
        )
    outcomes = await asyncio.wait_for(asyncio.gather(*sends), 15)
    assert time.monotonic() - started < 5
    assert all(o.accepted for o in outcomes)
    assert {o.command_id for o in outcomes} == {c.event_id for c in commands}


async def test_without_notifications_the_periodic_recheck_still_answers(
    pg_pool: asyncpg.Pool,
) -> None:
    await migrate(pg_pool, MIGRATIONS)
    polling = ProjectionSignals(pg_pool, recheck_interval=0.1)  # never started: no LISTEN
    gateway = OutboxCommandGateway(pg_pool, polling, PostgresReadModel(pg_pool))
    send = asyncio.create_task(
        gateway.send(
            create_plan("plan_p"), stream_id="plan-plan_p", merchant_id="mer_1", timeout=20
        )
    )
    (command,) = await wait_for_command(pg_pool)
    await answer(
        pg_pool,
        command,
        PlanCreated(plan_id="plan_p", name="Pro", amount=1, currency="USD", interval="year"),
        version=1,
    )
    outcome = await asyncio.wait_for(send, 10)
    assert outcome.accepted


async def test_the_listener_comes_back_after_losing_its_connection(
    pg_pool: asyncpg.Pool,
) -> None:
    await migrate(pg_pool, MIGRATIONS)
    listener = ProjectionSignals(pg_pool, recheck_interval=30.0, reconnect_delay=0.1)
    await listener.start()
    try:
        first = listener.listener_pid
        assert first is not None
        await pg_pool.execute("SELECT pg_terminate_backend($1)", first)
        for _ in range(200):
            if listener.listener_pid not in (None, first):
                break
            await asyncio.sleep(0.05)
        assert listener.listener_pid not in (None, first), "the listener did not reconnect"
        gateway = OutboxCommandGateway(pg_pool, listener, PostgresReadModel(pg_pool))
        send = asyncio.create_task(
            gateway.send(
                create_plan("plan_r"), stream_id="plan-plan_r", merchant_id="mer_1", timeout=20
            )
        )
        (command,) = await wait_for_command(pg_pool)
        started = time.monotonic()
        await answer(
            pg_pool,
            command,
            PlanCreated(plan_id="plan_r", name="Pro", amount=1, currency="USD", interval="month"),
            version=1,
        )
        outcome = await asyncio.wait_for(send, 10)
        assert outcome.accepted
        assert time.monotonic() - started < 3.0  # woken by the new connection's LISTEN
    finally:
        await listener.stop()


async def test_the_relay_publishes_the_command_to_the_owners_topic(
    pg_pool: asyncpg.Pool, gateway: OutboxCommandGateway, kafka_bootstrap: str
) -> None:
    topic = topics.SUBSCRIPTIONS_COMMANDS.name
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    relay = OutboxRelay(pg_pool, kafka_bootstrap, name=f"test-{uuid.uuid4().hex[:8]}")
    relay_task = asyncio.create_task(relay.run())
    try:
        assigned = [
            TopicPartition(topic, p) for p in range(topics.SUBSCRIPTIONS_COMMANDS.partitions)
        ]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        plan_id = f"plan_{uuid.uuid4().hex}"
        outcome = await gateway.send(
            create_plan(plan_id), stream_id=f"plan-{plan_id}", merchant_id="mer_k", timeout=0.1
        )
        deadline = time.monotonic() + 30
        found = None
        while found is None and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key == f"plan-{plan_id}".encode():
                        found = record
        assert found is not None, "the command never reached the broker"
        envelope = command_registry.parse(found.value)
        assert envelope.event_id == outcome.command_id
        assert envelope.event_type == "CreatePlan"
        headers = dict(found.headers)
        assert headers["event_type"] == b"CreatePlan"
        assert orjson.loads(found.value)["data"]["plan_id"] == plan_id
    finally:
        relay.stop()
        await asyncio.wait_for(relay_task, 20)
        await consumer.stop()


async def test_waiters_poll_often_only_while_nothing_listens(pg_pool: asyncpg.Pool) -> None:
    """A backlog of waiters re-reading every half second would starve the projection of
    connections: while notifications work, a waiter re-checks only at the long interval."""
    await migrate(pg_pool, MIGRATIONS)
    listener = ProjectionSignals(
        pg_pool, recheck_interval=0.05, listening_recheck_interval=30.0, reconnect_delay=5.0
    )
    await listener.start()
    checks: list[float] = []

    async def never_there() -> None:
        checks.append(time.monotonic())

    try:
        assert listener.listening
        waiting = asyncio.create_task(listener.wait_for(["nothing:comes"], never_there, 20))
        await asyncio.sleep(0.6)
        assert len(checks) == 1  # the first look, then only notifications would wake it

        listening_pid = listener.listener_pid
        await pg_pool.execute("SELECT pg_terminate_backend($1)", listening_pid)
        await asyncio.sleep(0.6)  # reconnect_delay keeps it deaf meanwhile: it polls
        assert len(checks) >= 5
        waiting.cancel()
    finally:
        await listener.stop()


async def test_what_a_block_caused_is_first_read_after_its_notification(
    signals: ProjectionSignals, pg_pool: asyncpg.Pool
) -> None:
    """Watched since before it was caused (a command just sent), an outcome cannot be there
    before its notification: the wait does not spend a read that could only come up empty."""
    checks: list[str] = []
    projected: list[str] = []

    async def outcome() -> str | None:
        checks.append("read")
        return projected[0] if projected else None

    with signals.watch(["command:c1"]) as woken:
        waiting = asyncio.create_task(signals.wait_for((), outcome, 20, watching=woken))
        await asyncio.sleep(0.3)
        assert checks == []
        projected.append("accepted")
        schema = await pg_pool.fetchval("SELECT current_schema()")
        await pg_pool.execute(
            "SELECT pg_notify($1, $2)", f"{NOTIFY_CHANNEL_PREFIX}{schema}", '["command:c1"]'
        )
        assert await asyncio.wait_for(waiting, 10) == "accepted"

    assert checks == ["read"]


# --- commands answered with their subscription ---------------------------------------------------

T0 = datetime(2025, 4, 1, 10, tzinfo=UTC)


async def an_active_subscription(pool: asyncpg.Pool, merchant_id: str, sub: str) -> None:
    stream = f"subscription-{sub}"
    card = CardSummary(
        payment_method_id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030
    )
    plan = PlanSnapshot(plan_id="plan_1", name="Pro", amount=2999, currency="USD", interval="month")
    for version, data in enumerate(
        [
            SubscriptionCreated(
                subscription_id=sub, customer_id="cus_1", plan=plan, payment_method=card
            ),
            SubscriptionActivated(
                subscription_id=sub,
                invoice_id="in_1",
                current_period_start=T0,
                current_period_end=T0 + timedelta(days=30),
            ),
        ],
        start=1,
    ):
        envelope = new_envelope(
            data,
            stream_id=stream,
            stream_version=version,
            merchant_id=merchant_id,
            correlation_id=uuid.uuid4(),
        )
        async with pool.acquire() as conn, conn.transaction():
            await project(envelope, conn)


def cancel_now(sub: str) -> CancelSubscription:
    return CancelSubscription(subscription_id=sub, at_period_end=False, reason=None, comment=None)


async def test_a_subscription_command_is_answered_with_the_subscription_it_left(
    pg_pool: asyncpg.Pool, gateway: OutboxCommandGateway
) -> None:
    await an_active_subscription(pg_pool, "mer_1", "sub_a")
    send = asyncio.create_task(
        gateway.send_to_subscription(
            cancel_now("sub_a"), subscription_id="sub_a", merchant_id="mer_1", timeout=20
        )
    )
    (command,) = await wait_for_command(pg_pool)
    assert (command.stream_id, command.merchant_id) == ("subscription-sub_a", "mer_1")
    canceled = SubscriptionCanceled(subscription_id="sub_a", customer_id="cus_1", canceled_at=T0)
    await answer(pg_pool, command, canceled, version=3)
    sent = await asyncio.wait_for(send, 10)
    assert sent is not None
    outcome, detail = sent
    assert outcome.accepted
    assert outcome.command_id == command.event_id
    assert detail is not None
    assert (detail.view.subscription_id, detail.view.status) == ("sub_a", "canceled")


async def test_a_subscription_command_not_answered_in_time_shows_the_subscription_meanwhile(
    pg_pool: asyncpg.Pool, gateway: OutboxCommandGateway
) -> None:
    await an_active_subscription(pg_pool, "mer_1", "sub_b")
    sent = await gateway.send_to_subscription(
        cancel_now("sub_b"), subscription_id="sub_b", merchant_id="mer_1", timeout=0.2
    )
    assert sent is not None
    outcome, detail = sent
    assert (outcome.accepted, outcome.code) == (False, TIMEOUT_CODE)
    assert detail is not None
    assert detail.view.status == "active"
    ((_, key, envelope),) = await queued_commands(pg_pool)
    assert key == "subscription-sub_b"
    assert envelope.event_id == outcome.command_id


async def test_a_command_to_an_unknown_or_another_merchants_subscription_is_not_queued(
    pg_pool: asyncpg.Pool, gateway: OutboxCommandGateway
) -> None:
    await an_active_subscription(pg_pool, "mer_1", "sub_c")
    outbox_rows = await pg_pool.fetchval("SELECT count(*) FROM outbox")
    started = time.monotonic()
    for merchant_id, subscription_id in [("mer_1", "sub_missing"), ("mer_2", "sub_c")]:
        sent = await gateway.send_to_subscription(
            cancel_now(subscription_id),
            subscription_id=subscription_id,
            merchant_id=merchant_id,
            timeout=20,
        )
        assert sent is None
    assert time.monotonic() - started < 5  # answered at once, without waiting for an outcome
    assert await pg_pool.fetchval("SELECT count(*) FROM outbox") == outbox_rows
