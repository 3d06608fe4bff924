"""The projection and the sent-mail log in the service's PostgreSQL schema (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg

from billing_events.envelope import Envelope, EventRegistry, registry
from notifications.application.ports import MailKey, QueuedMail, WaitingMail
from notifications.domain.mail import MailKind, Needs
from notifications.domain.message import OutgoingMail
from notifications.domain.projection import (
    CustomerProfile,
    InvoiceLineItem,
    InvoiceRecord,
    MerchantProfile,
    SubscriptionRecord,
)

# Notified (at commit) whenever a mail is queued. One channel per schema, because tests and
# several deployments may share one database; hashed, because a channel name is at most 63
# bytes and a schema name alone may be that long.
QUEUED_CHANNEL_SQL: Final = "'mail_queued:' || md5(current_schema())"

# Writes a record only when the event is newer than the stored one; version 0 (an event that
# is not stored in a stream) always writes.
_NEWER = "WHERE EXCLUDED.version = 0 OR {table}.version < EXCLUDED.version"


class PostgresProjection:
    """Implements :class:`notifications.application.ports.Projection` on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def merchant(self, merchant_id: str) -> MerchantProfile | None:
        row = await self._conn.fetchrow(
            "SELECT merchant_id, name, support_email, logo_url, brand_color "
            "FROM merchants WHERE merchant_id = $1",
            merchant_id,
        )
        return MerchantProfile(**dict(row)) if row else None

    async def customer(self, merchant_id: str, customer_id: str) -> CustomerProfile | None:
        row = await self._conn.fetchrow(
            "SELECT customer_id, email, name, locale FROM customers "
            "WHERE merchant_id = $1 AND customer_id = $2",
            merchant_id,
            customer_id,
        )
        return CustomerProfile(**dict(row)) if row else None

    async def invoice(self, merchant_id: str, invoice_id: str) -> InvoiceRecord | None:
        row = await self._conn.fetchrow(
            "SELECT invoice_id, number, customer_id, subscription_id, currency, amount_due, "
            "issued_at, plan_name, period_start, period_end, lines FROM invoices "
            "WHERE merchant_id = $1 AND invoice_id = $2",
            merchant_id,
            invoice_id,
        )
        if row is None:
            return None
        fields = dict(row)
        fields["lines"] = tuple(_line_from_json(line) for line in fields["lines"])
        return InvoiceRecord(**fields)

    async def subscription(
        self, merchant_id: str, subscription_id: str
    ) -> SubscriptionRecord | None:
        row = await self._conn.fetchrow(
            "SELECT subscription_id, customer_id, plan_id, plan_name FROM subscriptions "
            "WHERE merchant_id = $1 AND subscription_id = $2",
            merchant_id,
            subscription_id,
        )
        return SubscriptionRecord(**dict(row)) if row else None

    async def save_merchant(self, merchant: MerchantProfile, version: int) -> bool:
        return await self._written(
            f"""
            INSERT INTO merchants AS m
                (merchant_id, name, support_email, logo_url, brand_color, version)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (merchant_id) DO UPDATE SET
                name = EXCLUDED.name, support_email = EXCLUDED.support_email,
                logo_url = EXCLUDED.logo_url, brand_color = EXCLUDED.brand_color,
                version = EXCLUDED.version, updated_at = now()
            {_NEWER.format(table="m")}
            RETURNING true
            """,
            merchant.merchant_id,
            merchant.name,
            merchant.support_email,
            merchant.logo_url,
            merchant.brand_color,
            version,
        )

    async def save_customer(
        self, merchant_id: str, customer: CustomerProfile, version: int
    ) -> bool:
        return await self._written(
            f"""
            INSERT INTO customers AS c (merchant_id, customer_id, email, name, locale, version)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (merchant_id, customer_id) DO UPDATE SET
                email = EXCLUDED.email, name = EXCLUDED.name, locale = EXCLUDED.locale,
                version = EXCLUDED.version, updated_at = now()
            {_NEWER.format(table="c")}
            RETURNING true
            """,
            merchant_id,
            customer.customer_id,
            customer.email,
            customer.name,
            customer.locale,
            version,
        )

    async def save_invoice(self, merchant_id: str, invoice: InvoiceRecord, version: int) -> bool:
        return await self._written(
            f"""
            INSERT INTO invoices AS i (merchant_id, invoice_id, number, customer_id,
                subscription_id, currency, amount_due, issued_at, plan_name, period_start,
                period_end, lines, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (merchant_id, invoice_id) DO UPDATE SET
                number = EXCLUDED.number, customer_id = EXCLUDED.customer_id,
                subscription_id = EXCLUDED.subscription_id, currency = EXCLUDED.currency,
                amount_due = EXCLUDED.amount_due, issued_at = EXCLUDED.issued_at,
                plan_name = EXCLUDED.plan_name, period_start = EXCLUDED.period_start,
                period_end = EXCLUDED.period_end, lines = EXCLUDED.lines,
                version = EXCLUDED.version, updated_at = now()
            {_NEWER.format(table="i")}
            RETURNING true
            """,
            merchant_id,
            invoice.invoice_id,
            invoice.number,
            invoice.customer_id,
            invoice.subscription_id,
            invoice.currency,
            invoice.amount_due,
            invoice.issued_at,
            invoice.plan_name,
            invoice.period_start,
            invoice.period_end,
            [_line_to_json(line) for line in invoice.lines],
            version,
        )

    async def save_subscription(
        self, merchant_id: str, subscription: SubscriptionRecord, version: int
    ) -> bool:
        return await self._written(
            f"""
            INSERT INTO subscriptions AS s
                (merchant_id, subscription_id, customer_id, plan_id, plan_name, version)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (merchant_id, subscription_id) DO UPDATE SET
                customer_id = EXCLUDED.customer_id, plan_id = EXCLUDED.plan_id,
                plan_name = EXCLUDED.plan_name, version = EXCLUDED.version, updated_at = now()
            {_NEWER.format(table="s")}
            RETURNING true
            """,
            merchant_id,
            subscription.subscription_id,
            subscription.customer_id,
            subscription.plan_id,
            subscription.plan_name,
            version,
        )

    async def _written(self, sql: str, *args: Any) -> bool:
        return await self._conn.fetchval(sql, *args) is True


