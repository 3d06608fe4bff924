"""Queries over the gateway's tables: the portal's ``PortalQueries`` and the merchant API's.

Every query that takes a merchant id filters by it: an id belonging to another merchant reads
exactly like an id that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import orjson

from portal_gateway.adapters.postgres.records import SUBSCRIPTION_COLUMNS, subscription_from_row
from portal_gateway.application.ports import (
    CardView,
    CommandOutcome,
    CustomerView,
    InvoiceView,
    Merchant,
    PortalOverview,
    SubscriptionView,
)
from portal_gateway.application.views import (
    HistoryEntry,
    InvoiceDetail,
    PlanView,
    SubscriptionDetail,
    TestClockView,
)
from portal_gateway.caching import LruCache
from portal_gateway.domain.subscriptions import CardOnFile, SubscriptionRecord


def merchant_from_row(row: Mapping[str, Any]) -> Merchant:
    return Merchant(
        merchant_id=row["merchant_id"],
        slug=row["slug"],
        name=row["name"],
        logo_url=row["logo_url"],
        brand_color=row["brand_color"],
        support_email=row["support_email"],
        cancel_mode=row["cancel_mode"],
    )


def _card_view(card: CardOnFile | None) -> CardView | None:
    if card is None:
        return None
    return CardView(
        payment_method_id=card.payment_method_id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
    )


def subscription_view(record: SubscriptionRecord) -> SubscriptionView:
    plan = record.plan
    return SubscriptionView(
        subscription_id=record.subscription_id,
        customer_id=record.customer_id,
        status=record.status.value,
        plan_id=plan.plan_id,
        plan_name=plan.name,
        plan_description=plan.description,
        plan_image_url=plan.image_url,
        amount=plan.amount,
        currency=plan.currency,
        interval=plan.interval,
        current_period_start=record.current_period_start,
        current_period_end=record.current_period_end,
        next_renewal_at=record.next_renewal_at,
        next_renewal_amount=record.next_renewal_amount,
        cancel_at=record.cancel_at,
        canceled_at=record.canceled_at,
        cancellation_reason=record.cancellation_reason,
        payment_method=_card_view(record.payment_method),
        version=record.version,
    )


def _customer_view(row: Mapping[str, Any]) -> CustomerView:
    return CustomerView(
        customer_id=row["customer_id"],
        merchant_id=row["merchant_id"],
        email=row["email"],
        name=row["name"],
        phone=row["phone"],
        locale=row["locale"],
    )


def _invoice_view(row: Mapping[str, Any]) -> InvoiceView:
    return InvoiceView(
        invoice_id=row["invoice_id"],
        number=row["number"],
        issued_at=row["issued_at"],
        amount=row["amount_due"],
        currency=row["currency"],
        status=row["status"],
        plan_name=row["plan_name"],
        subscription_id=row["subscription_id"],
    )


def _invoice_detail(row: asyncpg.Record) -> InvoiceDetail:
    return InvoiceDetail(
        invoice_id=row["invoice_id"],
        merchant_id=row["merchant_id"],
        customer_id=row["customer_id"],
        subscription_id=row["subscription_id"],
        number=row["number"],
        reason=row["reason"],
        status=row["status"],
        amount_due=row["amount_due"],
        amount_paid=row["amount_paid"],
        currency=row["currency"],
        plan_name=row["plan_name"],
        issued_at=row["issued_at"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        paid_at=row["paid_at"],
        failed_attempts=row["failed_attempts"],
        last_decline_code=row["last_decline_code"],
        last_decline_message=row["last_decline_message"],
    )


def _card_row(row: Mapping[str, Any]) -> CardView:
    return CardView(
        payment_method_id=row["payment_method_id"],
        brand=row["brand"],
        last4=row["last4"],
        exp_month=row["exp_month"],
        exp_year=row["exp_year"],
    )


def _json_row(columns: tuple[str, ...]) -> str:
    # An array rather than an object: the names are not repeated in every row, which halves
    # the text and PostgreSQL's work; ``_fields`` names the values again.
    return f"json_build_array({', '.join(columns)})"


def _fields(columns: tuple[str, ...], values: list[Any]) -> dict[str, Any]:
    return dict(zip(columns, values, strict=True))


_MERCHANT_FIELDS: Final = (
    "merchant_id",
    "slug",
    "name",
    "logo_url",
    "brand_color",
    "support_email",
    "cancel_mode",
)
_CUSTOMER_FIELDS: Final = ("customer_id", "merchant_id", "email", "name", "phone", "locale")
_INVOICE_FIELDS: Final = (
    "invoice_id",
    "number",
    "issued_at",
    "amount_due",
    "currency",
    "status",
    "plan_name",
    "subscription_id",
)
_CARD_FIELDS: Final = ("payment_method_id", "brand", "last4", "exp_month", "exp_year")
_SUBSCRIPTION_TIMES: Final = (
    "scheduled_plan_at",
    "current_period_start",
    "current_period_end",
    "next_renewal_at",
    "cancel_at",
    "canceled_at",
    "created_at",
    "updated_at",
)


def overview_json_sql(merchant: str, customer: str) -> str:
    """Everything the portal's overview shows, as one SQL expression of one JSON text:
    [merchant, customer, [subscription...], [invoice...], [card...], test clock]. The text is
    also the overview's revision: the same text, the same overview.

    ``merchant`` and ``customer`` are SQL expressions: parameters, or the columns of an
    enclosing statement's row (so another read can carry the overview in its round trip).
    """
    return f"""json_build_array(
    (SELECT {_json_row(_MERCHANT_FIELDS)} FROM merchants WHERE merchant_id = {merchant}),
    (SELECT {_json_row(_CUSTOMER_FIELDS)} FROM customers
      WHERE merchant_id = {merchant} AND customer_id = {customer}),
    (SELECT coalesce(json_agg({_json_row(SUBSCRIPTION_COLUMNS)}
                              ORDER BY created_at DESC, subscription_id), '[]')
       FROM subscriptions WHERE merchant_id = {merchant} AND customer_id = {customer}),
    (SELECT coalesce(json_agg({_json_row(_INVOICE_FIELDS)}
                              ORDER BY issued_at DESC, number DESC), '[]')
       FROM invoices WHERE merchant_id = {merchant} AND customer_id = {customer}),
    (SELECT coalesce(json_agg({_json_row(_CARD_FIELDS)}
                              ORDER BY attached_at DESC, payment_method_id), '[]')
       FROM payment_methods WHERE merchant_id = {merchant} AND customer_id = {customer}),
    (SELECT frozen_time FROM test_clocks WHERE merchant_id = {merchant})
)::text"""


# The portal's overview in one statement and one round trip.
OVERVIEW_SQL: Final = f"SELECT {overview_json_sql('$1', '$2')}"

# Parsed overviews by their text; a portal page view of unchanged data parses nothing.
OVERVIEW_MEMO_ENTRIES: Final = 256
OVERVIEW_MEMO_CHARS: Final = 16 * 1024 * 1024


def _time(value: str | None) -> datetime | None:
    """A timestamptz as PostgreSQL writes it in JSON, in UTC as asyncpg would return it."""
    return datetime.fromisoformat(value).astimezone(UTC) if value is not None else None


def _subscription_from_json(values: list[Any]) -> SubscriptionView:
    row = _fields(SUBSCRIPTION_COLUMNS, values)
    for name in _SUBSCRIPTION_TIMES:
        row[name] = _time(row[name])
    return subscription_view(subscription_from_row(row))


def _invoice_from_json(values: list[Any]) -> InvoiceView:
    row = _fields(_INVOICE_FIELDS, values)
    row["issued_at"] = _time(row["issued_at"])
    return _invoice_view(row)


def overview_from_json(text: str) -> PortalOverview | None:
    """The overview an ``overview_json_sql`` expression read; None if the merchant or the
    customer is unknown."""
    merchant, customer, subscriptions, invoices, cards, test_clock = orjson.loads(text)
    if merchant is None or customer is None:
        return None
    return PortalOverview(
        merchant=merchant_from_row(_fields(_MERCHANT_FIELDS, merchant)),
        customer=_customer_view(_fields(_CUSTOMER_FIELDS, customer)),
        subscriptions=[_subscription_from_json(s) for s in subscriptions],
        invoices=[_invoice_from_json(i) for i in invoices],
        payment_methods=[_card_row(_fields(_CARD_FIELDS, c)) for c in cards],
        test_clock=_time(test_clock),
        revision=text,
    )


class PostgresReadModel:
    """Implements :class:`portal_gateway.application.ports.PortalQueries` and the reads of
    :class:`portal_gateway.application.merchant_api.ReadModel`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._overviews: LruCache[str, PortalOverview] = LruCache(
            OVERVIEW_MEMO_ENTRIES,
            max_weight=OVERVIEW_MEMO_CHARS,
            weigh=lambda text, _: len(text),
        )

    # --- the portal ---------------------------------------------------------------------

    async def overview(self, merchant_id: str, customer_id: str) -> PortalOverview | None:
        """Always read: the memo is keyed by the data read, so it never answers stale."""
        text: str = await self._pool.fetchval(OVERVIEW_SQL, merchant_id, customer_id)
        return self.parse_overview(text)

    def parse_overview(self, text: str) -> PortalOverview | None:
        """``overview_from_json`` through the memo: each text is parsed once."""
        overview = self._overviews.get(text)
        if overview is None:
            overview = overview_from_json(text)
            if overview is None:
                return None
            self._overviews.put(text, overview)
        return overview

    async def subscription(
        self, merchant_id: str, customer_id: str, subscription_id: str
    ) -> SubscriptionView | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM subscriptions "
            "WHERE merchant_id = $1 AND customer_id = $2 AND subscription_id = $3",
            merchant_id,
            customer_id,
            subscription_id,
        )
        return subscription_view(subscription_from_row(row)) if row is not None else None

    # --- the merchant API ---------------------------------------------------------------

    async def merchant(self, merchant_id: str) -> Merchant | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM merchants WHERE merchant_id = $1", merchant_id
        )
        return merchant_from_row(row) if row is not None else None

    async def plan(self, merchant_id: str, plan_id: str) -> PlanView | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM plans WHERE merchant_id = $1 AND plan_id = $2", merchant_id, plan_id
        )
        if row is None:
            return None
        return PlanView(
            plan_id=row["plan_id"],
            merchant_id=row["merchant_id"],
            name=row["name"],
            description=row["description"],
            image_url=row["image_url"],
            amount=row["amount"],
            currency=row["currency"],
            interval=row["interval"],
            created_at=row["created_at"],
        )

    async def customer(self, merchant_id: str, customer_id: str) -> CustomerView | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM customers WHERE merchant_id = $1 AND customer_id = $2",
            merchant_id,
            customer_id,
        )
        return _customer_view(row) if row is not None else None

    async def payment_method(
        self, merchant_id: str, customer_id: str, payment_method_id: str
    ) -> CardView | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM payment_methods "
            "WHERE merchant_id = $1 AND customer_id = $2 AND payment_method_id = $3",
            merchant_id,
            customer_id,
            payment_method_id,
        )
        return _card_row(row) if row is not None else None

    async def subscription_detail(
        self, merchant_id: str, subscription_id: str
    ) -> SubscriptionDetail | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM subscriptions WHERE merchant_id = $1 AND subscription_id = $2",
            merchant_id,
            subscription_id,
        )
        return _subscription_detail(row) if row is not None else None

    async def subscription_exists(self, merchant_id: str, subscription_id: str) -> bool:
        found: bool = await self._pool.fetchval(
            "SELECT EXISTS (SELECT FROM subscriptions "
            "WHERE merchant_id = $1 AND subscription_id = $2)",
            merchant_id,
            subscription_id,
        )
        return found

    async def invoice(self, merchant_id: str, invoice_id: str) -> InvoiceDetail | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM invoices WHERE merchant_id = $1 AND invoice_id = $2",
            merchant_id,
            invoice_id,
        )
        return _invoice_detail(row) if row is not None else None

    async def invoices(
        self,
        merchant_id: str,
        *,
        subscription_id: str | None = None,
        customer_id: str | None = None,
        limit: int = 100,
    ) -> list[InvoiceDetail]:
        """The merchant's invoices, newest first, optionally of one subscription or customer."""
        rows = await self._pool.fetch(
            "SELECT * FROM invoices WHERE merchant_id = $1 "
            "AND ($2::text IS NULL OR subscription_id = $2) "
            "AND ($3::text IS NULL OR customer_id = $3) "
            "ORDER BY issued_at DESC, number DESC LIMIT $4",
            merchant_id,
            subscription_id,
            customer_id,
            limit,
        )
        return [_invoice_detail(r) for r in rows]

    async def test_clock(self, merchant_id: str) -> TestClockView | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM test_clocks WHERE merchant_id = $1", merchant_id
        )
        if row is None:
            return None
        return TestClockView(
            merchant_id=row["merchant_id"],
            frozen_time=row["frozen_time"],
            advanced_at=row["advanced_at"],
            version=row["version"],
        )

    async def history(self, stream_id: str, merchant_id: str | None = None) -> list[HistoryEntry]:
        """A stream's events in order; ``merchant_id`` None is the operator's unscoped view."""
        rows = await self._pool.fetch(
            "SELECT * FROM stream_events "
            "WHERE stream_id = $1 AND ($2::text IS NULL OR merchant_id = $2) "
            "ORDER BY stream_version",
            stream_id,
            merchant_id,
        )
        return [
            HistoryEntry(
                stream_id=r["stream_id"],
                version=r["stream_version"],
                event_id=r["event_id"],
                event_type=r["event_type"],
                schema_version=r["schema_version"],
                occurred_at=r["occurred_at"],
                merchant_id=r["merchant_id"],
                correlation_id=r["correlation_id"],
                causation_id=r["causation_id"],
                data=r["data"],
            )
            for r in rows
        ]

    async def command_outcome(self, command_id: uuid.UUID) -> CommandOutcome | None:
        row = await self._pool.fetchrow(
            f"SELECT {_OUTCOME_SELECT} FROM command_outcomes o WHERE o.command_id = $1",
            command_id,
        )
        return _command_outcome(command_id, row) if row is not None else None

    async def command_outcome_and_subscription(
        self, command_id: uuid.UUID, merchant_id: str, subscription_id: str
    ) -> tuple[CommandOutcome, SubscriptionDetail | None] | None:
        """The command's outcome and the subscription as it is now, in one statement; None
        while the outcome is not recorded. The projection writes an outcome and the rows its
        events change in one transaction, so the subscription read reflects the command."""
        row = await self._pool.fetchrow(
            f"SELECT {_OUTCOME_SELECT}, s.* FROM command_outcomes o "
            "LEFT JOIN subscriptions s ON s.merchant_id = $2 AND s.subscription_id = $3 "
            "WHERE o.command_id = $1",
            command_id,
            merchant_id,
            subscription_id,
        )
        if row is None:
            return None
        detail = _subscription_detail(row) if row["subscription_id"] is not None else None
        return _command_outcome(command_id, row), detail


# Prefixed: joined with another table's columns, the names must not collide.
_OUTCOME_SELECT: Final = (
    "o.accepted AS outcome_accepted, o.code AS outcome_code, "
    "o.message AS outcome_message, o.event_types AS outcome_event_types"
)


def _command_outcome(command_id: uuid.UUID, row: Mapping[str, Any]) -> CommandOutcome:
    return CommandOutcome(
        command_id=command_id,
        accepted=row["outcome_accepted"],
        code=row["outcome_code"],
        message=row["outcome_message"],
        event_types=tuple(row["outcome_event_types"]),
    )


def _subscription_detail(row: Mapping[str, Any]) -> SubscriptionDetail:
    record = subscription_from_row(row)
    return SubscriptionDetail(
        view=subscription_view(record),
        merchant_id=record.merchant_id,
        created_at=record.created_at,
        cancellation_comment=record.cancellation_comment,
        activation_failure_code=record.activation_failure_code,
        activation_failure_message=record.activation_failure_message,
        latest_invoice_id=record.latest_invoice_id,
    )
