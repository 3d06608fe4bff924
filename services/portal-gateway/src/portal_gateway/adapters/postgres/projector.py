"""The projection handler: one consumed event -> the gateway's read-model tables.

Runs inside the idempotent consumer's transaction (the inbox row commits with these writes),
and each write is also idempotent on its own, so replaying a topic after a rebuild, or an old
consumer committing while a rebuild runs, leaves the same rows:

* creation events insert, and a row already there is left alone;
* every other event updates an existing row only if it is newer than the row's version
  (a stream's events arrive in order: they share the stream id as Kafka key);
* the history is keyed by (stream, version); command outcomes by command id.

``pg_notify`` names who may be waiting for this event (its command, its stream, its
correlation); PostgreSQL delivers it when the transaction commits, which is exactly when a
waiter can see the new state.

An event costs one statement, plus the reads its record needs (the row to update, read for
update): the history insert, the outcome upsert and the record's last write are data-modifying
CTEs of the statement that notifies. They write different tables, so running them in one
snapshot changes nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import orjson
import structlog

from billing_events.contract import events as ev
from billing_events.contract.common import CardSummary
from billing_events.envelope import Envelope
from portal_gateway.adapters.postgres import records
from portal_gateway.domain import invoices, subscriptions
from portal_gateway.domain.outcomes import outcome_of, wake_keys

log = structlog.stdlib.get_logger(__name__)

NOTIFY_CHANNEL_PREFIX = "gw_projection_"


def channel_sql() -> str:
    """The notification channel of the connection's schema, computed in SQL.

    Channels are per database, and every test (and every deployment sharing a database) has
    its own schema: naming the channel after the schema keeps their wake-ups apart.
    """
    return f"'{NOTIFY_CHANNEL_PREFIX}' || current_schema()"


def channel_for(schema: str) -> str:
    return f"{NOTIFY_CHANNEL_PREFIX}{schema}"


@dataclass(frozen=True)
class RecordWrite:
    """A record writer's last statement, left to :func:`project` to send with the history,
    the outcome and the notification."""

    sql: str
    args: tuple[object, ...]

    @classmethod
    def of(cls, sql: str, *args: object) -> RecordWrite:
        return cls(sql, args)

    async def run(self, conn: asyncpg.Connection) -> None:
        await conn.execute(self.sql, *self.args)


ProjectFn = Callable[[asyncpg.Connection, Envelope], Awaitable[RecordWrite | None]]
"""A record writer: reads what it needs, and returns its last write (None: nothing to write)."""


async def project(envelope: Envelope, conn: asyncpg.Connection) -> None:
    """The consumer handler (``billing_events.consumer.Handler``)."""
    history = _history_args(envelope)
    outcome = _outcome_args(envelope)
    writer = _WRITERS.get(type(envelope.data))
    record = await writer(conn, envelope) if writer is not None else None
    await conn.execute(
        _history_outcome_notify_sql(
            history=history is not None,
            outcome=outcome is not None,
            record=record.sql if record is not None else None,
        ),
        orjson.dumps(wake_keys(envelope)).decode(),
        *(history or ()),
        *(outcome or ()),
        *(record.args if record is not None else ()),
    )


# --- history, outcome, the record's last write and the notification: one statement --------

_HISTORY_INSERT = """
    INSERT INTO stream_events (stream_id, stream_version, event_id, merchant_id, event_type,
        schema_version, occurred_at, correlation_id, causation_id, data)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT DO NOTHING
"""

# A command that caused events stays accepted even if a stray rejection follows (a
# redelivered command decided again); event types accumulate without duplicates.
_OUTCOME_UPSERT = """
    INSERT INTO command_outcomes (command_id, merchant_id, stream_id, accepted, code, message,
        event_types)
    VALUES ($1, $2, $3, $4, $5, $6, ARRAY[$7::text])
    ON CONFLICT (command_id) DO UPDATE SET
        accepted = command_outcomes.accepted OR excluded.accepted,
        code = CASE WHEN command_outcomes.accepted OR excluded.accepted THEN NULL
                    ELSE excluded.code END,
        message = CASE WHEN command_outcomes.accepted OR excluded.accepted THEN NULL
                       ELSE excluded.message END,
        event_types = CASE WHEN $7 = ANY (command_outcomes.event_types)
                           THEN command_outcomes.event_types
                           ELSE command_outcomes.event_types || $7::text END
"""

_PARAMETER = re.compile(r"\$(\d+)")


def _parameter_count(sql: str) -> int:
    return max(int(number) for number in _PARAMETER.findall(sql))


def _shifted(sql: str, by: int) -> str:
    """``sql`` with its parameters renumbered from ``$1 + by``."""
    return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + by}", sql)


@functools.cache  # a few dozen combinations: history or not, outcome or not, each writer's
def _history_outcome_notify_sql(*, history: bool, outcome: bool, record: str | None) -> str:
    """One statement: the history insert, the outcome upsert and the record's write (each if
    wanted) as data-modifying CTEs, which run to completion even though nothing reads them,
    and the notification. Parameters: $1 the wake-up keys, then the history's, the outcome's
    and the record's."""
    ctes = []
    shift = 1
    if history:
        ctes.append(f"history AS ({_shifted(_HISTORY_INSERT, shift)})")
        shift += _parameter_count(_HISTORY_INSERT)
    if outcome:
        ctes.append(f"outcome AS ({_shifted(_OUTCOME_UPSERT, shift)})")
        shift += _parameter_count(_OUTCOME_UPSERT)
    if record is not None:
        ctes.append(f"record AS ({_shifted(record, shift)})")
    with_clause = f"WITH {', '.join(ctes)}\n" if ctes else ""
    return f"{with_clause}SELECT pg_notify({channel_sql()}, $1)"