def _line_to_json(line: InvoiceLineItem) -> dict[str, Any]:
    return {
        "description": line.description,
        "amount": line.amount,
        "quantity": line.quantity,
        "period_start": line.period_start.isoformat() if line.period_start else None,
        "period_end": line.period_end.isoformat() if line.period_end else None,
    }


def _line_from_json(raw: dict[str, Any]) -> InvoiceLineItem:
    start, end = raw.get("period_start"), raw.get("period_end")
    return InvoiceLineItem(
        description=raw["description"],
        amount=raw["amount"],
        quantity=raw.get("quantity", 1),
        period_start=datetime.fromisoformat(start) if start else None,
        period_end=datetime.fromisoformat(end) if end else None,
    )


class PostgresMailLog:
    """Implements :class:`notifications.application.ports.MailLog` on one connection."""

    def __init__(self, conn: asyncpg.Connection, events: EventRegistry = registry) -> None:
        self._conn = conn
        self._events = events

    async def queue(
        self, key: MailKey, merchant_id: str, trigger: Envelope, mail: OutgoingMail
    ) -> bool:
        inserted = await self._conn.fetchval(
            """
            INSERT INTO mail_log (event_id, kind, merchant_id, status, trigger, to_email,
                to_name, sender_name, reply_to, subject, text_body, html_body,
                next_attempt_at, queued_at)
            VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, now(), now())
            ON CONFLICT (event_id, kind) DO NOTHING
            RETURNING true
            """,
            key.event_id,
            key.kind.value,
            merchant_id,
            trigger.model_dump(mode="json"),
            *_mail_columns(mail),
        )
        if inserted:
            await self._notify_queued()
        return inserted is True

    async def wait(
        self, key: MailKey, trigger: Envelope, needs: Needs, missing: tuple[str, ...]
    ) -> bool:
        inserted = await self._conn.fetchval(
            """
            INSERT INTO mail_log (event_id, kind, merchant_id, status, trigger, customer_id,
                invoice_id, subscription_id, missing)
            VALUES ($1, $2, $3, 'waiting', $4, $5, $6, $7, $8)
            ON CONFLICT (event_id, kind) DO NOTHING
            RETURNING true
            """,
            key.event_id,
            key.kind.value,
            needs.merchant_id,
            trigger.model_dump(mode="json"),
            needs.customer_id,
            needs.invoice_id,
            needs.subscription_id,
            list(missing),
        )
        return inserted is True

    async def waiting_on(
        self,
        merchant_id: str,
        *,
        customer_id: str | None = None,
        invoice_id: str | None = None,
        subscription_id: str | None = None,
    ) -> list[WaitingMail]:
        conditions = ["status = 'waiting'", "merchant_id = $1"]
        args: list[Any] = [merchant_id]
        for column, value in (
            ("customer_id", customer_id),
            ("invoice_id", invoice_id),
            ("subscription_id", subscription_id),
        ):
            if value is not None:
                args.append(value)
                conditions.append(f"{column} = ${len(args)}")
        rows = await self._conn.fetch(
            "SELECT event_id, kind, trigger, created_at, missing FROM mail_log "
            f"WHERE {' AND '.join(conditions)} ORDER BY created_at FOR UPDATE",
            *args,
        )
        return [self._waiting(row) for row in rows]

    def _waiting(self, row: asyncpg.Record) -> WaitingMail:
        return WaitingMail(
            key=MailKey(row["event_id"], MailKind(row["kind"])),
            trigger=self._events.envelope_from_dict(row["trigger"]),
            since=row["created_at"],
            missing=tuple(row["missing"]),
        )

    async def oldest_waiting(self, limit: int) -> list[WaitingMail]:
        rows = await self._conn.fetch(
            "SELECT event_id, kind, trigger, created_at, missing FROM mail_log "
            "WHERE status = 'waiting' ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [self._waiting(row) for row in rows]

    async def still_waiting(self, key: MailKey, needs: Needs, missing: tuple[str, ...]) -> None:
        await self._conn.execute(
            """
            UPDATE mail_log SET customer_id = $3, invoice_id = $4, subscription_id = $5,
                missing = $6
            WHERE event_id = $1 AND kind = $2 AND status = 'waiting'
            """,
            key.event_id,
            key.kind.value,
            needs.customer_id,
            needs.invoice_id,
            needs.subscription_id,
            list(missing),
        )

    async def release(self, key: MailKey, mail: OutgoingMail) -> None:
        status = await self._conn.execute(
            """
            UPDATE mail_log SET status = 'queued', missing = '{}', to_email = $3, to_name = $4,
                sender_name = $5, reply_to = $6, subject = $7, text_body = $8, html_body = $9,
                next_attempt_at = now(), queued_at = now()
            WHERE event_id = $1 AND kind = $2 AND status = 'waiting'
            """,
            key.event_id,
            key.kind.value,
            *_mail_columns(mail),
        )
        if status != "UPDATE 0":
            await self._notify_queued()

    async def _notify_queued(self) -> None:
        # Delivered at commit, and not at all on rollback: the listener wakes for real work.
        await self._conn.execute(f"SELECT pg_notify({QUEUED_CHANNEL_SQL}, '')")


def _mail_columns(mail: OutgoingMail) -> tuple[str | None, ...]:
    return (
        mail.to_email,
        mail.to_name,
        mail.sender_name,
        mail.reply_to,
        mail.subject,
        mail.text,
        mail.html,
    )


@dataclass(frozen=True)
class PostgresRepositories:
    """Implements :class:`notifications.application.ports.Repositories`."""

    projection: PostgresProjection
    mail_log: PostgresMailLog

    @classmethod
    def on(cls, conn: asyncpg.Connection) -> PostgresRepositories:
        return cls(PostgresProjection(conn), PostgresMailLog(conn))


class PostgresUnitOfWork:
    """Implements :data:`notifications.application.ports.UnitOfWork`: one transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[PostgresRepositories]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresRepositories.on(conn)


class _Claim:
    def __init__(self, pool: asyncpg.Pool, queued: QueuedMail) -> None:
        self._pool = pool
        self._queued = queued

    @property
    def queued(self) -> QueuedMail:
        return self._queued

    async def sent(self) -> None:
        await self._set("status = 'sent', sent_at = now(), last_error = NULL")

    async def retry_at(self, when: datetime, error: str) -> None:
        await self._set("next_attempt_at = $3, last_error = $4", when, error)

    async def give_up(self, error: str) -> None:
        await self._set("status = 'failed', last_error = $3", error)

    async def _set(self, assignments: str, *args: Any) -> None:
        await self._pool.execute(
            f"UPDATE mail_log SET {assignments}, attempts = attempts + 1 "
            "WHERE event_id = $1 AND kind = $2",
            self._queued.key.event_id,
            self._queued.key.kind.value,
            *args,
        )


class PostgresMailOutbox:
    """Implements :class:`notifications.application.ports.MailOutbox` over the pool.

    A claim is a lease: one short statement moves the mail's next attempt past the lease, so
    other deliverers skip it while it is being sent, and no transaction stays open during the
    send. An open transaction would hold back the global order that every relay and projection
    on this PostgreSQL server reads (see billing_events.store). A deliverer that dies while
    sending leaves the mail due again when the lease ends: at least once, never lost.
    """

    def __init__(self, pool: asyncpg.Pool, lease: timedelta = timedelta(minutes=10)) -> None:
        self._pool = pool
        self._lease = lease

    @contextlib.asynccontextmanager
    async def claim_due(self) -> AsyncIterator[_Claim | None]:
        row = await self._pool.fetchrow(
            """
            UPDATE mail_log SET next_attempt_at = now() + $1::interval
            WHERE (event_id, kind) = (
                SELECT event_id, kind FROM mail_log
                WHERE status = 'queued' AND next_attempt_at <= now()
                ORDER BY next_attempt_at
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            RETURNING event_id, kind, merchant_id, to_email, to_name, sender_name, reply_to,
                subject, text_body, html_body, attempts
            """,
            self._lease,
        )
        yield None if row is None else _Claim(self._pool, _queued_from_row(row))

    async def counts(self) -> dict[str, int]:
        """Mails per status, for readiness and operators."""
        rows = await self._pool.fetch("SELECT status, count(*) AS n FROM mail_log GROUP BY status")
        return {row["status"]: row["n"] for row in rows}


def _queued_from_row(row: asyncpg.Record) -> QueuedMail:
    return QueuedMail(
        key=MailKey(row["event_id"], MailKind(row["kind"])),
        merchant_id=row["merchant_id"],
        mail=OutgoingMail(
            to_email=row["to_email"],
            to_name=row["to_name"] or "",
            sender_name=row["sender_name"] or "",
            reply_to=row["reply_to"],
            subject=row["subject"],
            text=row["text_body"],
            html=row["html_body"],
        ),
        attempts=row["attempts"],
    )


class QueuedMailSignal:
    """Wakes the delivery loop when a transaction queues mail (``LISTEN``), or on timeout.

    The listening connection is taken from the pool and held; if it is lost the wake-up
    reports the error (the loop backs off and calls again, which reconnects) and the poll
    interval still bounds how late a mail can be.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._channel: str | None = None
        self._woken = asyncio.Event()

    async def start(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            return
        conn = await self._pool.acquire()
        try:
            self._channel = await conn.fetchval(f"SELECT {QUEUED_CHANNEL_SQL}")
            await conn.add_listener(self._channel, self._on_notify)
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn = conn
        # Anything queued before we listened is found by the delivery pass that follows.
        self._woken.set()

    async def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            if self._channel is not None and not conn.is_closed():
                await conn.remove_listener(self._channel, self._on_notify)
        await self._pool.release(conn)

    async def __call__(self, timeout: float) -> None:
        if self._conn is None or self._conn.is_closed():
            await self.stop()
            await self.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout)
        self._woken.clear()

    def _on_notify(self, *_: object) -> None:
        self._woken.set()
