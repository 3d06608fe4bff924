"""Rows <-> the domain's read-model records (subscriptions and invoices)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import asyncpg

from portal_gateway.domain.invoices import InvoiceRecord, InvoiceStatus
from portal_gateway.domain.subscriptions import (
    CardOnFile,
    Discount,
    PlanTerms,
    SubscriptionRecord,
    SubscriptionStatus,
)

SUBSCRIPTION_COLUMNS = (
    "subscription_id",
    "merchant_id",
    "customer_id",
    "status",
    "plan_id",
    "plan_name",
    "plan_description",
    "plan_image_url",
    "amount",
    "currency",
    "interval",
    "scheduled_plan",
    "scheduled_plan_at",
    "payment_method",
    "current_period_start",
    "current_period_end",
    "next_renewal_at",
    "next_renewal_amount",
    "cancel_at",
    "canceled_at",
    "cancellation_reason",
    "cancellation_comment",
    "activation_failure_code",
    "activation_failure_message",
    "latest_invoice_id",
    "amount_due",
    "discount",
    "created_at",
    "updated_at",
    "version",
)

INVOICE_COLUMNS = (
    "invoice_id",
    "merchant_id",
    "customer_id",
    "subscription_id",
    "number",
    "reason",
    "status",
    "amount_due",
    "amount_paid",
    "currency",
    "plan_name",
    "issued_at",
    "period_start",
    "period_end",
    "paid_at",
    "failed_attempts",
    "last_decline_code",
    "last_decline_message",
    "version",
)


def _plan_json(plan: PlanTerms | None) -> dict[str, Any] | None:
    return asdict(plan) if plan is not None else None


def card_from_json(value: dict[str, Any] | None) -> CardOnFile | None:
    return CardOnFile(**value) if value else None


def subscription_values(record: SubscriptionRecord) -> list[Any]:
    plan = record.plan
    return [
        record.subscription_id,
        record.merchant_id,
        record.customer_id,
        record.status.value,
        plan.plan_id,
        plan.name,
        plan.description,
        plan.image_url,
        plan.amount,
        plan.currency,
        plan.interval,
        _plan_json(record.scheduled_plan),
        record.scheduled_plan_at,
        asdict(record.payment_method) if record.payment_method is not None else None,
        record.current_period_start,
        record.current_period_end,
        record.next_renewal_at,
        record.next_renewal_amount,
        record.cancel_at,
        record.canceled_at,
        record.cancellation_reason,
        record.cancellation_comment,
        record.activation_failure_code,
        record.activation_failure_message,
        record.latest_invoice_id,
        record.amount_due,
        asdict(record.discount) if record.discount is not None else None,
        record.created_at,
        record.updated_at,
        record.version,
    ]


def subscription_from_row(row: Mapping[str, Any]) -> SubscriptionRecord:
    """From a row, or from the same columns as a mapping (the overview's JSON)."""
    scheduled = row["scheduled_plan"]
    discount = row["discount"]
    return SubscriptionRecord(
        subscription_id=row["subscription_id"],
        merchant_id=row["merchant_id"],
        customer_id=row["customer_id"],
        status=SubscriptionStatus(row["status"]),
        plan=PlanTerms(
            plan_id=row["plan_id"],
            name=row["plan_name"],
            description=row["plan_description"],
            image_url=row["plan_image_url"],
            amount=row["amount"],
            currency=row["currency"],
            interval=row["interval"],
        ),
        payment_method=card_from_json(row["payment_method"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        current_period_start=row["current_period_start"],
        current_period_end=row["current_period_end"],
        cancel_at=row["cancel_at"],
        canceled_at=row["canceled_at"],
        cancellation_reason=row["cancellation_reason"],
        cancellation_comment=row["cancellation_comment"],
        scheduled_plan=PlanTerms(**scheduled) if scheduled else None,
        scheduled_plan_at=row["scheduled_plan_at"],
        activation_failure_code=row["activation_failure_code"],
        activation_failure_message=row["activation_failure_message"],
        latest_invoice_id=row["latest_invoice_id"],
        amount_due=row["amount_due"],
        discount=Discount(**discount) if discount else None,
    )


def invoice_values(record: InvoiceRecord) -> list[Any]:
    return [
        record.invoice_id,
        record.merchant_id,
        record.customer_id,
        record.subscription_id,
        record.number,
        record.reason,
        record.status.value,
        record.amount_due,
        record.amount_paid,
        record.currency,
        record.plan_name,
        record.issued_at,
        record.period_start,
        record.period_end,
        record.paid_at,
        record.failed_attempts,
        record.last_decline_code,
        record.last_decline_message,
        record.version,
    ]


def invoice_from_row(row: asyncpg.Record) -> InvoiceRecord:
    values = {name: row[name] for name in INVOICE_COLUMNS}
    values["status"] = InvoiceStatus(values["status"])
    return InvoiceRecord(**values)


def insert_new_sql(table: str, columns: tuple[str, ...], key: str) -> str:
    """INSERT a row unless one with the same key exists (a creation never overwrites)."""
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({key}) DO NOTHING"
    )


def upsert_sql(table: str, columns: tuple[str, ...], key: str) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE every column, but only moving forward."""
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates} "
        f"WHERE {table}.version < excluded.version"
    )