def _history_args(envelope: Envelope) -> tuple[object, ...] | None:
    if envelope.stream_version < 1 or isinstance(envelope.data, ev.CommandRejected):
        return None  # not part of the stream: a rejection is published without being stored
    return (
        envelope.stream_id,
        envelope.stream_version,
        envelope.event_id,
        envelope.merchant_id,
        envelope.event_type,
        envelope.schema_version,
        envelope.occurred_at,
        envelope.correlation_id,
        envelope.causation_id,
        envelope.data.model_dump(mode="json"),
    )


def _outcome_args(envelope: Envelope) -> tuple[object, ...] | None:
    outcome = outcome_of(envelope)
    if outcome is None:
        return None
    return (
        outcome.command_id,
        envelope.merchant_id,
        envelope.stream_id,
        outcome.accepted,
        outcome.code,
        outcome.message,
        outcome.event_type,
    )


# --- plans and customers ----------------------------------------------------------------


async def _plan_created(conn: asyncpg.Connection, envelope: Envelope) -> RecordWrite | None:
    data = envelope.data
    assert isinstance(data, ev.PlanCreated)
    return RecordWrite.of(
        """
        INSERT INTO plans (plan_id, merchant_id, name, description, image_url, amount, currency,
            interval, created_at, version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (plan_id) DO NOTHING
        """,
        data.plan_id,
        envelope.merchant_id,
        data.name,
        data.description,
        data.image_url,
        data.amount,
        data.currency,
        data.interval,
        envelope.occurred_at,
        envelope.stream_version,
    )


async def _customer_registered(conn: asyncpg.Connection, envelope: Envelope) -> RecordWrite | None:
    data = envelope.data
    assert isinstance(data, ev.CustomerRegistered)
    return RecordWrite.of(
        """
        INSERT INTO customers (customer_id, merchant_id, email, name, phone, locale, created_at,
            updated_at, version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
        ON CONFLICT (customer_id) DO NOTHING
        """,
        data.customer_id,
        envelope.merchant_id,
        data.email,
        data.name,
        data.phone,
        data.locale,
        envelope.occurred_at,
        envelope.stream_version,
    )


async def _advance_customer(conn: asyncpg.Connection, envelope: Envelope, customer_id: str) -> bool:
    """Move the customer row to this event's version; False if the event is old or orphaned."""
    updated = await conn.fetchval(
        "UPDATE customers SET version = $2, updated_at = $3 "
        "WHERE customer_id = $1 AND version < $2 RETURNING true",
        customer_id,
        envelope.stream_version,
        envelope.occurred_at,
    )
    if updated is None:
        log.debug("customer event skipped: already applied or customer unknown")
    return updated is True


async def _customer_profile_updated(
    conn: asyncpg.Connection, envelope: Envelope
) -> RecordWrite | None:
    data = envelope.data
    assert isinstance(data, ev.CustomerProfileUpdated)
    if not await _advance_customer(conn, envelope, data.customer_id):
        return None
    address = data.billing_address.model_dump(mode="json") if data.billing_address else None
    return RecordWrite.of(
        """
        UPDATE customers SET
            email = coalesce($2, email),
            name = coalesce($3, name),
            phone = coalesce($4, phone),
            locale = coalesce($5, locale),
            billing_address = coalesce($6, billing_address),
            tax_id = coalesce($7, tax_id)
        WHERE customer_id = $1
        """,
        data.customer_id,
        data.email,
        data.name,
        data.phone,
        data.locale,
        address,
        data.tax_id,
    )


async def _payment_method_attached(
    conn: asyncpg.Connection, envelope: Envelope
) -> RecordWrite | None:
    data = envelope.data
    assert isinstance(data, ev.PaymentMethodAttached)
    if not await _advance_customer(conn, envelope, data.customer_id):
        return None
    return _remember_card(envelope, data.customer_id, data.card)


def _remember_card(envelope: Envelope, customer_id: str, card: CardSummary) -> RecordWrite:
    return RecordWrite.of(
        """
        INSERT INTO payment_methods (payment_method_id, customer_id, merchant_id, brand, last4,
            exp_month, exp_year, attached_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT DO NOTHING
        """,
        card.payment_method_id,
        customer_id,
        envelope.merchant_id,
        card.brand,
        card.last4,
        card.exp_month,
        card.exp_year,
        envelope.occurred_at,
    )


# --- subscriptions ----------------------------------------------------------------------

