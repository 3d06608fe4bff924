"""The handler, the mail log and SMTP delivery on the real PostgreSQL and a real SMTP server.

Events are handed to the handler the way the idempotent consumer does it (one transaction
that first claims the event in the inbox); the Kafka path is covered by test_service_over_kafka.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from billing_events.consumer import claim
from billing_events.envelope import Envelope
from billing_events.postgres import create_pool
from devstack.network import free_port
from notifications.adapters.jinja_renderer import JinjaMailRenderer
from notifications.adapters.kafka import CONSUMER_NAME
from notifications.adapters.postgres import (
    PostgresMailOutbox,
    PostgresRepositories,
    PostgresUnitOfWork,
    QueuedMailSignal,
)
from notifications.adapters.smtp import SmtpMailSender, SmtpSettings
from notifications.application.delivery import MailDelivery
from notifications.application.handler import NotificationHandler
from notifications.application.mailer import Mailer
from notifications.application.ports import QueuedMail
from notifications.application.recheck import WaitingMailRecheck

pytestmark = pytest.mark.integration

RENDERER = JinjaMailRenderer()


async def consume(pool: asyncpg.Pool, envelope: Envelope) -> bool:
    """As the idempotent consumer does: False when the inbox already has the event."""
    handler = NotificationHandler(RENDERER, PostgresRepositories.on)
    async with pool.acquire() as conn, conn.transaction():
        if not await claim(conn, CONSUMER_NAME, envelope.event_id):
            return False
        await handler(envelope, conn)
    return True


async def consume_all(pool: asyncpg.Pool, *envelopes: Envelope) -> None:
    for envelope in envelopes:
        assert await consume(pool, envelope)


async def mail_rows(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT kind, status, missing, attempts, last_error, next_attempt_at, to_email, subject "
        "FROM mail_log ORDER BY created_at"
    )
    return [dict(row) for row in rows]


def smtp(sink: Any) -> SmtpSettings:
    return SmtpSettings(host=sink.host, port=sink.port, sender="Billing <billing@example.com>")


def delivery(pool: asyncpg.Pool, settings: SmtpSettings) -> MailDelivery:
    async def no_wait(_: float) -> None:
        return None

    return MailDelivery(
        PostgresMailOutbox(pool), SmtpMailSender(settings), no_wait, retry_backoff=60.0
    )


async def test_receipt_is_queued_once_and_sent_once(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    paid = events.invoice_paid()
    await consume_all(
        db,
        events.merchant_registered(),
        events.customer_registered(locale="es"),
        events.invoice_issued(),
        paid,
    )
    assert [(r["kind"], r["status"]) for r in await mail_rows(db)] == [("receipt", "queued")]

    mail_delivery = delivery(db, smtp(smtp_sink))
    assert await mail_delivery.deliver_due() == 1
    assert [r["status"] for r in await mail_rows(db)] == ["sent"]

    # The relay republished the payment after the receipt went out: the inbox skips it.
    assert await consume(db, paid) is False
    # Even a handler that bypasses the inbox (another consumer name, an operator replay)
    # cannot queue the same mail again: the log is keyed by (event id, mail kind).
    async with db.acquire() as conn, conn.transaction():
        await NotificationHandler(RENDERER, PostgresRepositories.on)(paid, conn)
    assert [r["status"] for r in await mail_rows(db)] == ["sent"]
    assert await mail_delivery.deliver_due() == 0

    received = smtp_sink.to(events.email())
    assert len(received) == 1
    assert received[0]["Subject"].startswith("Tu recibo de TechSolutions Inc. n.º TS-1-")
    text = received[0].get_body(("plain",)).get_content()
    assert "Importe pagado: 29,99\xa0€" in text


async def test_receipt_waits_until_its_customer_and_merchant_are_projected(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    # Other topics, other partitions: the invoice's events can come first.
    await consume_all(db, events.invoice_issued(), events.invoice_paid())
    [row] = await mail_rows(db)
    assert row["status"] == "waiting"
    assert sorted(row["missing"]) == sorted(
        [f"merchant {events.merchant_id}", f"customer {events.id('cus', 'ana')}"]
    )

    await consume_all(db, events.customer_registered(locale="pt"))
    [row] = await mail_rows(db)
    assert (row["status"], row["missing"]) == ("waiting", [f"merchant {events.merchant_id}"])

    await consume_all(db, events.merchant_registered())
    [row] = await mail_rows(db)
    assert row["status"] == "queued"

    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 1
    [mail] = smtp_sink.to(events.email())
    assert mail["Subject"].startswith("Seu recibo de TechSolutions Inc. nº TS-1-")


async def test_scheduled_cancellation_waits_for_its_subscription_then_its_customer(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await consume_all(db, events.merchant_registered(), events.cancellation_scheduled())
    [row] = await mail_rows(db)
    assert (row["status"], row["missing"]) == ("waiting", [f"subscription {events.id('sub')}"])

    await consume_all(db, events.subscription_created())
    [row] = await mail_rows(db)
    assert (row["status"], row["missing"]) == ("waiting", [f"customer {events.id('cus', 'ana')}"])

    await consume_all(db, events.customer_registered(locale="fr"))
    [row] = await mail_rows(db)
    assert row["status"] == "queued"
    assert row["subject"] == "Votre abonnement Premium Monthly prendra fin le 5 février 2025"

    await delivery(db, smtp(smtp_sink)).deliver_due()
    assert len(smtp_sink.to(events.email())) == 1


async def test_a_replayed_old_event_does_not_roll_the_projection_back(
    db: asyncpg.Pool, events: Any
) -> None:
    from billing_events.contract.events import CustomerProfileUpdated

    registered = events.customer_registered(locale="es")
    updated = events.envelope(
        CustomerProfileUpdated(customer_id=events.id("cus", "ana"), locale="fr"),
        registered.stream_id,
    )
    await consume_all(db, registered, updated)
    # An operator replays the stream from the start under another consumer name.
    async with db.acquire() as conn, conn.transaction():
        await NotificationHandler(RENDERER, PostgresRepositories.on)(registered, conn)
    locale = await db.fetchval(
        "SELECT locale FROM customers WHERE customer_id = $1", events.id("cus", "ana")
    )
    assert locale == "fr"


class ProcessKilled(BaseException):
    """Stands for the process dying: nothing in the delivery loop may catch it."""


async def test_a_crash_after_the_server_accepted_sends_again_with_the_same_message_id(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await consume_all(
        db,
        events.merchant_registered(),
        events.customer_registered(),
        events.invoice_issued(),
        events.invoice_paid(),
    )
    real = SmtpMailSender(smtp(smtp_sink))

    class SendsThenDies:
        async def send(self, mail: QueuedMail) -> None:
            await real.send(mail)
            raise ProcessKilled

    async def no_wait(_: float) -> None:
        return None

    dying = MailDelivery(PostgresMailOutbox(db), SendsThenDies(), no_wait)
    with pytest.raises(ProcessKilled):
        await dying.deliver_batch()
    # The mark-as-sent never happened: the mail is still queued (the at-least-once window),
    # leased to the dead deliverer, so nobody sends it again before the lease ends...
    [row] = await mail_rows(db)
    assert (row["status"], row["attempts"]) == ("queued", 0)
    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 0
    # ...and once it has ended, it is sent again.
    await db.execute("UPDATE mail_log SET next_attempt_at = now() - interval '1 second'")
    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 1
    first, second = smtp_sink.to(events.email())
    assert first["Message-ID"] == second["Message-ID"]  # receivers can deduplicate
    assert [r["status"] for r in await mail_rows(db)] == ["sent"]


async def test_mail_server_down_is_retried_later_and_nothing_is_lost(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await consume_all(
        db,
        events.merchant_registered(),
        events.customer_registered(),
        events.invoice_issued(),
        events.invoice_paid(),
    )
    nothing_listens = SmtpSettings(host="127.0.0.1", port=free_port(), timeout=5.0)
    before = time.time()
    assert await delivery(db, nothing_listens).deliver_due() == 1
    [row] = await mail_rows(db)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert row["last_error"]
    assert row["next_attempt_at"].timestamp() >= before + 59  # retry_backoff=60
    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 0  # not due yet

    await db.execute("UPDATE mail_log SET next_attempt_at = now()")  # time passes
    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 1
    assert len(smtp_sink.to(events.email())) == 1
    [row] = await mail_rows(db)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)


async def test_an_address_the_server_refuses_for_good_is_recorded_as_failed(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await consume_all(
        db,
        events.merchant_registered(),
        events.customer_registered(customer="nobody"),
        events.invoice_issued(customer="nobody"),
        events.invoice_paid(customer="nobody"),
    )
    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 1
    [row] = await mail_rows(db)
    assert row["status"] == "failed"
    assert "550" in row["last_error"]
    assert smtp_sink.handler.messages == []


async def test_queued_mail_wakes_the_delivery_loop_at_commit(db: asyncpg.Pool, events: Any) -> None:
    signal = QueuedMailSignal(db)
    await signal.start()
    try:
        await asyncio.wait_for(signal(0.0), 1.0)  # the wake-up left by start()
        await consume_all(
            db, events.merchant_registered(), events.customer_registered(), events.invoice_issued()
        )
        started = time.monotonic()
        waiting = asyncio.create_task(signal(30.0))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing queued yet: projection updates do not wake it
        await consume_all(db, events.invoice_paid())
        await asyncio.wait_for(waiting, 10.0)
        assert time.monotonic() - started < 10.0
    finally:
        await signal.stop()


async def test_the_periodic_recheck_releases_mail_parked_by_a_concurrent_race(
    db: asyncpg.Pool, events: Any
) -> None:
    await consume_all(db, events.merchant_registered(), events.invoice_issued())
    handler = NotificationHandler(RENDERER, PostgresRepositories.on)
    # Two replicas at the same instant: one parks the receipt (the customer is not committed
    # yet), the other projects the customer (the parked receipt is not committed yet).
    async with db.acquire() as payment_conn, db.acquire() as customer_conn:
        payment = payment_conn.transaction()
        await payment.start()
        await handler(events.invoice_paid(), payment_conn)
        async with customer_conn.transaction():
            await handler(events.customer_registered(), customer_conn)
        await payment.commit()
    [row] = await mail_rows(db)
    assert row["status"] == "waiting"  # the event that would release it has come and gone

    recheck = WaitingMailRecheck(PostgresUnitOfWork(db), Mailer(RENDERER))
    assert await recheck.recheck_once() == 1
    [row] = await mail_rows(db)
    assert row["status"] == "queued"
    assert await recheck.recheck_once() == 0


async def test_the_recheck_leaves_mail_whose_facts_are_still_missing(
    db: asyncpg.Pool, events: Any
) -> None:
    await consume_all(db, events.invoice_issued(), events.invoice_paid())
    recheck = WaitingMailRecheck(PostgresUnitOfWork(db), Mailer(RENDERER))
    assert await recheck.recheck_once() == 0
    [row] = await mail_rows(db)
    assert row["status"] == "waiting"
    assert len(row["missing"]) == 2


async def test_no_transaction_is_open_while_a_mail_is_sent(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    """An open transaction would hold back every relay and projection on the server."""
    await consume_all(
        db,
        events.merchant_registered(),
        events.customer_registered(),
        events.invoice_issued(),
        events.invoice_paid(),
    )
    real = SmtpMailSender(smtp(smtp_sink))
    open_during_send: list[int] = []

    class Watching:
        async def send(self, mail: QueuedMail) -> None:
            open_during_send.append(
                await db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "current_setting('application_name') AND backend_xid IS NOT NULL "
                    "AND pid <> pg_backend_pid()"
                )
            )
            await real.send(mail)

    async def no_wait(_: float) -> None:
        return None

    assert await MailDelivery(PostgresMailOutbox(db), Watching(), no_wait).deliver_due() == 1
    assert open_during_send == [0]
    assert [r["status"] for r in await mail_rows(db)] == ["sent"]


async def queue_receipts(pool: asyncpg.Pool, events: Any, count: int) -> None:
    """``count`` receipts of one customer, queued for delivery, the first queued first."""
    await consume_all(pool, events.merchant_registered(), events.customer_registered())
    for number in range(1, count + 1):
        invoice = str(number)
        await consume_all(
            pool, events.invoice_issued(invoice=invoice), events.invoice_paid(invoice=invoice)
        )


class CountingPool:
    """The pool, counting the statements sent through it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.statements = 0

    async def fetch(self, *args: Any) -> Any:
        self.statements += 1
        return await self._pool.fetch(*args)

    async def execute(self, *args: Any) -> Any:
        self.statements += 1
        return await self._pool.execute(*args)

    async def executemany(self, *args: Any) -> Any:
        self.statements += 1  # one round trip, whatever the number of rows
        return await self._pool.executemany(*args)