_INSERT_SUBSCRIPTION = records.insert_new_sql(
    "subscriptions", records.SUBSCRIPTION_COLUMNS, "subscription_id"
)
_UPSERT_SUBSCRIPTION = records.upsert_sql(
    "subscriptions", records.SUBSCRIPTION_COLUMNS, "subscription_id"
)


async def _subscription_created(conn: asyncpg.Connection, envelope: Envelope) -> RecordWrite | None:
    data = envelope.data
    assert isinstance(data, ev.SubscriptionCreated)
    record = subscriptions.start(
        data,
        merchant_id=envelope.merchant_id,
        version=envelope.stream_version,
        at=envelope.occurred_at,
    )
    return RecordWrite.of(_INSERT_SUBSCRIPTION, *records.subscription_values(record))


async def _subscription_changed(conn: asyncpg.Connection, envelope: Envelope) -> RecordWrite | None:
    subscription_id = getattr(envelope.data, "subscription_id", None)
    if not isinstance(subscription_id, str):
        return None
    row = await conn.fetchrow(
        "SELECT * FROM subscriptions WHERE subscription_id = $1 FOR UPDATE", subscription_id
    )
    if row is None or row["version"] >= envelope.stream_version:
        log.debug("subscription event skipped: already applied or subscription unknown")
        return None
    record = subscriptions.apply(
        records.subscription_from_row(row),
        envelope.data,
        version=envelope.stream_version,
        at=envelope.occurred_at,
    )
    if isinstance(envelope.data, ev.PaymentMethodUpdated):
        # A card chosen for a subscription is one of the customer's cards too.
        card = envelope.data.payment_method
        await _remember_card(envelope, envelope.data.customer_id, card).run(conn)
    return RecordWrite.of(_UPSERT_SUBSCRIPTION, *records.subscription_values(record))


# --- invoices ---------------------------------------------------------------------------

_INSERT_INVOICE = records.insert_new_sql("invoices", records.INVOICE_COLUMNS, "invoice_id")
_UPSERT_INVOICE = records.upsert_sql("invoices", records.INVOICE_COLUMNS, "invoice_id")


async def _invoice_issued(conn: asyncpg.Connection, envelope: Envelope) -> RecordWrite | None:
    data = envelope.data
    assert isinstance(data, ev.InvoiceIssued)
    record = invoices.start(data, merchant_id=envelope.merchant_id, version=envelope.stream_version)
    return RecordWrite.of(_INSERT_INVOICE, *records.invoice_values(record))


async def _invoice_changed(conn: asyncpg.Connection, envelope: Envelope) -> RecordWrite | None:
    invoice_id = getattr(envelope.data, "invoice_id", None)
    if not isinstance(invoice_id, str):
        return None
    row = await conn.fetchrow("SELECT * FROM invoices WHERE invoice_id = $1 FOR UPDATE", invoice_id)
    if row is None or row["version"] >= envelope.stream_version:
        log.debug("invoice event skipped: already applied or invoice unknown")
        return None
    record = invoices.apply(
        records.invoice_from_row(row), envelope.data, version=envelope.stream_version
    )
    return RecordWrite.of(_UPSERT_INVOICE, *records.invoice_values(record))


# --- test clocks ------------------------------------------------------------------------


async def _test_clock_advanced(conn: asyncpg.Connection, envelope: Envelope) -> RecordWrite | None:
    data = envelope.data
    assert isinstance(data, ev.TestClockAdvanced)
    # The stream is clock-<merchant>; its merchant is the envelope's, whatever the data says.
    return RecordWrite.of(
        """
        INSERT INTO test_clocks (merchant_id, frozen_time, advanced_at, version)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (merchant_id) DO UPDATE SET
            frozen_time = excluded.frozen_time,
            advanced_at = excluded.advanced_at,
            version = excluded.version
        WHERE test_clocks.version < excluded.version
        """,
        envelope.merchant_id,
        data.frozen_time,
        envelope.occurred_at,
        envelope.stream_version,
    )


_WRITERS: dict[type, ProjectFn] = {
    ev.PlanCreated: _plan_created,
    ev.CustomerRegistered: _customer_registered,
    ev.CustomerProfileUpdated: _customer_profile_updated,
    ev.PaymentMethodAttached: _payment_method_attached,
    ev.SubscriptionCreated: _subscription_created,
    **{
        event_type: _subscription_changed
        for event_type in (
            ev.SubscriptionActivated,
            ev.SubscriptionActivationFailed,
            ev.SubscriptionRenewed,
            ev.SubscriptionReactivated,
            ev.SubscriptionPutOnHold,
            ev.PlanChanged,
            ev.PaymentMethodUpdated,
            ev.CancellationScheduled,
            ev.CancellationRevoked,
            ev.SubscriptionCanceled,
            ev.RetentionOfferAccepted,
        )
    },
    ev.InvoiceIssued: _invoice_issued,
    ev.TestClockAdvanced: _test_clock_advanced,
    **{
        event_type: _invoice_changed
        for event_type in (
            ev.ChargeFailed,
            ev.ChargeSucceeded,
            ev.InvoicePaid,
            ev.InvoiceMarkedUncollectible,
        )
    },
}