async def no_wait(_: float) -> None:
    return None


async def test_due_mails_are_leased_in_one_batch_and_marked_sent_together(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await queue_receipts(db, events, 3)
    counting = CountingPool(db)
    mail_delivery = MailDelivery(
        PostgresMailOutbox(counting),
        SmtpMailSender(smtp(smtp_sink)),
        no_wait,
        batch_size=10,
    )
    assert await mail_delivery.deliver_due() == 3
    assert counting.statements == 2  # one lease, one "sent" for the three
    assert [(r["status"], r["attempts"]) for r in await mail_rows(db)] == [("sent", 1)] * 3
    assert len(smtp_sink.to(events.email())) == 3


async def test_a_failure_in_a_batch_is_recorded_for_its_mail_alone(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await queue_receipts(db, events, 3)
    real = SmtpMailSender(smtp(smtp_sink))
    failing_subject = (await mail_rows(db))[1]["subject"]

    class FailsOne:
        async def send(self, mail: QueuedMail) -> None:
            if mail.mail.subject == failing_subject:
                raise ConnectionResetError("connection reset by the mail server")
            await real.send(mail)

    before = time.time()
    assert await MailDelivery(PostgresMailOutbox(db), FailsOne(), no_wait).deliver_due() == 3
    first, failed, third = await mail_rows(db)
    assert [(r["status"], r["attempts"]) for r in (first, third)] == [("sent", 1)] * 2
    assert (failed["status"], failed["attempts"]) == ("queued", 1)
    assert "connection reset" in failed["last_error"]
    assert failed["next_attempt_at"].timestamp() >= before + 4  # retry_backoff=5
    assert len(smtp_sink.to(events.email())) == 2


async def test_two_deliverers_never_lease_the_same_mail(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await queue_receipts(db, events, 6)
    one, other = PostgresMailOutbox(db), PostgresMailOutbox(db)
    first, second = await asyncio.gather(one.claim_due(4), other.claim_due(4))
    first_keys = {mail.key for mail in first.mails}
    second_keys = {mail.key for mail in second.mails}
    assert not first_keys & second_keys
    assert len(first_keys | second_keys) == 6
    await first.release([mail.key for mail in first.mails])
    await second.release([mail.key for mail in second.mails])

    # Whole delivery loops racing each other: every mail goes out exactly once.
    racing = [
        MailDelivery(PostgresMailOutbox(db), SmtpMailSender(smtp(smtp_sink)), no_wait, batch_size=2)
        for _ in range(2)
    ]
    handled = await asyncio.gather(*(mail_delivery.deliver_due() for mail_delivery in racing))
    assert sum(handled) == 6
    received = smtp_sink.to(events.email())
    assert len({str(message["Message-ID"]) for message in received}) == len(received) == 6
    assert [r["status"] for r in await mail_rows(db)] == ["sent"] * 6


async def test_stop_in_the_middle_of_a_batch_leaves_the_rest_due_at_once(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await queue_receipts(db, events, 3)
    real = SmtpMailSender(smtp(smtp_sink))

    class StopsAfterOne:
        async def send(self, mail: QueuedMail) -> None:
            await real.send(mail)
            await stopping.stop()

    stopping = MailDelivery(PostgresMailOutbox(db), StopsAfterOne(), no_wait)
    assert await stopping.deliver_due() == 1
    rows = await mail_rows(db)
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] + [("queued", 0)] * 2
    now = await db.fetchval("SELECT now()")
    assert all(r["next_attempt_at"] <= now for r in rows[1:])  # not waiting for the lease

    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 2
    assert [r["status"] for r in await mail_rows(db)] == ["sent"] * 3
    assert len(smtp_sink.to(events.email())) == 3


async def test_a_batch_whose_deliverer_died_is_due_again_when_the_lease_ends(
    db: asyncpg.Pool, events: Any, smtp_sink: Any
) -> None:
    await queue_receipts(db, events, 3)
    # The deliverer leases the batch and dies before recording anything.
    leased = await PostgresMailOutbox(db, lease=timedelta(milliseconds=500)).claim_due(10)
    assert len(leased.mails) == 3
    assert [(r["status"], r["attempts"]) for r in await mail_rows(db)] == [("queued", 0)] * 3
    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 0  # leased: nobody sends it

    await asyncio.sleep(0.6)
    assert await delivery(db, smtp(smtp_sink)).deliver_due() == 3
    assert [r["status"] for r in await mail_rows(db)] == ["sent"] * 3


async def rows_read_by_sequential_scans(pool: asyncpg.Pool) -> int:
    """Rows of the mail log read by sequential scans so far, this connection's included: its
    pending statistics are flushed first (they are otherwise sent at most once a second)."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        count: int = await conn.fetchval(
            "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relid = 'mail_log'::regclass"
        )
        return count


@pytest.mark.parametrize("update", ["sent", "release"])
async def test_a_batch_update_reads_its_own_mails_even_in_a_plan_made_while_the_log_was_small(
    db: asyncpg.Pool, events: Any, postgres_url: str, schema_name: str, update: str
) -> None:
    await queue_receipts(db, events, 3)
    # One connection, so that the second call runs the plan the first one made; with
    # force_generic_plan, the plan the server keeps after five executions is made at the first.
    deliverer = await create_pool(postgres_url, schema_name, min_size=1, max_size=1)
    try:
        await deliverer.execute("SET plan_cache_mode = force_generic_plan")
        batch = await PostgresMailOutbox(deliverer).claim_due(10)
        first, *rest = [mail.key for mail in batch.mails]
        await getattr(batch, update)([first])  # planned now, with three mails in the log
        await db.execute(
            """
            INSERT INTO mail_log (event_id, kind, merchant_id, status, trigger, to_email, subject,
                text_body, html_body, sent_at)
            SELECT gen_random_uuid(), 'receipt', 'other', 'sent', '{}', 'a@example.com', 'S',
                repeat('t', 500), repeat('h', 1500), now()
            FROM generate_series(1, 1000)
            """
        )
        before = await rows_read_by_sequential_scans(deliverer)
        await getattr(batch, update)(rest)
        assert await rows_read_by_sequential_scans(deliverer) == before
    finally:
        await deliverer.close()
    expected = "sent" if update == "sent" else "queued"
    assert [r["status"] for r in await mail_rows(db) if r["to_email"] == events.email()] == [
        expected
    ] * 3


async def test_releasing_a_lease_that_ended_leaves_the_new_holder_alone(
    db: asyncpg.Pool, events: Any
) -> None:
    await queue_receipts(db, events, 1)
    stale = await PostgresMailOutbox(db, lease=timedelta(milliseconds=100)).claim_due(1)
    await asyncio.sleep(0.2)
    current = await PostgresMailOutbox(db).claim_due(1)
    assert [mail.key for mail in current.mails] == [mail.key for mail in stale.mails]
    await stale.release([mail.key for mail in stale.mails])
    [row] = await mail_rows(db)
    assert row["next_attempt_at"] > await db.fetchval("SELECT now() + interval '5 minutes'")


async def test_a_released_waiting_mail_wakes_the_delivery_loop_at_commit(
    db: asyncpg.Pool, events: Any
) -> None:
    await consume_all(db, events.invoice_issued(), events.invoice_paid())
    signal = QueuedMailSignal(db)
    await signal.start()
    try:
        await asyncio.wait_for(signal(0.0), 1.0)  # the wake-up left by start()
        await consume_all(db, events.merchant_registered())  # still waits for its customer
        waiting = asyncio.create_task(signal(30.0))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await consume_all(db, events.customer_registered())
        await asyncio.wait_for(waiting, 10.0)
        assert [r["status"] for r in await mail_rows(db)] == ["queued"]
    finally:
        await signal.stop()
